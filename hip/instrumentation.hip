// instrumentation.hip - measuring the backend from inside: GETP_PROFILE=1
// times every kind of launch with events (graphs off, each call waited for)
// and prints the totals at exit, with each kind's TFLOP/s and GB/s (the
// work of src/step_work.h) and their share of the device's peaks; a build with -DGETP_BLOCK_TRACE records
// every block of one step (GETP_BLOCK_TRACE=step, see block_trace.h).
#include "hip_state.h"

static const char *const PROFILE_NAMES[P_KINDS] = {"embed", "qkv matmul", "qkv finish", "attention", "o matmul", "post-attention",
                                                   "gate_up matmul", "down matmul", "combine", "moe persistent", "unembedding", "sample"};

/* The step_work operations each kind of launch does (-1: none counted; the
 * persistent experts kernel does two). */
static const int WORK_OF[P_KINDS][2] = {{-1, -1},           {WORK_QKV, -1},     {-1, -1},         {WORK_ATTENTION, -1},
                                        {WORK_O, -1},       {WORK_ROUTER, -1},  {WORK_GATE_UP, -1}, {WORK_DOWN, -1},
                                        {-1, -1},           {WORK_GATE_UP, WORK_DOWN}, {WORK_UNEMBEDDING, -1}, {-1, -1}};

/* Dense BF16 tensor peaks and memory bandwidths (vendors' figures), for
 * the profile's "% of peak" columns; a device not listed gets none. */
static const struct {
    const char *name; /* found in the device's name */
    double tflops, tbytes_s;
} DEVICE_PEAKS[] = {{"H200", 989, 4.8}, {"H100", 989, 3.35}, {"MI250X", 191.5, 1.6}, {"MI250", 181, 1.6}};

void profile_init(HipState *s) {
    const char *v = getenv("GETP_PROFILE");
    s->prof.on = v && atoi(v) > 0;
}

void profile_step(HipState *s, const BatchRow *rows, int T, int n_out) {
    Profile *p = &s->prof;
    if (!p->on) return;
    p->rows = T, p->n_out = n_out, p->keys[0] = p->keys[1] = 0;
    int full = -1, sliding = -1; /* a layer of each kind, for their key counts */
    for (int l = 0; l < (int)s->c.n_layers; l++) *(s->c.layer_sliding[l] ? &sliding : &full) = l;
    for (int t = 0; t < T; t++) {
        if (full >= 0) p->keys[0] += step_work_keys(&s->c, full, rows[t].pos);
        if (sliding >= 0) p->keys[1] += step_work_keys(&s->c, sliding, rows[t].pos);
    }
}

/* Marks the end of a launch of `kind` (the previous mark is its start). */
void profile_mark(HipState *s, int kind) {
    Profile *p = &s->prof;
    if (!p->on || p->n >= PROFILE_EVENTS) return;
    /* a failing event only stops the profile, never the run */
    if ((!p->ev[p->n] && hipEventCreate(&p->ev[p->n]) != hipSuccess) || hipEventRecord(p->ev[p->n], s->stream) != hipSuccess) {
        fprintf(stderr, "GETP_PROFILE: events failed; profiling stopped\n");
        p->on = 0;
        return;
    }
    p->kind[p->n++] = kind;
    for (int i = 0; kind >= 0 && i < 2 && WORK_OF[kind][i] >= 0; i++) {
        Work w = step_work(s->model, p->layer, (WorkKind)WORK_OF[kind][i], p->rows, p->keys[s->c.layer_sliding[p->layer] ? 1 : 0], p->n_out);
        p->flops[kind] += w.flops, p->bytes[kind] += w.bytes;
    }
}

void profile_collect(HipState *s) {
    Profile *p = &s->prof;
    if (!p->on) return;
    if (p->n == 0 || hipEventSynchronize(p->ev[p->n - 1]) != hipSuccess) {
        p->n = 0;
        return;
    }
    for (int i = 1; i < p->n; i++) {
        float ms = 0;
        if (hipEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]) != hipSuccess) continue;
        if (p->kind[i] < 0) continue;
        p->ms[p->kind[i]] += ms;
        p->calls[p->kind[i]]++;
    }
    p->n = 0;
}

void profile_report(HipState *s) {
    const Profile *p = &s->prof;
    if (!p->on) return;
    double total = 0, peak_tflops = 0, peak_tbytes = 0;
    for (int k = 0; k < P_KINDS; k++) total += p->ms[k];
    for (size_t i = 0; i < sizeof DEVICE_PEAKS / sizeof *DEVICE_PEAKS && !peak_tflops; i++)
        if (strstr(p->device, DEVICE_PEAKS[i].name)) peak_tflops = DEVICE_PEAKS[i].tflops, peak_tbytes = DEVICE_PEAKS[i].tbytes_s;
    /* TFLOP/s: the math's (src/step_work.h; the tensor cores do twice it, hi + lo); GB/s: weights and KV cache at least once */
    fprintf(stderr, "GETP_PROFILE: %-15s %10s %8s %10s %6s %9s %8s %8s %8s\n", "kernel", "total ms", "calls", "us/call", "share", "TFLOP/s",
            "GB/s", "%tensor", "%bw");
    for (int k = 0; k < P_KINDS; k++) {
        double s_k = p->ms[k] * 1e-3, tflops = s_k > 0 ? p->flops[k] / s_k * 1e-12 : 0, gbytes = s_k > 0 ? p->bytes[k] / s_k * 1e-9 : 0;
        fprintf(stderr, "GETP_PROFILE: %-15s %10.2f %8ld %10.1f %5.1f%%", PROFILE_NAMES[k], p->ms[k], p->calls[k],
                p->calls[k] ? 1e3 * p->ms[k] / p->calls[k] : 0.0, total > 0 ? 100 * p->ms[k] / total : 0.0);
        if (WORK_OF[k][0] < 0) fprintf(stderr, " %9s %8s %8s %8s\n", "-", "-", "-", "-");
        else if (!peak_tflops) fprintf(stderr, " %9.1f %8.0f %8s %8s\n", tflops, gbytes, "-", "-");
        else fprintf(stderr, " %9.1f %8.0f %7.1f%% %7.1f%%\n", tflops, gbytes, 100 * tflops / peak_tflops, 100 * gbytes / (1e3 * peak_tbytes));
    }
    if (peak_tflops) fprintf(stderr, "GETP_PROFILE: peaks of %s: %.0f TFLOP/s (dense BF16), %.2f TB/s\n", p->device, peak_tflops, peak_tbytes);
    for (int i = 0; i < PROFILE_EVENTS; i++)
        if (p->ev[i]) (void)hipEventDestroy(p->ev[i]);
}

#ifdef GETP_BLOCK_TRACE_ON
/* Turns the block recorder on for the traced step (see block_trace.h). */
int block_trace_begin(HipState *s, Error *err) {
    if (s->steps != s->trace_step) return 0;
    const int on = 1;
    CHECK(hipMemset(s->trace.n, 0, sizeof(unsigned)), err);
    CHECK(hipMemcpy((void *)s->trace.on, &on, sizeof on, hipMemcpyHostToDevice), err);
    return 0;
}
/* After the step's sync: the traced step's records to GETP_BLOCK_TRACE_OUT. */
int block_trace_end(HipState *s, Error *err) {
    if (s->steps++ != s->trace_step) return 0;
    const int off = 0;
    unsigned n = 0;
    CHECK(hipMemcpy((void *)s->trace.on, &off, sizeof off, hipMemcpyHostToDevice), err);
    CHECK(hipMemcpy(&n, s->trace.n, sizeof n, hipMemcpyDeviceToHost), err);
    if (n > s->trace.cap) n = s->trace.cap;
    BlockTraceRecord *r = (BlockTraceRecord *)xmalloc((n ? n : 1) * sizeof *r);
    hipError_t e = hipMemcpy(r, s->trace.rec, n * sizeof *r, hipMemcpyDeviceToHost);
    const char *path = getenv("GETP_BLOCK_TRACE_OUT");
    if (!path) path = "block_trace.csv";
    FILE *f = e == hipSuccess ? fopen(path, "w") : NULL;
    if (!f) {
        free(r);
        return e != hipSuccess ? error_set(err, "GETP_BLOCK_TRACE: copying the records failed: %s", hipGetErrorString(e))
                               : error_set(err, "GETP_BLOCK_TRACE: cannot write %s", path);
    }
    fprintf(f, "kind,block,blocks,sm,start,waited,mark1,mark2,mark3,end\n");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%d,%d,%d,%d,%llu,%llu,%llu,%llu,%llu,%llu\n", r[i].kind, r[i].block, r[i].blocks, r[i].sm, r[i].start, r[i].waited,
                r[i].mark[0], r[i].mark[1], r[i].mark[2], r[i].end);
    fclose(f);
    free(r);
    fprintf(stderr, "GETP_BLOCK_TRACE: %u blocks of step %ld written to %s\n", n, s->trace_step, path);
    return 0;
}
int block_trace_init(HipState *s, Error *err) {
    const char *step = getenv("GETP_BLOCK_TRACE");
    s->trace_step = step ? atol(step) : -1;
    if (s->trace_step < 0) return 0;
    s->serial = 1; /* the recorded step's blocks alone */
    s->trace.cap = 1u << 18;
    CHECK(hipMalloc((void **)&s->trace.rec, s->trace.cap * sizeof(BlockTraceRecord)), err);
    CHECK(hipMalloc((void **)&s->trace.n, sizeof(unsigned)), err);
    CHECK(hipMalloc((void **)&s->trace.on, sizeof(int)), err);
    CHECK(hipMemset((void *)s->trace.on, 0, sizeof(int)), err);
    return forward_set_block_trace(&s->trace, err);
}
void block_trace_free(HipState *s) {
    if (s->trace.rec) (void)hipFree(s->trace.rec), (void)hipFree(s->trace.n), (void)hipFree((void *)s->trace.on);
}
#else
int block_trace_begin(HipState *, Error *) { return 0; }
int block_trace_end(HipState *, Error *) { return 0; }
int block_trace_init(HipState *, Error *) { return 0; }
void block_trace_free(HipState *) {}
#endif
