/* test_mapping_guard - src/mapping_guard.c: the SIGBUS handler's lookup
 * never sees a half-written or half-cleared guard record, and a real fault in
 * a guarded mapping of a truncated file ends the process with the one line.
 * usage: test_mapping_guard
 * Prints one "PASS name" or "FAIL name: why" line per check. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/mapping_guard.h"
#include "check.h"

/* Fake mappings: the guard only records address ranges, so any memory will
 * do. Paths of different lengths give records of different sizes, so that a
 * read mixing two of them shows in the message, the range or the length. */
#define FAKES 3
static char arena[FAKES][4096];
static size_t fake_len[FAKES] = {4096, 1000, 17};
static char fake_path[FAKES][700];
static char expected[FAKES][2400]; /* room the compiler can see for any fake_path */

static void make_fakes(void) {
    for (int k = 0; k < FAKES; k++) {
        int pad = 1 + k * 300;
        snprintf(fake_path[k], sizeof fake_path[k], "/fake/model-%d-%0*d.bin", k, pad, k);
        snprintf(expected[k], sizeof expected[k], "%s: error: %s: the model file changed while it was being read (truncated?)\n",
                 program_invocation_short_name, fake_path[k]);
    }
}

typedef struct {
    atomic_int stop;
    atomic_long hits; /* reads that found the fake's record */
    long misses, torn;
    char detail[256];
} Reader;

/* One lookup of an address inside fake k: absent, or exactly fake k's record. */
static void probe(Reader *r, int k, size_t off) {
    char msg[2400];
    const void *begin = NULL;
    size_t len = 0;
    long n = mapping_guard_lookup(arena[k] + off, msg, sizeof msg, &begin, &len);
    if (n < 0) {
        r->misses++;
        return;
    }
    if (begin == arena[k] && len == fake_len[k] && (size_t)n == strlen(expected[k]) && !strcmp(msg, expected[k])) {
        atomic_fetch_add(&r->hits, 1);
        return;
    }
    if (r->torn++ == 0)
        snprintf(r->detail, sizeof r->detail, "fake %d: begin %+td, len %zu (want %zu), message of %ld bytes (want %zu): %.60s", k,
                 (const char *)begin - arena[k], len, fake_len[k], n, strlen(expected[k]), msg);
}

static void *reader_main(void *arg) {
    Reader *r = arg;
    while (!atomic_load(&r->stop))
        for (int k = 0; k < FAKES; k++) {
            probe(r, k, 0);
            probe(r, k, fake_len[k] - 1);
        }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One thread registers and removes the fakes over and over (one at a time,
 * so each reuses the same slot at once, the worst case) while another reads
 * them through the handler's lookup. */
static void test_no_torn_reads(void) {
    Reader r;
    memset(&r, 0, sizeof r);
    pthread_t t;
    if (pthread_create(&t, NULL, reader_main, &r) != 0) {
        check(0, "mapping_guard: concurrent lookups", "pthread_create failed");
        return;
    }
    long cycles = 0, add_failed = 0;
    double start = now();
    /* at least 500000 cycles and 10000 hits (so the reader did overlap), at most 20 s */
    while ((cycles < 500000 || atomic_load(&r.hits) < 10000) && now() - start < 20) {
        int k = (int)(cycles % FAKES);
        if (mapping_guard_add(arena[k], fake_len[k], fake_path[k]) != 0) add_failed++;
        mapping_guard_remove(arena[k]);
        cycles++;
    }
    atomic_store(&r.stop, 1);
    pthread_join(t, NULL);
    long hits = atomic_load(&r.hits);
    char detail[400];
    snprintf(detail, sizeof detail, "%ld cycles, %ld consistent reads, %ld absent, %ld torn; first torn: %s", cycles, hits, r.misses,
             r.torn, r.torn ? r.detail : "none");
    check(r.torn == 0 && add_failed == 0 && hits >= 10000 && r.misses > 0,
          "mapping_guard: register/remove cycles against concurrent lookups, every read absent or one whole record", detail);
    printf("      (%s)\n", detail);
}

/* Slots run out gracefully; removal of an unknown address is a no-op; after
 * removal nothing is found. */
static void test_slots(void) {
    static char many[64][16];
    int added = 0;
    while (added < 64 && mapping_guard_add(many[added], sizeof many[added], "/fake/many.bin") == 0) added++;
    check(added > 0 && added < 64, "mapping_guard_add returns -1 once every slot is taken", "never refused");
    char msg[256];
    const void *b;
    size_t len;
    int found = 1;
    for (int i = 0; i < added; i++) found &= mapping_guard_lookup(many[i] + 3, msg, sizeof msg, &b, &len) >= 0 && b == many[i];
    check(found, "mapping_guard: each registered range is found", "a range was not found");
    mapping_guard_remove(arena[0]); /* never registered */
    for (int i = 0; i < added; i++) mapping_guard_remove(many[i]);
    int none = 1;
    for (int i = 0; i < added; i++) none &= mapping_guard_lookup(many[i], msg, sizeof msg, &b, &len) < 0;
    check(none, "mapping_guard: nothing is found after removal", "a removed range was still found");
}

/* A real fault: a child maps a file, guards the mapping, truncates the file
 * and reads past the new end. It must print the line and exit 1. */
static void test_real_fault(void) {
    char path[] = "/tmp/test_mapping_guard.XXXXXX";
    int fd = mkstemp(path);
    long page = sysconf(_SC_PAGESIZE);
    int pipefd[2];
    if (fd < 0 || ftruncate(fd, 2 * page) != 0 || pipe(pipefd) != 0) {
        check(0, "mapping_guard: a fault in a truncated guarded file", strerror(errno));
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        const volatile char *map = mmap(NULL, (size_t)(2 * page), PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) _exit(3);
        mapping_guard_add((const void *)map, (size_t)(2 * page), path);
        if (ftruncate(fd, 0) != 0) _exit(4);
        (void)map[page]; /* past the end now: SIGBUS */
        _exit(5);
    }
    close(pipefd[1]);
    char got[8192] = "";
    size_t n = 0;
    ssize_t r;
    while (n < sizeof got - 1 && (r = read(pipefd[0], got + n, sizeof got - 1 - n)) > 0) n += (size_t)r;
    got[n] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fd);
    unlink(path);
    char want[4352];
    snprintf(want, sizeof want, "%s: error: %s: the model file changed while it was being read (truncated?)\n",
             program_invocation_short_name, path);
    char detail[600];
    snprintf(detail, sizeof detail, "status %#x, stderr '%.400s'", status, got);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 1 && !strcmp(got, want),
          "mapping_guard: a read past the end of a truncated guarded file prints the one line and exits 1", detail);
}

int main(void) {
    make_fakes();
    test_no_torn_reads();
    test_slots();
    test_real_fault();
    return failures != 0;
}
