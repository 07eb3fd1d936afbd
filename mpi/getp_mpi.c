/* getp_mpi - one rank per GPU (or per CPU share): rank 0 validates the
 * requests, scatters them by estimated work, every rank runs the getp decode
 * loop on its share, and rank 0 gathers the results, writes the output in
 * request order (atomically) and prints the per-rank report.
 *
 * The math lives in src/; this file is only the distribution glue. Every
 * rank takes part in every collective, idle ones included, and every error
 * is agreed on collectively (an MPI_Allreduce of a status flag) before the
 * next step, so that a failure anywhere ends all ranks with one message
 * from rank 0 instead of a hang. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/app.h"
#include "../src/output_file.h"
#include "binding.h"
#include "schedule.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static const char *PROG = "getp_mpi";

/* What every rank reports back to rank 0 (sent as bytes: one build, one
 * cluster, one byte layout). */
typedef struct {
    int rank, local_rank, local_size, n_requests, failed;
    char host[64], device[64], binding[96], load_method[160];
    double load_s, prefill_s, decode_s, gen_s, wait_s;
    double weights_bytes, weights_s; /* the weights' trip to the GPU (load_s also opens the model, makes the KV cache) */
    long prefill_tokens, decode_tokens, generated;
    char error[sizeof(((Error *)0)->msg)];
} RankReport;

/* Request as scattered: 8 ints, then the prompt tokens. */
enum { REQ_INDEX, REQ_PROMPT_LEN, REQ_MAX_NEW, REQ_TEMP_BITS, REQ_TOPP_BITS, REQ_SEED_LO, REQ_SEED_HI, REQ_IGNORE_EOS, REQ_INTS };
/* Result as gathered: 4 ints, then the generated tokens. */
enum { RES_INDEX, RES_N_TOKENS, RES_FINISH, RES_PROMPT_TOKENS, RES_INTS };

/* Test hooks (GETP_INJECT_FAULT): "load@R" makes rank R fail to load its
 * model, "kill@R" makes it SIGKILL itself after its first finished request,
 * "unlink-requests@0" deletes the request file right after validation. */
static int fault_here(const char *what, int rank) {
    const char *f = getenv("GETP_INJECT_FAULT");
    char want[32];
    snprintf(want, sizeof want, "%s@%d", what, rank);
    return f && !strcmp(f, want);
}

/* True on every rank when any rank's flag is set. */
static int any_failed(int failed) {
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

/* Collects every rank's report on rank 0 and, if any failed, prints one line
 * per failed rank. */
static RankReport *gather_reports(RankReport *mine, int rank, int size) {
    RankReport *all = rank == 0 ? calloc((size_t)size, sizeof *all) : NULL;
    MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int r = 0; r < size; r++)
            if (all[r].failed) fprintf(stderr, "%s: error: rank %d (%s): %s\n", PROG, r, all[r].host, all[r].error);
    return all;
}

static void print_progress(void *ctx, int done, int total, const GenStats *s) {
    (void)ctx;
    double secs = s->prefill_seconds + s->decode_seconds;
    fprintf(stderr, "\r[getp_mpi rank 0] %d/%d of its requests, %.1f tok/s%s", done, total,
            secs > 0 ? (double)s->decode_tokens / secs : 0.0, done == total ? "\n" : "");
    fflush(stderr);
}

static void kill_after_first(void *ctx, int done, int total, const GenStats *s) {
    (void)ctx, (void)done, (void)total, (void)s;
    raise(SIGKILL);
}

/* --report: an output like -o, and not the same path as it. */
static int check_report_path(const Options *o, Error *err) {
    if (!strcmp(o->report_json, o->output)) return error_set(err, "--report %s: the same path as the output (-o)", o->report_json);
    return app_check_output(o, o->report_json, err);
}

static void write_report_json(const char *path, const RankReport *all, int size, double total_tps, double imbalance, Error *err) {
    OutputFile out;
    if (output_open(&out, path, NULL, 0, err) != 0) return;
    FILE *f = out.fp;
    fprintf(f, "{\n  \"ranks\": [\n");
    for (int r = 0; r < size; r++) {
        const RankReport *x = &all[r];
        fprintf(f,
                "    {\"rank\": %d, \"local_rank\": %d, \"local_size\": %d, \"host\": \"%s\", \"device\": \"%s\", \"binding\": \"%s\", \"requests\": %d, "
                "\"load_s\": %.6f, \"prefill_tokens\": %ld, \"prefill_s\": %.6f, \"decode_tokens\": %ld, \"decode_s\": %.6f, "
                "\"generated_tokens\": %ld, \"generate_s\": %.6f, \"tok_per_s\": %.3f, \"gather_wait_s\": %.6f, "
                "\"load_method\": \"%s\", \"weights_bytes\": %.0f, \"weights_s\": %.6f, \"weights_gb_per_s\": %.3f}%s\n",
                x->rank, x->local_rank, x->local_size, x->host, x->device, x->binding, x->n_requests, x->load_s, x->prefill_tokens, x->prefill_s, x->decode_tokens,
                x->decode_s, x->generated, x->gen_s, x->gen_s > 0 ? x->generated / x->gen_s : 0.0, x->wait_s, x->load_method, x->weights_bytes,
                x->weights_s, x->weights_s > 0 ? x->weights_bytes / x->weights_s / 1e9 : 0.0, r + 1 < size ? "," : "");
    }
    long gen = 0;
    double slowest_gen = 0;
    for (int r = 0; r < size; r++) {
        gen += all[r].generated;
        if (all[r].gen_s > slowest_gen) slowest_gen = all[r].gen_s;
    }
    /* generation tok/s: all tokens over the slowest rank's generation time (loads excluded) */
    fprintf(f, "  ],\n  \"total_generated_tokens\": %ld,\n  \"total_tok_per_s\": %.3f,\n  \"generation_tok_per_s\": %.3f,\n  \"imbalance\": %.4f\n}\n",
            gen, total_tps, slowest_gen > 0 ? gen / slowest_gen : 0.0, imbalance);
    output_commit(&out, err);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size, local_rank, local_size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);

    Options o;
    int prc = options_parse(&o, argc, argv, PROG, 1, rank == 0 ? stderr : NULL);
    if (prc != 0 || o.mode != MODE_GETP) {
        if (prc == 0 && rank == 0) fprintf(stderr, "%s: only -m getp runs under MPI (use getp for generate and tokenize)\n", PROG);
        MPI_Finalize();
        return prc > 0 ? 0 : 2;
    }
    ScheduleKind kind;
    schedule_parse(o.schedule, &kind);
    RankReport me;
    memset(&me, 0, sizeof me);
    me.rank = rank;
    me.local_rank = local_rank;
    me.local_size = local_size;
    int host_len;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Get_processor_name(host, &host_len);
    memcpy(me.host, host, (size_t)host_len < sizeof me.host - 1 ? (size_t)host_len : sizeof me.host - 1);
    Error err;

    /* 1. Rank 0 validates everything before any rank loads a model. */
    Tokenizer *tok = NULL;
    RequestSet rs = {0};
    GenRequest *reqs = NULL;
    int *prompt_storage = NULL, failed = 0, n = 0;
    if (rank == 0) {
        char *tok_path = options_tokenizer_path(&o);
        tok = tokenizer_load(tok_path, &err);
        free(tok_path);
        Model header;
        failed = !tok || requests_read(o.input, &rs, &err) != 0 || app_check_output(&o, o.output, &err) != 0 ||
                 (o.report_json && check_report_path(&o, &err) != 0) || app_open_model(&o, &header, &err) != 0;
        if (!failed) {
            int context = app_context_limit(&o, &header.config);
            failed = app_build_requests(&o, tok, &rs, o.input, (int)header.config.vocab_size, context, &reqs, &prompt_storage, &err) != 0;
            model_close(&header);
        }
        if (failed) fprintf(stderr, "%s: error: %s\n", PROG, err.msg);
        n = rs.n;
        /* Rank 0 holds the validated requests from here on: the file may go. */
        if (!failed && fault_here("unlink-requests", 0)) unlink(o.input);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) {
        MPI_Finalize();
        return 1;
    }

    /* 2. Scatter: request headers, then prompt tokens. */
    int *counts = NULL, *displs = NULL, *tcounts = NULL, *tdispls = NULL, *send = NULL, *send_tok = NULL;
    if (rank == 0) {
        long *work = malloc((size_t)n * sizeof *work);
        for (int i = 0; i < n; i++) work[i] = reqs[i].prompt_len + reqs[i].params.max_new_tokens;
        int *owner = malloc((size_t)n * sizeof *owner), *order = malloc((size_t)n * sizeof *order);
        int *first = malloc((size_t)(size + 1) * sizeof *first);
        schedule_assign(kind, work, n, size, owner, order, first);
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
        tcounts = calloc((size_t)size, sizeof *tcounts);
        tdispls = calloc((size_t)size, sizeof *tdispls);
        send = malloc((size_t)n * REQ_INTS * sizeof *send);
        long total_tok = 0;
        for (int i = 0; i < n; i++) total_tok += reqs[i].prompt_len;
        send_tok = malloc((size_t)(total_tok > 0 ? total_tok : 1) * sizeof *send_tok);
        long tpos = 0;
        for (int r = 0; r < size; r++) {
            counts[r] = (first[r + 1] - first[r]) * REQ_INTS;
            displs[r] = first[r] * REQ_INTS;
            tdispls[r] = (int)tpos;
            for (int j = first[r]; j < first[r + 1]; j++) {
                const GenRequest *q = &reqs[order[j]];
                int *h = send + (size_t)j * REQ_INTS;
                h[REQ_INDEX] = order[j];
                h[REQ_PROMPT_LEN] = q->prompt_len;
                h[REQ_MAX_NEW] = q->params.max_new_tokens;
                h[REQ_TEMP_BITS] = (int)float_to_bits(q->params.temperature);
                h[REQ_TOPP_BITS] = (int)float_to_bits(q->params.top_p);
                h[REQ_SEED_LO] = (int)(uint32_t)q->params.seed;
                h[REQ_SEED_HI] = (int)(uint32_t)(q->params.seed >> 32);
                h[REQ_IGNORE_EOS] = q->params.ignore_eos;
                memcpy(send_tok + tpos, q->prompt, (size_t)q->prompt_len * sizeof(int));
                tpos += q->prompt_len;
            }
            tcounts[r] = (int)(tpos - tdispls[r]);
        }
        free(work);
        free(owner);
        free(order);
        free(first);
    }
    int my_ints, my_toks;
    MPI_Scatter(counts, 1, MPI_INT, &my_ints, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Scatter(tcounts, 1, MPI_INT, &my_toks, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int *mine = malloc((size_t)(my_ints > 0 ? my_ints : 1) * sizeof *mine);
    int *my_prompts = malloc((size_t)(my_toks > 0 ? my_toks : 1) * sizeof *my_prompts);
    MPI_Scatterv(send, counts, displs, MPI_INT, mine, my_ints, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Scatterv(send_tok, tcounts, tdispls, MPI_INT, my_prompts, my_toks, MPI_INT, 0, MPI_COMM_WORLD);
    int my_n = my_ints / REQ_INTS;
    me.n_requests = my_n;
    GenRequest *my_reqs = calloc((size_t)(my_n > 0 ? my_n : 1), sizeof *my_reqs);
    for (int j = 0, tpos = 0; j < my_n; j++) {
        const int *h = mine + (size_t)j * REQ_INTS;
        my_reqs[j] = (GenRequest){my_prompts + tpos, h[REQ_PROMPT_LEN],
                                  {h[REQ_MAX_NEW], bits_to_float((uint32_t)h[REQ_TEMP_BITS]), bits_to_float((uint32_t)h[REQ_TOPP_BITS]),
                                   (uint64_t)(uint32_t)h[REQ_SEED_LO] | (uint64_t)(uint32_t)h[REQ_SEED_HI] << 32, h[REQ_IGNORE_EOS]},
                                  (uint64_t)h[REQ_INDEX]};
        tpos += h[REQ_PROMPT_LEN];
    }

    /* 3. Bind, load, make the backend (idle ranks skip the load). */
    double t0 = MPI_Wtime();
    int cores = 0, gpus = strcmp(o.backend, "cpu") ? hip_device_count() : 0;
    char bus[32], *bus_id = NULL;
    if (gpus > 0) {
        o.device = local_rank % gpus; /* one rank per GPU: the node-local index picks it */
        if (hip_device_pci_bus_id(o.device, bus, sizeof bus) == 0) bus_id = bus;
    }
    if (o.no_bind) snprintf(me.binding, sizeof me.binding, "unbound (--no-bind)");
    else cores = bind_rank(local_rank, local_size, bus_id, me.binding, sizeof me.binding);
#ifdef _OPENMP
    if (!o.threads) o.threads = cores > 0 ? cores : (omp_get_num_procs() / local_size > 0 ? omp_get_num_procs() / local_size : 1);
#endif
    Model model;
    Backend *be = NULL;
    memset(&model, 0, sizeof model);
    snprintf(me.device, sizeof me.device, "idle");
    snprintf(me.load_method, sizeof me.load_method, "-");
    /* Peer-fed replicas: the node's local rank 0 loads from the host first
     * and shares its device weights; the others copy them GPU to GPU. */
    GpuLoad gl;
    memset(&gl, 0, sizeof gl);
    gl.method = LOAD_HOST;
    gl.refuse_peer = fault_here("refuse-peer", rank);
    int peer_fed = gpus > 0 && local_size > 1 && o.load != LOAD_HOST && !o.dummy_weights;
    struct {
        int ok, device;
        unsigned char handle[WEIGHTS_HANDLE_BYTES];
    } leader = {0, 0, {0}};
    for (int phase = peer_fed ? 0 : 1; phase < 2; phase++) {
        int my_phase = peer_fed && local_rank == 0 ? 0 : 1;
        if (phase == 1 && peer_fed) { /* the leader's weights, if it has them */
            MPI_Bcast(&leader, (int)sizeof leader, MPI_BYTE, 0, node);
            if (local_rank != 0 && leader.ok) {
                gl.method = LOAD_PEER, gl.peer_device = leader.device;
                memcpy(gl.peer_handle, leader.handle, sizeof gl.peer_handle);
            }
        }
        if (my_phase != phase || my_n == 0) continue;
        if (fault_here("load", rank)) {
            failed = error_set(&err, "%s: injected model load failure (GETP_INJECT_FAULT)", o.model_path ? o.model_path : o.dummy_weights) != 0;
        } else if (app_open_model(&o, &model, &err) != 0) {
            failed = 1;
        } else {
            int context = app_context_limit(&o, &model.config);
            be = app_create_backend(&o, &model, o.batch < my_n ? o.batch : my_n, context, &gl, &err);
            failed = be == NULL;
            if (be && !strcmp(be->ops->name, "cpu")) snprintf(me.device, sizeof me.device, "cpu (%d threads)", o.threads);
            else if (be) snprintf(me.device, sizeof me.device, "%s gpu %d", be->ops->name, o.device);
            if (be && gl.used[0]) {
                snprintf(me.load_method, sizeof me.load_method, "%s", gl.used);
                me.weights_bytes = (double)gl.bytes, me.weights_s = gl.seconds;
            }
            if (be && peer_fed && local_rank == 0 && strcmp(be->ops->name, "cpu") != 0)
                leader.ok = hip_backend_export_weights(be, leader.handle, &err) == 0, leader.device = o.device;
        }
    }
    me.load_s = MPI_Wtime() - t0;
    if (failed) {
        me.failed = 1;
        snprintf(me.error, sizeof me.error, "%s", err.msg);
    }
    if (any_failed(failed)) {
        free(gather_reports(&me, rank, size));
        MPI_Finalize();
        return 1;
    }

    /* 4. Generate. */
    RequestResult *res = calloc((size_t)(my_n > 0 ? my_n : 1), sizeof *res);
    GenStats stats = {0};
    if (my_n > 0) {
        int show = o.progress == 1 || (o.progress < 0 && isatty(2));
        GenProgress cb = fault_here("kill", rank) ? kill_after_first : (rank == 0 && show ? print_progress : NULL);
        double t1 = MPI_Wtime();
        if (generate_run(be, my_reqs, my_n, o.batch, res, &stats, cb, NULL, &err) != 0) {
            me.failed = failed = 1;
            snprintf(me.error, sizeof me.error, "%s", err.msg);
        }
        me.gen_s = MPI_Wtime() - t1;
    }
    me.prefill_s = stats.prefill_seconds;
    me.decode_s = stats.decode_seconds;
    me.prefill_tokens = stats.prefill_tokens;
    me.decode_tokens = stats.decode_tokens;
    for (int j = 0; j < my_n; j++) me.generated += res[j].n_tokens;

    /* 5. Agree on success (the wait here is the imbalance), then gather. */
    double tw = MPI_Wtime();
    int any = any_failed(failed);
    me.wait_s = MPI_Wtime() - tw;
    RankReport *all = gather_reports(&me, rank, size);
    if (any) {
        MPI_Finalize();
        return 1;
    }
    int my_res_ints = my_n * RES_INTS, my_res_toks = 0;
    for (int j = 0; j < my_n; j++) my_res_toks += res[j].n_tokens;
    int *rh = malloc((size_t)(my_res_ints > 0 ? my_res_ints : 1) * sizeof *rh);
    int *rt = malloc((size_t)(my_res_toks > 0 ? my_res_toks : 1) * sizeof *rt);
    for (int j = 0, tpos = 0; j < my_n; j++) {
        int *h = rh + (size_t)j * RES_INTS;
        h[RES_INDEX] = (int)my_reqs[j].index;
        h[RES_N_TOKENS] = res[j].n_tokens;
        h[RES_FINISH] = (int)res[j].finish;
        h[RES_PROMPT_TOKENS] = res[j].prompt_tokens;
        memcpy(rt + tpos, res[j].tokens, (size_t)res[j].n_tokens * sizeof(int));
        tpos += res[j].n_tokens;
    }
    int pair[2] = {my_res_ints, my_res_toks}, *pairs = rank == 0 ? malloc((size_t)size * 2 * sizeof(int)) : NULL;
    MPI_Gather(pair, 2, MPI_INT, pairs, 2, MPI_INT, 0, MPI_COMM_WORLD);
    int *all_h = NULL, *all_t = NULL, *hc = NULL, *hd = NULL, *tc = NULL, *td = NULL;
    if (rank == 0) {
        hc = malloc((size_t)size * sizeof *hc), hd = malloc((size_t)size * sizeof *hd);
        tc = malloc((size_t)size * sizeof *tc), td = malloc((size_t)size * sizeof *td);
        long hs = 0, ts = 0;
        for (int r = 0; r < size; r++) {
            hc[r] = pairs[2 * r], hd[r] = (int)hs, hs += hc[r];
            tc[r] = pairs[2 * r + 1], td[r] = (int)ts, ts += tc[r];
        }
        all_h = malloc((size_t)(hs > 0 ? hs : 1) * sizeof *all_h);
        all_t = malloc((size_t)(ts > 0 ? ts : 1) * sizeof *all_t);
    }
    MPI_Gatherv(rh, my_res_ints, MPI_INT, all_h, hc, hd, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Gatherv(rt, my_res_toks, MPI_INT, all_t, tc, td, MPI_INT, 0, MPI_COMM_WORLD);

    /* 6. Rank 0 writes the output in request order, then the report. */
    int rc = 0;
    if (rank == 0) {
        RequestResult *out = calloc((size_t)n, sizeof *out);
        long tpos = 0;
        for (int j = 0; j < n; j++) {
            const int *h = all_h + (size_t)j * RES_INTS;
            RequestResult *r = &out[h[RES_INDEX]];
            r->n_tokens = h[RES_N_TOKENS];
            r->finish = (FinishReason)h[RES_FINISH];
            r->prompt_tokens = h[RES_PROMPT_TOKENS];
            r->tokens = all_t + tpos;
            tpos += r->n_tokens;
            app_decode_text(tok, r);
        }
        if (app_write_results(&o, o.output, &rs, out, &err) != 0) {
            fprintf(stderr, "%s: error: %s\n", PROG, err.msg);
            rc = 1;
        }
        FILE *rep = output_is_stdout(o.output) ? stderr : stdout; /* with -o -, stdout carries the results */
        double slowest = 0, sum = 0;
        long gen = 0;
        fprintf(rep, "%-5s %-16s %-22s %-22s %5s %7s %9s %8s %9s %8s %9s %7s\n", "rank", "host", "device", "binding", "reqs", "load_s",
               "prefill", "pre_s", "decode", "dec_s", "tok/s", "wait_s");
        for (int r = 0; r < size; r++) {
            const RankReport *x = &all[r];
            fprintf(rep, "%-5d %-16.16s %-22.22s %-22.22s %5d %7.3f %9ld %8.3f %9ld %8.3f %9.1f %7.3f\n", r, x->host, x->device, x->binding,
                   x->n_requests, x->load_s, x->prefill_tokens, x->prefill_s, x->decode_tokens, x->decode_s,
                   x->gen_s > 0 ? x->generated / x->gen_s : 0.0, x->wait_s);
            double busy = x->load_s + x->gen_s;
            slowest = busy > slowest ? busy : slowest;
            sum += busy;
            gen += x->generated;
        }
        int gpu_loads = 0;
        for (int r = 0; r < size; r++) gpu_loads |= all[r].weights_s > 0;
        if (gpu_loads) { /* the replicas: how each GPU got its weights */
            /* the method last and whole: a fallback's reason can be long */
            fprintf(rep, "%-9s %9s %8s %8s  %s\n", "load", "GB", "s", "GB/s", "weights loaded by");
            for (int r = 0; r < size; r++) {
                const RankReport *x = &all[r];
                fprintf(rep, "rank %-4d %9.2f %8.3f %8.2f  %s\n", r, x->weights_bytes / 1e9, x->weights_s,
                       x->weights_s > 0 ? x->weights_bytes / x->weights_s / 1e9 : 0.0, x->load_method);
            }
        }
        double wall = MPI_Wtime() - t0;
        double imbalance = sum > 0 ? slowest / (sum / size) : 1.0;
        fprintf(rep, "ranks: %d, requests: %d, generated tokens: %ld, wall %.3f s\n", size, n, gen, wall);
        fprintf(rep, "imbalance (slowest / mean rank time): %.3f\n", imbalance);
        fprintf(rep, "achieved throughput TPS (tok/s): %.2f\n", wall > 0 ? gen / wall : 0.0);
        if (o.report_json) {
            Error jerr = {{0}};
            write_report_json(o.report_json, all, size, wall > 0 ? gen / wall : 0.0, imbalance, &jerr);
            if (jerr.msg[0]) fprintf(stderr, "%s: warning: %s\n", PROG, jerr.msg);
        }
        for (int i = 0; i < n; i++) free(out[i].text);
        free(out);
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return rc;
}
