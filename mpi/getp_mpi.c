/* getp_mpi - one rank per GPU (or per CPU share): rank 0 validates the
 * requests, scatters them by estimated work, every rank runs the getp decode
 * loop on its share, and rank 0 gathers the results, writes the output in
 * request order (atomically) and prints the per-rank report.
 *
 * The math lives in src/; mpi/ is the distribution glue, and main below
 * reads as its six steps: validate (src/app.h), scatter (wire.h), load
 * (replica.h), generate (src/generate.h; the progress line: job_progress.h),
 * gather (wire.h, rank_report.h), write the output and the report
 * (src/app.h, rank_report.h). Every rank takes part in every collective,
 * idle ones included, and every error is agreed on collectively (an
 * MPI_Allreduce of a status flag) before the next step, so that a failure
 * anywhere ends all ranks with one message from rank 0 instead of a hang. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/app.h"
#include "../src/run_report.h"
#include "faults.h"
#include "job_progress.h"
#include "mpi_options.h"
#include "place.h"
#include "rank_report.h"
#include "replica.h"
#include "wire.h"

static const char *PROG = "getp_mpi";

/* What rank 0 holds from the validation to the output. */
typedef struct {
    Tokenizer *tok;
    RequestSet rs;
    GenRequest *reqs; /* the requests that run (n_reqs); reqs[k].prompt points into storage */
    int n_reqs;
    int *storage;
} Validated;

/* Rank 0: the tokenizer, the requests, the output and report paths and the
 * model's header, all checked before any rank loads a model. Returns 0, or
 * -1 after printing the one error message. */
static int validate(const Options *o, Validated *v) {
    Error err;
    char *tok_path = options_tokenizer_path(o);
    v->tok = tokenizer_load(tok_path, &err);
    free(tok_path);
    Model header;
    int failed = !v->tok || requests_read_as(o->input, o->input_format, o->on_error, &v->rs, &err) != 0 || app_check_output(o, o->output, &err) != 0 ||
                 app_check_report(o, &err) != 0 || app_open_model(o, &header, &err) != 0;
    if (!failed) {
        int context = app_context_limit(o, &header.config);
        failed = app_build_requests(o, v->tok, &v->rs, o->input, (int)header.config.vocab_size, context, &v->reqs, &v->n_reqs, &v->storage, &err) != 0;
        model_close(&header);
    }
    if (failed) {
        fprintf(stderr, "%s: error: %s\n", PROG, err.msg);
        return -1;
    }
    /* Rank 0 holds the validated requests from here on: the file may go. */
    if (fault_injected("unlink-requests", 0)) unlink(o->input);
    return 0;
}

static void validated_free(Validated *v) {
    free(v->reqs);
    free(v->storage);
    requests_free(&v->rs);
    tokenizer_free(v->tok);
}

/* Runs this rank's share into res, telling the job's progress line how it
 * goes; its times and token counts go into its report. Returns 0, or -1
 * with the reason in the report. */
static int generate_share(Replica *replica, const RankShare *mine, const RankPlace *p, JobProgress *jp, RequestResult *res, RankReport *me) {
    GenStats stats = {0};
    if (mine->n > 0) {
        GenProgress progress = fault_injected("kill", p->rank) ? fault_kill_self : jp->on ? job_progress_update : NULL;
        Error err;
        double t0 = MPI_Wtime();
        if (generate_run(replica->be, mine->reqs, mine->n, (GenLimits){replica->opts.batch, replica->opts.step_tokens, replica->opts.file_order}, res, &stats, progress, jp, &err) != 0)
            rank_report_fail(me, &err);
        me->gen_s = MPI_Wtime() - t0;
    }
    me->prefill_s = stats.prefill_seconds;
    me->decode_s = stats.decode_seconds;
    me->prefill_tokens = stats.prefill_tokens;
    me->decode_tokens = stats.decode_tokens;
    for (int j = 0; j < mine->n; j++) me->generated += res[j].n_tokens;
    return me->failed ? -1 : 0;
}

/* Rank 0: the results (in request order) as text, to the output file. */
static int write_output(const Options *o, const Validated *v, RequestResult *results) {
    app_decode_all(o, v->tok, &v->rs, results);
    Error err;
    int rc = app_write_results(o, v->tok, o->output, &v->rs, results, &err);
    if (rc != 0) fprintf(stderr, "%s: error: %s\n", PROG, err.msg);
    for (int i = 0; i < v->rs.n_results; i++) result_free_text(&results[i]);
    return rc != 0;
}

/* Rank 0: the per-rank report (text, and JSON with --report), once the
 * output is written, with the latency of every request that ran. */
static void report(const Options *o, const RankReport *all, int ranks, const Validated *v, const RequestResult *results, double wall_s) {
    Latency latency = run_report_latency_of(results, v->reqs, v->n_reqs);
    RunTotals t = rank_report_totals(all, ranks, v->rs.n, wall_s, &latency);
    rank_report_print(run_report_stream(o), all, &t);
    Error err;
    if (o->report_json && rank_report_write_json(o->report_json, all, &t, &err) != 0) fprintf(stderr, "%s: warning: %s\n", PROG, err.msg);
}

/* True on every rank when any rank's flag is set. */
static int any_failed(int failed) {
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

static int finish(int rc) {
    MPI_Finalize();
    return rc;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    RankPlace place;
    place_find(&place);
    Options o;
    MpiOptions mo;
    int prc = mpi_options_parse(&o, &mo, argc, argv, PROG, place.rank == 0 ? stderr : NULL);
    if (prc != 0 || o.mode != MODE_GETP) {
        if (prc == 0 && place.rank == 0) fprintf(stderr, "%s: only -m getp runs under MPI (use getp for generate and tokenize)\n", PROG);
        return finish(prc > 0 ? 0 : 2);
    }

    /* 1. Rank 0 validates everything before any rank loads a model. */
    Validated v = {0};
    int failed = place.rank == 0 && validate(&o, &v) != 0;
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) return finish(1);

    /* 2. Scatter: each rank gets its share of the requests. */
    RankShare mine;
    wire_scatter_requests(v.reqs, v.n_reqs, mo.schedule, &mine, MPI_COMM_WORLD); /* refused Batch API lines stay on rank 0 */

    /* 3. Bind, load, make the backend (idle ranks skip the load). */
    RankReport me;
    rank_report_init(&me, &place, mine.n);
    double t0 = MPI_Wtime();
    Replica replica;
    Error err;
    failed = replica_load(&replica, &o, &mo, &place, mine.reqs, mine.n, &err) != 0;
    me.replica = replica.info;
    me.load_s = MPI_Wtime() - t0;
    if (failed) rank_report_fail(&me, &err);
    /* requests with stop strings end once one is settled: their rank spells
     * the tokens (rank 0 has the tokenizer; the others read it as they read the model) */
    Tokenizer *rank_tok = NULL;
    if (!failed && mine.has_stops && place.rank == 0) rank_share_set_tokenizer(&mine, v.tok);
    if (!failed && mine.has_stops && place.rank != 0) {
        char *tok_path = options_tokenizer_path(&o);
        rank_tok = tokenizer_load(tok_path, &err);
        free(tok_path);
        if (rank_tok) rank_share_set_tokenizer(&mine, rank_tok);
        else failed = 1, rank_report_fail(&me, &err);
    }
    if (any_failed(failed)) {
        tokenizer_free(rank_tok);
        free(rank_report_gather(&me, PROG, MPI_COMM_WORLD));
        return finish(1);
    }

    /* 4. Generate, the whole job's progress line on rank 0. */
    JobProgress jp;
    job_progress_start(&jp, place.rank == 0 && run_report_wants_progress(&o), v.n_reqs, MPI_COMM_WORLD);
    RequestResult *res = xcalloc((size_t)(mine.n > 0 ? mine.n : 1), sizeof *res);
    failed = generate_share(&replica, &mine, &place, &jp, res, &me) != 0;

    /* 5. Agree on success (the wait here is the imbalance; rank 0 draws the
     * line while it waits), then gather. */
    double tw = MPI_Wtime();
    job_progress_end_share(&jp);
    int any = any_failed(failed);
    me.wait_s = MPI_Wtime() - tw;
    job_progress_free(&jp);
    RankReport *all = rank_report_gather(&me, PROG, MPI_COMM_WORLD);
    if (any) return finish(1);
    int *tokens;
    RequestResult *results = wire_gather_results(&mine, res, v.rs.n_results, &tokens, MPI_COMM_WORLD);

    /* 6. Rank 0 writes the output in request order, then the report. */
    int rc = 0;
    if (place.rank == 0) {
        rc = write_output(&o, &v, results);
        report(&o, all, place.size, &v, results, MPI_Wtime() - t0);
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; results && i < v.rs.n_results; i++) free(results[i].logprobs);
    free(results), free(tokens), free(all), validated_free(&v);
    for (int j = 0; j < mine.n; j++) result_free(&res[j]);
    free(res), rank_share_free(&mine), tokenizer_free(rank_tok);
    return finish(rc);
}
