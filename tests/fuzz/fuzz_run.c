/* fuzz_run.c - the fuzz driver's batch loop (tests/fuzz/fuzz.h).
 *
 * The parent forks one child per batch of inputs. Before each input the child
 * writes the input's index to shared memory, so when a sanitizer report (or a
 * signal) ends the child the parent knows which input did it, saves it under
 * --crash-dir and goes on with the next index in a new child. An alarm per
 * input makes a hang a failure. In ASan builds LeakSanitizer checks the heap
 * every 50 inputs; a batch that leaked is run again one check per input, to
 * name the input. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif
enum { STATE_RUNNING, STATE_DONE, STATE_HANG, STATE_LEAK };
enum { EXIT_HANG = 97, EXIT_LEAK = 98 };

/* A leak check scans the whole heap (milliseconds with the tokenizer loaded),
 * so the child checks every LEAK_CHECK_EVERY inputs; when one finds a leak,
 * the parent runs those inputs again, checking after each one. */
#define LEAK_CHECK_EVERY 50

typedef struct {
    volatile long current;   /* the input the child is on */
    volatile long leak_from; /* STATE_LEAK: the first input since the last clean check */
    volatile int state;
    volatile long accepted, wrong, failures;
} Shared;

static Shared *g_shared;
static char g_hang_msg[256];
static size_t g_hang_msg_len;

static void on_alarm(int sig) {
    (void)sig;
    g_shared->state = STATE_HANG;
    ssize_t w = write(2, g_hang_msg, g_hang_msg_len);
    (void)w;
    _exit(EXIT_HANG);
}

/* Runs inputs [from, to), checking for leaks every check_every of them.
 * rerun: these inputs ran before (finding a leak); do not count them again. */
static void child_run(const Fuzz *fz, long from, long to, long check_every, int rerun) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    long clean_from = from;
    for (long i = from; i < to; i++) {
        if (!rerun && fz->max_failures && g_shared->failures >= fz->max_failures) break;
        g_shared->current = i;
        Input in;
        generate(fz, i, &in);
        g_hang_msg_len = (size_t)snprintf(g_hang_msg, sizeof g_hang_msg, "fuzz: %s input %ld: no result after %u s (hang)\n",
                                          KIND_NAMES[fz->kind], i, fz->timeout);
        alarm(fz->timeout);
        snprintf(g_label, sizeof g_label, "%s input %ld", KIND_NAMES[fz->kind], i);
        Verdict v = run_input(fz, &in);
        alarm(0);
        buf_free(&in.bytes);
        if (v == VERDICT_ACCEPTED && !rerun) g_shared->accepted++;
        if (v == VERDICT_WRONG && !rerun) {
            char saved[4300];
            save_input(fz, i, saved, sizeof saved);
            fprintf(stderr, "fuzz: %s input %ld saved as %s; reproduce: %s --kind %s --replay %s\n", KIND_NAMES[fz->kind], i, saved,
                    fz->prog, KIND_NAMES[fz->kind], saved);
            g_shared->wrong++;
            g_shared->failures++;
        }
#if HAVE_LSAN
        int last = i + 1 == to || (!rerun && fz->max_failures && g_shared->failures >= fz->max_failures);
        if ((i + 1 - from) % check_every == 0 || last) {
            if (__lsan_do_recoverable_leak_check()) {
                g_shared->leak_from = clean_from;
                g_shared->state = STATE_LEAK;
                fflush(stderr);
                _exit(EXIT_LEAK);
            }
            clean_from = i + 1;
        }
#else
        (void)check_every;
        (void)clean_from;
#endif
    }
    g_shared->state = STATE_DONE;
    fflush(stderr);
    _exit(0);
}

int run_fuzz(const Fuzz *fz) {
    g_shared = mmap(NULL, sizeof *g_shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_shared == MAP_FAILED) die("mmap: %s", strerror(errno));
    memset((void *)g_shared, 0, sizeof *g_shared);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long next = fz->start, end = fz->start + fz->count, crashes = 0, hangs = 0, leaks = 0;
    long rerun_to = -1; /* > next: inputs [next, rerun_to) leaked together; run them one check at a time */
    const char *name = KIND_NAMES[fz->kind];
    /* each hang costs --timeout seconds: a second limit for them */
    while (next < end && (rerun_to > next || !((fz->max_failures && g_shared->failures >= fz->max_failures) ||
                                               (fz->max_hangs && hangs >= fz->max_hangs)))) {
        int rerun = rerun_to > next;
        long to = rerun ? rerun_to : next + fz->batch < end ? next + fz->batch : end;
        rerun_to = -1;
        g_shared->state = STATE_RUNNING;
        g_shared->current = next - 1;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) die("fork: %s", strerror(errno));
        if (pid == 0) child_run(fz, next, to, rerun ? 1 : LEAK_CHECK_EVERY, rerun);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) die("waitpid: %s", strerror(errno));
        long at = g_shared->current;
        if (g_shared->state == STATE_DONE && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            if (rerun) { /* the leak did not come back one input at a time: count it, name the range */
                leaks++;
                g_shared->failures++;
                fprintf(stderr, "fuzz: %s inputs %ld..%ld leaked together, but none of them alone\n", name, next, to - 1);
            }
            next = at + 1;
            if (!rerun && next < to) break; /* the child stopped at the failure limit */
            continue;
        }
        if (at < next) die("the child died before its first input (status %d)", status);
        if (g_shared->state == STATE_LEAK && !rerun && at > g_shared->leak_from) {
            next = g_shared->leak_from;
            rerun_to = at + 1;
            continue;
        }
        char how[64];
        if (g_shared->state == STATE_HANG) {
            hangs++;
            snprintf(how, sizeof how, "hangs");
        } else if (g_shared->state == STATE_LEAK) {
            leaks++;
            snprintf(how, sizeof how, "leaks memory (the LeakSanitizer report is above)");
        } else {
            crashes++;
            if (WIFSIGNALED(status)) snprintf(how, sizeof how, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
            else snprintf(how, sizeof how, "crashed: exit status %d (the sanitizer report is above)", WEXITSTATUS(status));
        }
        g_shared->failures++;
        char saved[4300];
        save_input(fz, at, saved, sizeof saved);
        fprintf(stderr, "fuzz: %s input %ld %s; saved as %s; reproduce: %s --kind %s --replay %s\n", name, at, how, saved, fz->prog,
                name, saved);
        next = at + 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ran = next - fz->start;
    const char *stopped = next >= end ? "" : fz->max_hangs && hangs >= fz->max_hangs ? "; stopped at the hang limit" : "; stopped at the failure limit";
    printf("fuzz: %s %ld inputs, %ld crashes, %ld hangs, %ld leaks, %ld wrong results (%ld accepted; %.1f s%s)\n", name, ran, crashes,
           hangs, leaks, (long)g_shared->wrong, (long)g_shared->accepted,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), stopped);
    char path[4200];
    for (int j = 0; j < 3; j++) {
        snprintf(path, sizeof path, "%s%s", fz->work_path, j == 0 ? ".txt" : j == 1 ? ".jsonl" : ".bin");
        unlink(path);
    }
    return crashes || hangs || leaks || g_shared->wrong ? 1 : 0;
}
