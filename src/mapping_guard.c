/* mapping_guard.c - see mapping_guard.h. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "mapping_guard.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Room for a PATH_MAX path, the program name and the fixed text. */
#define GUARD_SLOTS 4
#define GUARD_MSG_LEN (4096 + 192)

enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };

/* The handler may only read what is fully written: a slot is claimed
 * (FREE -> FILLING), filled, then published as LIVE; the handler looks at
 * LIVE slots only. Lock-free atomics are the only shared objects a signal
 * handler may read safely. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the SIGBUS handler needs lock-free atomic int");

typedef struct {
    atomic_int state;
    uintptr_t begin;
    size_t len;
    size_t msg_len;
    char msg[GUARD_MSG_LEN];
} GuardSlot;

/* The one piece of global mutable state here, unavoidable since a signal
 * handler takes no arguments: the guarded mappings, their prepared messages,
 * and the SIGBUS action that was in place before ours (chained to for faults
 * outside the guarded mappings). */
static struct {
    GuardSlot slots[GUARD_SLOTS];
    atomic_int installed;
    struct sigaction prev;
} guard;

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
        uintptr_t a = (uintptr_t)si->si_addr;
        for (int i = 0; i < GUARD_SLOTS; i++) {
            GuardSlot *s = &guard.slots[i];
            if (atomic_load(&s->state) == SLOT_LIVE && a - s->begin < s->len) {
                write_all(s->msg, s->msg_len);
                _exit(1);
            }
        }
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

int mapping_guard_add(const void *addr, size_t len, const char *path) {
    install();
    for (int i = 0; i < GUARD_SLOTS; i++) {
        GuardSlot *s = &guard.slots[i];
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_FILLING)) continue;
        s->begin = (uintptr_t)addr;
        s->len = len;
        int n = snprintf(s->msg, sizeof s->msg, "%s: error: %s: the model file changed while it was being read (truncated?)\n",
                         program_invocation_short_name, path);
        if (n < 0) n = 0;
        if ((size_t)n >= sizeof s->msg) { /* a path longer than PATH_MAX: cut, keep the newline */
            n = (int)sizeof s->msg - 1;
            s->msg[n - 1] = '\n';
        }
        s->msg_len = (size_t)n;
        atomic_store(&s->state, SLOT_LIVE);
        return 0;
    }
    return -1;
}

void mapping_guard_remove(const void *addr) {
    for (int i = 0; i < GUARD_SLOTS; i++) {
        GuardSlot *s = &guard.slots[i];
        if (atomic_load(&s->state) == SLOT_LIVE && s->begin == (uintptr_t)addr) {
            atomic_store(&s->state, SLOT_FREE);
            return;
        }
    }
}
