/* mapping_guard.c - see mapping_guard.h. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "mapping_guard.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUARD_SLOTS 4

/* Why no reader ever sees a torn record.
 *
 * A guarded mapping is a GuardRecord, written in full by mapping_guard_add
 * before it is published (one compare-and-swap of a slot's pointer from NULL)
 * and never written again; mapping_guard_remove unpublishes it (a swap back to
 * NULL) before freeing it. A reader (the SIGBUS handler, in any thread, at any
 * moment) loads a slot's pointer once and so sees either NULL or a whole
 * record: there is no moment at which a slot holds half of one mapping and
 * half of another, which a slot rewritten in place had.
 *
 * What remains is the free: a reader may have loaded the pointer just before
 * the swap. Every reader therefore counts itself in `readers` before it loads
 * any slot and out after its last use of the record, and the remover frees
 * only once it has seen the count at zero after its swap. All of these are
 * sequentially consistent, so if a reader's load saw the old pointer, its
 * increment came before the swap and the remover's later read of the count
 * sees it. The remover waits with sched_yield, never inside the handler: the
 * handler only increments, loads, reads and decrements, never waits, so it
 * cannot deadlock against a remover it interrupted in its own thread.
 *
 * The handler touches only lock-free atomics (checked below) and memory
 * published through them, plus write, _exit, sigaction and raise, all
 * async-signal-safe. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "the SIGBUS handler needs lock-free atomic pointers");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the SIGBUS handler needs lock-free atomic int");

typedef struct {
    uintptr_t begin;
    size_t len;
    size_t msg_len;
    char msg[]; /* the line the handler prints, prepared at registration */
} GuardRecord;

/* The one piece of global mutable state here, unavoidable since a signal
 * handler takes no arguments: the published records, the count of lookups in
 * progress, and the SIGBUS action that was in place before ours (chained to
 * for faults outside the guarded mappings). */
static struct {
    _Atomic(GuardRecord *) slots[GUARD_SLOTS];
    atomic_int readers;
    atomic_int installed;
    struct sigaction prev;
} guard;

/* The record whose range holds a. The caller is counted in guard.readers
 * from before this call until its last use of the result. */
static const GuardRecord *find(uintptr_t a) {
    for (int i = 0; i < GUARD_SLOTS; i++) {
        const GuardRecord *r = atomic_load(&guard.slots[i]);
        if (r && a - r->begin < r->len) return r;
    }
    return NULL;
}

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Async-signal-safe: atomics, write, _exit, sigaction, raise. */
static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
    /* si_code > 0: raised by a fault, so si_addr is the address (kill(2)
     * and raise(3) give si_code <= 0 and no address). */
    if (si && si->si_code > 0) {
        atomic_fetch_add(&guard.readers, 1);
        const GuardRecord *r = find((uintptr_t)si->si_addr);
        if (r) {
            write_all(r->msg, r->msg_len);
            _exit(1); /* still counted: the record is not freed under the write */
        }
        atomic_fetch_sub(&guard.readers, 1);
    }
    const struct sigaction *p = &guard.prev;
    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction) {
            p->sa_sigaction(sig, si, ctx);
            return;
        }
    } else if (p->sa_handler == SIG_IGN) {
        if (!si || si->si_code <= 0) return; /* a sent SIGBUS stays ignored */
    } else if (p->sa_handler != SIG_DFL) {
        p->sa_handler(sig);
        return;
    }
    /* The default action (terminate, core): reinstate it and raise again. The
     * signal is blocked in here, so it arrives as the handler returns. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, NULL);
    raise(sig);
}

/* installed: 0 not yet, 1 being installed, 2 in place. A thread that finds
 * 1 waits for 2, so no mapping is registered before the handler is there. */
static void install(void) {
    int expect = 0;
    if (!atomic_compare_exchange_strong(&guard.installed, &expect, 1)) {
        while (atomic_load(&guard.installed) != 2) sched_yield();
        return;
    }
    /* Record the previous action before ours can run. */
    sigaction(SIGBUS, NULL, &guard.prev);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    atomic_store(&guard.installed, 2);
}

#define GUARD_FMT "%s: error: %s: the model file changed while it was being read (truncated?)\n"

int mapping_guard_add(const void *addr, size_t len, const char *path) {
    install();
    int n = snprintf(NULL, 0, GUARD_FMT, program_invocation_short_name, path);
    if (n < 0) return -1;
    GuardRecord *r = malloc(sizeof *r + (size_t)n + 1);
    if (!r) return -1;
    r->begin = (uintptr_t)addr;
    r->len = len;
    r->msg_len = (size_t)n;
    snprintf(r->msg, (size_t)n + 1, GUARD_FMT, program_invocation_short_name, path);
    /* written in full above; the compare-and-swap publishes it */
    for (int i = 0; i < GUARD_SLOTS; i++) {
        GuardRecord *expect = NULL;
        if (atomic_compare_exchange_strong(&guard.slots[i], &expect, r)) return 0;
    }
    free(r);
    return -1;
}

void mapping_guard_remove(const void *addr) {
    GuardRecord *gone = NULL;
    /* counted while reading the records, which another remover may free */
    atomic_fetch_add(&guard.readers, 1);
    for (int i = 0; i < GUARD_SLOTS && !gone; i++) {
        GuardRecord *r = atomic_load(&guard.slots[i]);
        if (r && r->begin == (uintptr_t)addr && atomic_compare_exchange_strong(&guard.slots[i], &r, NULL)) gone = r;
    }
    atomic_fetch_sub(&guard.readers, 1);
    if (!gone) return;
    /* Unpublished: a reader that still holds it counted itself before loading it. */
    while (atomic_load(&guard.readers) != 0) sched_yield();
    free(gone);
}

long mapping_guard_lookup(const void *addr, char *msg, size_t cap, const void **begin, size_t *len) {
    atomic_fetch_add(&guard.readers, 1);
    const GuardRecord *r = find((uintptr_t)addr);
    long n = -1;
    if (r) {
        size_t k = r->msg_len < cap ? r->msg_len : cap - 1;
        memcpy(msg, r->msg, k);
        msg[k] = 0;
        *begin = (const void *)r->begin;
        *len = r->len;
        n = (long)r->msg_len;
    }
    atomic_fetch_sub(&guard.readers, 1);
    return n;
}
