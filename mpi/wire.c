#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* A request's header: these ints, then prompt_len prompt tokens. */
enum {
    REQ_INDEX,
    REQ_CHOICE,
    REQ_RESULT,
    REQ_PROMPT_LEN,
    REQ_MAX_NEW,
    REQ_TEMP_BITS,
    REQ_TOPP_BITS,
    REQ_MINP_BITS,
    REQ_TOP_K,
    REQ_LOGPROBS,
    REQ_SEED_LO,
    REQ_SEED_HI,
    REQ_IGNORE_EOS,
    REQ_STOP_INTS, /* ints of stop strings after the prompt (pack_stops) */
    REQ_INTS
};
/* A result's header: these ints, then n_tokens generated tokens, then (with
 * RES_LOGPROBS) their TokenLogprobs as LOGPROB_INTS ints each. */
enum { RES_RESULT, RES_N_TOKENS, RES_FINISH, RES_PROMPT_TOKENS, RES_LOGPROBS, RES_FIRST_TOKEN_S, RES_FINISH_S = RES_FIRST_TOKEN_S + 2, RES_INTS = RES_FINISH_S + 2 };
enum { LOGPROB_INTS = sizeof(TokenLogprobs) / sizeof(int) };
_Static_assert(sizeof(TokenLogprobs) % sizeof(int) == 0 && sizeof(double) == 2 * sizeof(int), "results travel as whole ints");

/* Stop strings travel after the prompt as ints: the count, then each
 * string's length and its bytes, four to an int. */
static long stop_ints(const GenParams *p) {
    if (p->n_stop == 0) return 0;
    long n = 1;
    for (int k = 0; k < p->n_stop; k++) n += 1 + ((long)strlen(p->stop[k]) + 3) / 4;
    return n;
}

static void pack_stops(int *out, const GenParams *p) {
    if (p->n_stop == 0) return;
    *out++ = p->n_stop;
    for (int k = 0; k < p->n_stop; k++) {
        int len = (int)strlen(p->stop[k]);
        *out++ = len;
        memset(out, 0, (size_t)(len + 3) / 4 * sizeof(int));
        memcpy(out, p->stop[k], (size_t)len);
        out += (len + 3) / 4;
    }
}

/* The stop strings of one request from in (stop_ints of them) into the
 * share's storage: pointers at *ptrs, text at *text (both advanced). */
static void unpack_stops(const int *in, GenParams *p, const char **ptrs, char *text) {
    p->n_stop = *in++;
    p->stop = ptrs;
    for (int k = 0; k < p->n_stop; k++) {
        int len = *in++;
        memcpy(text, in, (size_t)len);
        text[len] = 0;
        ptrs[k] = text;
        text += len + 1;
        in += (len + 3) / 4;
    }
}

static void pack_request(int *h, const GenRequest *q) {
    h[REQ_INDEX] = (int)q->index; /* its place in the file, not in reqs: refused Batch API lines are not sent */
    h[REQ_CHOICE] = q->choice;
    h[REQ_RESULT] = q->result;
    h[REQ_PROMPT_LEN] = q->prompt_len;
    h[REQ_MAX_NEW] = q->params.max_new_tokens;
    h[REQ_TEMP_BITS] = (int)float_to_bits(q->params.sample.temperature);
    h[REQ_TOPP_BITS] = (int)float_to_bits(q->params.sample.top_p);
    h[REQ_MINP_BITS] = (int)float_to_bits(q->params.sample.min_p);
    h[REQ_TOP_K] = q->params.sample.top_k;
    h[REQ_LOGPROBS] = q->params.sample.logprobs;
    h[REQ_SEED_LO] = (int)(uint32_t)q->params.seed;
    h[REQ_SEED_HI] = (int)(uint32_t)(q->params.seed >> 32);
    h[REQ_IGNORE_EOS] = q->params.ignore_eos;
    h[REQ_STOP_INTS] = (int)stop_ints(&q->params);
}

static GenRequest unpack_request(const int *h, const int *prompt) {
    SampleParams sp = {bits_to_float((uint32_t)h[REQ_TEMP_BITS]), bits_to_float((uint32_t)h[REQ_TOPP_BITS]),
                       bits_to_float((uint32_t)h[REQ_MINP_BITS]), h[REQ_TOP_K], h[REQ_LOGPROBS]};
    GenParams p = {h[REQ_MAX_NEW], sp, (uint64_t)(uint32_t)h[REQ_SEED_LO] | (uint64_t)(uint32_t)h[REQ_SEED_HI] << 32, h[REQ_IGNORE_EOS],
                   NULL, 0, NULL};
    return (GenRequest){prompt, h[REQ_PROMPT_LEN], p, (uint64_t)h[REQ_INDEX], h[REQ_CHOICE], h[REQ_RESULT]};
}

static void pack_double(int *h, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    h[0] = (int)(uint32_t)u;
    h[1] = (int)(uint32_t)(u >> 32);
}

static double unpack_double(const int *h) {
    uint64_t u = (uint64_t)(uint32_t)h[0] | (uint64_t)(uint32_t)h[1] << 32;
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void pack_result(int *h, const GenRequest *q, const RequestResult *r) {
    h[RES_RESULT] = q->result;
    h[RES_N_TOKENS] = r->n_tokens;
    h[RES_FINISH] = (int)r->finish;
    h[RES_PROMPT_TOKENS] = r->prompt_tokens;
    h[RES_LOGPROBS] = r->logprobs != NULL;
    pack_double(h + RES_FIRST_TOKEN_S, r->first_token_s);
    pack_double(h + RES_FINISH_S, r->finish_s);
}

/* The ints a result adds to the token stream. */
static long result_stream_ints(const RequestResult *r) { return r->n_tokens * (r->logprobs ? 1L + LOGPROB_INTS : 1L); }

/* Fills all[the result's place]; its tokens are the next n_tokens at
 * stream (pointed to, not copied), then its logprobs (copied). Returns the
 * ints it took from stream. */
static long unpack_result(const int *h, int *stream, RequestResult *all) {
    RequestResult *r = &all[h[RES_RESULT]];
    r->n_tokens = h[RES_N_TOKENS];
    r->finish = (FinishReason)h[RES_FINISH];
    r->prompt_tokens = h[RES_PROMPT_TOKENS];
    r->first_token_s = unpack_double(h + RES_FIRST_TOKEN_S);
    r->finish_s = unpack_double(h + RES_FINISH_S);
    r->tokens = stream;
    if (!h[RES_LOGPROBS]) return r->n_tokens;
    r->logprobs = xmalloc((size_t)(r->n_tokens > 0 ? r->n_tokens : 1) * sizeof *r->logprobs);
    memcpy(r->logprobs, stream + r->n_tokens, (size_t)r->n_tokens * sizeof *r->logprobs);
    return result_stream_ints(r);
}

/* Headers and tokens of every rank's part, end to end in rank order, with
 * each rank's count and offset (in ints): what rank 0 scatters or gathers. */
typedef struct {
    int *heads, *head_counts, *head_displs;
    int *tokens, *token_counts, *token_displs;
} Parcel;

static void parcel_init(Parcel *p, int size) {
    p->head_counts = xcalloc((size_t)size, sizeof(int));
    p->head_displs = xcalloc((size_t)size, sizeof(int));
    p->token_counts = xcalloc((size_t)size, sizeof(int));
    p->token_displs = xcalloc((size_t)size, sizeof(int));
}

static void parcel_free(Parcel *p) {
    free(p->heads);
    free(p->head_counts);
    free(p->head_displs);
    free(p->tokens);
    free(p->token_counts);
    free(p->token_displs);
}

static int *ints(long n) { return xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int)); }

/* Rank 0: each rank's requests, in the order the schedule has it run them. */
static void pack_requests(const GenRequest *reqs, int n, ScheduleKind kind, int size, Parcel *out) {
    /* the schedule deals out requests, a request's choices (next to each
     * other in reqs) together, so that their rank computes the prompt once */
    int *unit_first = ints(n + 1), n_units = 0;
    long *work = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *work), total_tokens = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || reqs[i].index != reqs[i - 1].index) work[n_units] = 0, unit_first[n_units++] = i;
        work[n_units - 1] += reqs[i].prompt_len + reqs[i].params.max_new_tokens;
        total_tokens += reqs[i].prompt_len + stop_ints(&reqs[i].params);
    }
    unit_first[n_units] = n;
    int *owner = ints(n_units), *order = ints(n_units), *first = ints(size + 1);
    schedule_assign(kind, work, n_units, size, owner, order, first);
    parcel_init(out, size);
    out->heads = ints((long)n * REQ_INTS);
    out->tokens = ints(total_tokens);
    long tpos = 0;
    int h = 0; /* requests packed so far */
    for (int r = 0; r < size; r++) {
        out->head_displs[r] = h * REQ_INTS;
        out->token_displs[r] = (int)tpos;
        for (int j = first[r]; j < first[r + 1]; j++)
            for (int i = unit_first[order[j]]; i < unit_first[order[j] + 1]; i++, h++) {
                const GenRequest *q = &reqs[i];
                pack_request(out->heads + (size_t)h * REQ_INTS, q);
                memcpy(out->tokens + tpos, q->prompt, (size_t)q->prompt_len * sizeof(int));
                pack_stops(out->tokens + tpos + q->prompt_len, &q->params);
                tpos += q->prompt_len + stop_ints(&q->params);
            }
        out->head_counts[r] = h * REQ_INTS - out->head_displs[r];
        out->token_counts[r] = (int)(tpos - out->token_displs[r]);
    }
    free(work);
    free(unit_first);
    free(owner);
    free(order);
    free(first);
}

void wire_scatter_requests(const GenRequest *reqs, int n, ScheduleKind kind, RankShare *mine, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    Parcel out = {0};
    if (rank == 0) pack_requests(reqs, n, kind, size, &out);
    int n_heads, n_tokens;
    MPI_Scatter(out.head_counts, 1, MPI_INT, &n_heads, 1, MPI_INT, 0, comm);
    MPI_Scatter(out.token_counts, 1, MPI_INT, &n_tokens, 1, MPI_INT, 0, comm);
    int *heads = ints(n_heads);
    mine->prompts = ints(n_tokens);
    MPI_Scatterv(out.heads, out.head_counts, out.head_displs, MPI_INT, heads, n_heads, MPI_INT, 0, comm);
    MPI_Scatterv(out.tokens, out.token_counts, out.token_displs, MPI_INT, mine->prompts, n_tokens, MPI_INT, 0, comm);
    parcel_free(&out);
    mine->n = n_heads / REQ_INTS;
    mine->reqs = xcalloc((size_t)(mine->n > 0 ? mine->n : 1), sizeof *mine->reqs);
    /* room for the stop strings: fewer pointers than ints, text no longer than 4 bytes an int plus NULs */
    long stop_total = 0;
    for (int j = 0; j < mine->n; j++) stop_total += heads[(size_t)j * REQ_INTS + REQ_STOP_INTS];
    mine->stop_ptrs = xmalloc((size_t)(stop_total > 0 ? stop_total : 1) * sizeof *mine->stop_ptrs);
    mine->stop_text = xmalloc((size_t)(stop_total > 0 ? 5 * stop_total : 1));
    const char **ptrs = mine->stop_ptrs;
    char *text = mine->stop_text;
    for (int j = 0, tpos = 0; j < mine->n; j++) {
        const int *h = heads + (size_t)j * REQ_INTS;
        mine->reqs[j] = unpack_request(h, mine->prompts + tpos);
        tpos += h[REQ_PROMPT_LEN];
        if (h[REQ_STOP_INTS] > 0) {
            GenParams *p = &mine->reqs[j].params;
            unpack_stops(mine->prompts + tpos, p, ptrs, text);
            ptrs += p->n_stop;
            for (int k = 0; k < p->n_stop; k++) text += strlen(p->stop[k]) + 1;
            mine->has_stops = 1;
        }
        tpos += h[REQ_STOP_INTS];
    }
    free(heads);
}

/* Rank 0: room for every rank's results, from the sizes each sends first. */
static void expect_results(Parcel *in, const int *sizes, int size) {
    parcel_init(in, size);
    long heads = 0, tokens = 0;
    for (int r = 0; r < size; r++) {
        in->head_counts[r] = sizes[2 * r], in->head_displs[r] = (int)heads, heads += in->head_counts[r];
        in->token_counts[r] = sizes[2 * r + 1], in->token_displs[r] = (int)tokens, tokens += in->token_counts[r];
    }
    in->heads = ints(heads);
    in->tokens = ints(tokens);
}

RequestResult *wire_gather_results(const RankShare *mine, const RequestResult *res, int n, int **tokens, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    *tokens = NULL;
    int my_sizes[2] = {mine->n * RES_INTS, 0};
    for (int j = 0; j < mine->n; j++) my_sizes[1] += (int)result_stream_ints(&res[j]);
    int *heads = ints(my_sizes[0]), *toks = ints(my_sizes[1]);
    for (int j = 0, tpos = 0; j < mine->n; j++) {
        pack_result(heads + (size_t)j * RES_INTS, &mine->reqs[j], &res[j]);
        memcpy(toks + tpos, res[j].tokens, (size_t)res[j].n_tokens * sizeof(int));
        if (res[j].logprobs) memcpy(toks + tpos + res[j].n_tokens, res[j].logprobs, (size_t)res[j].n_tokens * sizeof *res[j].logprobs);
        tpos += (int)result_stream_ints(&res[j]);
    }
    int *sizes = rank == 0 ? ints(2L * size) : NULL;
    MPI_Gather(my_sizes, 2, MPI_INT, sizes, 2, MPI_INT, 0, comm);
    Parcel in = {0};
    if (rank == 0) expect_results(&in, sizes, size);
    MPI_Gatherv(heads, my_sizes[0], MPI_INT, in.heads, in.head_counts, in.head_displs, MPI_INT, 0, comm);
    MPI_Gatherv(toks, my_sizes[1], MPI_INT, in.tokens, in.token_counts, in.token_displs, MPI_INT, 0, comm);
    free(heads);
    free(toks);
    free(sizes);
    RequestResult *all = NULL;
    if (rank == 0) {
        all = xcalloc((size_t)(n > 0 ? n : 1), sizeof *all);
        long received = 0; /* fewer than n when some requests did not run (refused Batch API lines) */
        for (int r = 0; r < size; r++) received += in.head_counts[r] / RES_INTS;
        for (long j = 0, tpos = 0; j < received; j++) {
            const int *h = in.heads + (size_t)j * RES_INTS;
            tpos += unpack_result(h, in.tokens + tpos, all);
        }
        *tokens = in.tokens, in.tokens = NULL; /* the caller's now */
    }
    parcel_free(&in);
    return all;
}

void rank_share_set_tokenizer(RankShare *s, const Tokenizer *tok) {
    for (int j = 0; j < s->n; j++) s->reqs[j].params.tok = tok;
}

void rank_share_free(RankShare *s) {
    free(s->reqs);
    free(s->prompts);
    free(s->stop_ptrs);
    free(s->stop_text);
}
