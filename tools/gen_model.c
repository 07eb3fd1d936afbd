/* gen_model - writes a deterministic random gpt-oss model for any shape.
 *
 * The same (preset, overrides, dtypes, seed) always produces the same bytes:
 * each tensor's values come from an RNG stream keyed by (seed, tensor name).
 * Scales keep activations O(1) through the layers so that random models
 * still produce varied, non-degenerate logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model_writer.h"
#include "../src/presets.h"
#include "../src/rng.h"

typedef struct {
    uint64_t seed;
} GenCtx;

#define PARALLEL_ABOVE (1ull << 24) /* tensors larger than this are filled in chunks */
#define CHUNK (1ull << 20)

static float uniform_pm1(Rng *r) { return 2.0f * rng_uniform(r) - 1.0f; }

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int fill_random(void *vctx, const TensorSpec *spec, DType dtype, uint8_t *buf, uint64_t nbytes, Error *err) {
    (void)nbytes;
    (void)err;
    GenCtx *ctx = vctx;
    uint64_t n = 1;
    for (uint32_t d = 0; d < spec->ndim; d++) n *= spec->shape[d];
    uint64_t row = spec->shape[spec->ndim - 1];
    Rng r = rng_stream(ctx->seed, hash_string(spec->name));
    float *v = xmalloc(n * sizeof(float));
    /* uniform(-a, a) has std a/sqrt(3); matrices get std 1/sqrt(fan_in) */
    float a;
    float center = 0.0f;
    if (ends_with(spec->name, "norm") || strcmp(spec->name, "norm") == 0) {
        a = 0.2f;
        center = 1.0f;
    } else if (ends_with(spec->name, ".bias")) {
        a = 0.1f;
    } else if (ends_with(spec->name, ".sinks")) {
        a = 1.0f;
    } else if (strcmp(spec->name, "embedding") == 0) {
        a = 1.7f;
    } else {
        a = sqrtf(3.0f / (float)row);
    }
    if (n <= PARALLEL_ABOVE) {
        for (uint64_t i = 0; i < n; i++) v[i] = center + a * uniform_pm1(&r);
    } else { /* full-size shapes: one stream per chunk, filled in parallel (same bytes for any thread count) */
        uint64_t key = rng_u64(&r), chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(dynamic)
        for (uint64_t c = 0; c < chunks; c++) {
            Rng rc = rng_stream(key, c);
            uint64_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
            for (uint64_t i = c * CHUNK; i < end; i++) v[i] = center + a * uniform_pm1(&rc);
        }
    }
    encode_f32_as(dtype, v, n, row, buf);
    free(v);
    return 0;
}

static DType parse_dtype(const char *s) {
    if (strcmp(s, "f32") == 0) return DTYPE_F32;
    if (strcmp(s, "bf16") == 0) return DTYPE_BF16;
    if (strcmp(s, "mxfp4") == 0) return DTYPE_MXFP4;
    fprintf(stderr, "gen_model: unknown dtype '%s' (f32, bf16, mxfp4)\n", s);
    exit(2);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: gen_model OUT.bin [--preset NAME] [--dtype f32|bf16] [--experts f32|bf16|mxfp4]\n"
            "                 [--seed N] [--layers N] [--vocab N] [--context N] [--hidden N] [--head-dim N]\n"
            "Writes a deterministic random gpt-oss model.\n"
            "  --preset   one of: %s (default tiny)\n"
            "  --dtype    dense matrices and embeddings (default bf16)\n"
            "  --experts  expert matrices (default mxfp4)\n"
            "  --seed     RNG seed (default 1)\n"
            "  --layers, --vocab, --context, --hidden, --head-dim  override the preset\n",
            preset_names());
}

int main(int argc, char **argv) {
    const char *out = NULL, *preset = "tiny";
    DType dense = DTYPE_BF16, experts = DTYPE_MXFP4;
    GenCtx ctx = {1};
    long layers = 0, vocab = 0, context = 0, hidden = 0, head_dim = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--preset") && has_val) {
            preset = argv[++i];
        } else if (!strcmp(a, "--dtype") && has_val) {
            dense = parse_dtype(argv[++i]);
        } else if (!strcmp(a, "--experts") && has_val) {
            experts = parse_dtype(argv[++i]);
        } else if (!strcmp(a, "--seed") && has_val) {
            ctx.seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--layers") && has_val) {
            layers = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--vocab") && has_val) {
            vocab = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--context") && has_val) {
            context = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--hidden") && has_val) {
            hidden = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--head-dim") && has_val) {
            head_dim = strtol(argv[++i], NULL, 10);
        } else if (a[0] != '-' && !out) {
            out = a;
        } else {
            fprintf(stderr, "gen_model: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    if (dense == DTYPE_MXFP4) {
        fprintf(stderr, "gen_model: --dtype mxfp4 is not allowed (only expert matrices may be MXFP4)\n");
        return 2;
    }
    ModelConfig c;
    if (preset_config(preset, &c) != 0) {
        fprintf(stderr, "gen_model: unknown preset '%s' (%s)\n", preset, preset_names());
        return 2;
    }
    if (layers > 0) {
        c.n_layers = (uint32_t)layers;
        for (uint32_t l = 0; l < MODEL_MAX_LAYERS; l++) c.layer_sliding[l] = l < c.n_layers && l % 2 == 0;
    }
    if (vocab > 0) c.vocab_size = (uint32_t)vocab;
    if (context > 0) c.max_context = (uint32_t)context;
    if (hidden > 0) c.hidden = (uint32_t)hidden;
    if (head_dim > 0) c.head_dim = (uint32_t)head_dim;
    Error err;
    if (model_write(out, &c, dense, experts, fill_random, &ctx, &err) != 0) {
        fprintf(stderr, "gen_model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
