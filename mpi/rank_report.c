#include "rank_report.h"

#include <stdlib.h>
#include <string.h>

#include "../src/app.h"
#include "../src/output_file.h"
#include "../src/run_report.h"

void rank_report_init(RankReport *me, const RankPlace *p, int n_requests) {
    memset(me, 0, sizeof *me);
    me->rank = p->rank;
    me->local_rank = p->local_rank;
    me->local_size = p->local_size;
    me->n_requests = n_requests;
    snprintf(me->host, sizeof me->host, "%s", p->host);
}

void rank_report_fail(RankReport *me, const Error *err) {
    me->failed = 1;
    snprintf(me->error, sizeof me->error, "%s", err->msg);
}

RankReport *rank_report_gather(const RankReport *mine, const char *prog, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    RankReport *all = rank == 0 ? xcalloc((size_t)size, sizeof *all) : NULL;
    MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE, 0, comm);
    if (rank == 0)
        for (int r = 0; r < size; r++)
            if (all[r].failed) fprintf(stderr, "%s: error: rank %d (%s): %s\n", prog, r, all[r].host, all[r].error);
    return all;
}

RunTotals rank_report_totals(const RankReport *all, int ranks, int requests, double wall_s, const Latency *latency) {
    RunTotals t = {ranks, requests, 0, wall_s, 1.0, 0, *latency};
    double slowest = 0, sum = 0;
    for (int r = 0; r < ranks; r++) {
        double busy = all[r].load_s + all[r].gen_s;
        slowest = busy > slowest ? busy : slowest;
        sum += busy;
        t.generated += all[r].generated;
        if (all[r].gen_s > t.slowest_gen_s) t.slowest_gen_s = all[r].gen_s;
    }
    if (sum > 0) t.imbalance = slowest / (sum / ranks);
    return t;
}

void rank_report_print(FILE *f, const RankReport *all, const RunTotals *t) {
    fprintf(f, "%-5s %-16s %-22s %-22s %5s %7s %9s %8s %9s %8s %9s %7s\n", "rank", "host", "device", "binding", "reqs", "load_s", "prefill",
            "pre_s", "decode", "dec_s", "tok/s", "wait_s");
    for (int r = 0; r < t->ranks; r++) {
        const RankReport *x = &all[r];
        fprintf(f, "%-5d %-16.16s %-22.22s %-22.22s %5d %7.3f %9ld %8.3f %9ld %8.3f %9.1f %7.3f\n", r, x->host, x->replica.device,
                x->replica.binding, x->n_requests, x->load_s, x->prefill_tokens, x->prefill_s, x->decode_tokens, x->decode_s,
                per_second((double)x->generated, x->gen_s), x->wait_s);
    }
    int gpu_loads = 0;
    for (int r = 0; r < t->ranks; r++) gpu_loads |= all[r].replica.weights_s > 0;
    if (gpu_loads) { /* the replicas: how each GPU got its weights */
        /* the method last and whole: a fallback's reason can be long */
        fprintf(f, "%-9s %9s %8s %8s  %s\n", "load", "GB", "s", "GB/s", "weights loaded by");
        for (int r = 0; r < t->ranks; r++) {
            const ReplicaInfo *x = &all[r].replica;
            fprintf(f, "rank %-4d %9.2f %8.3f %8.2f  %s\n", r, x->weights_bytes / 1e9, x->weights_s,
                    per_second(x->weights_bytes, x->weights_s) / 1e9, x->load_method);
        }
    }
    fprintf(f, "ranks: %d, requests: %d, generated tokens: %ld, wall %.3f s\n", t->ranks, t->requests, t->generated, t->wall_s);
    fprintf(f, "imbalance (slowest / mean rank time): %.3f\n", t->imbalance);
    run_report_print_latency(f, &t->latency);
    run_report_throughput(f, t->generated, t->wall_s);
}

static void write_rank_json(FILE *f, const RankReport *x) {
    const ReplicaInfo *p = &x->replica;
    fprintf(f,
            "    {\"rank\": %d, \"local_rank\": %d, \"local_size\": %d, \"host\": \"%s\", \"device\": \"%s\", \"binding\": \"%s\", \"requests\": %d, "
            "\"load_s\": %.6f, \"prefill_tokens\": %ld, \"prefill_s\": %.6f, \"decode_tokens\": %ld, \"decode_s\": %.6f, "
            "\"generated_tokens\": %ld, \"generate_s\": %.6f, \"tok_per_s\": %.3f, \"gather_wait_s\": %.6f, "
            "\"load_method\": \"%s\", \"weights_bytes\": %.0f, \"weights_s\": %.6f, \"weights_gb_per_s\": %.3f}",
            x->rank, x->local_rank, x->local_size, x->host, p->device, p->binding, x->n_requests, x->load_s, x->prefill_tokens, x->prefill_s,
            x->decode_tokens, x->decode_s, x->generated, x->gen_s, per_second((double)x->generated, x->gen_s), x->wait_s, p->load_method,
            p->weights_bytes, p->weights_s, per_second(p->weights_bytes, p->weights_s) / 1e9);
}

int rank_report_write_json(const char *path, const RankReport *all, const RunTotals *t, Error *err) {
    OutputFile out;
    if (output_open(&out, path, NULL, 0, err) != 0) return -1;
    fprintf(out.fp, "{\n  \"ranks\": [\n");
    for (int r = 0; r < t->ranks; r++) {
        write_rank_json(out.fp, &all[r]);
        fprintf(out.fp, "%s\n", r + 1 < t->ranks ? "," : "");
    }
    /* generation tok/s: all tokens over the slowest rank's generation time (loads excluded) */
    fprintf(out.fp, "  ],\n  \"total_generated_tokens\": %ld,\n  \"total_tok_per_s\": %.3f,\n  \"generation_tok_per_s\": %.3f,\n  \"imbalance\": %.4f,\n",
            t->generated, per_second((double)t->generated, t->wall_s), per_second((double)t->generated, t->slowest_gen_s), t->imbalance);
    /* the names of getp's --report (src/run_report.c) */
    const Latency *l = &t->latency;
    fprintf(out.fp, "  \"ttft_p50_s\": %.6f,\n  \"ttft_p99_s\": %.6f,\n  \"tpot_p50_s\": %.6f,\n  \"tpot_p99_s\": %.6f\n}\n", l->ttft_p50,
            l->ttft_p99, l->tpot_p50, l->tpot_p99);
    return output_commit(&out, err);
}
