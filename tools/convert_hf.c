/* convert_hf - converts a Hugging Face gpt-oss checkpoint directory
 * (config.json + *.safetensors, dense or MXFP4 experts, as published for
 * openai/gpt-oss-20b and -120b) into a getp model file.
 *
 * MXFP4 expert blocks are copied as they are (the getp layout stores a
 * tensor's blocks, then its scales) unless --widen asks for dense experts.
 * Dense expert tensors are transposed from HF's [E, in, out] to getp's
 * [E, out, in]. Vectors are stored as F32. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/json.h"
#include "../src/model_writer.h"

typedef enum { ST_F32, ST_BF16, ST_F16, ST_U8 } StDType;

typedef struct {
    char *name;
    StDType dtype;
    int ndim;
    uint64_t shape[4];
    const uint8_t *data;
    uint64_t nbytes;
    const char *file;
} StTensor;

typedef struct {
    StTensor *t;
    int n, cap;
    char **files;
    int n_files;
} Checkpoint;

static int st_dtype(const char *s, StDType *d) {
    if (!strcmp(s, "F32")) *d = ST_F32;
    else if (!strcmp(s, "BF16")) *d = ST_BF16;
    else if (!strcmp(s, "F16")) *d = ST_F16;
    else if (!strcmp(s, "U8")) *d = ST_U8;
    else return -1;
    return 0;
}
static uint64_t st_size(StDType d) { return d == ST_F32 ? 4 : d == ST_U8 ? 1 : 2; }

/* Maps one .safetensors file and adds its tensors. */
static int load_safetensors(Checkpoint *ck, const char *path, Error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    fstat(fd, &st);
    size_t len = (size_t)st.st_size;
    if (len < 8) {
        close(fd);
        return error_set(err, "%s: not a safetensors file (too short)", path);
    }
    uint8_t *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return error_set(err, "%s: mmap failed", path);
    uint64_t hlen = read_u64le(map);
    if (hlen > len - 8) return error_set(err, "%s: header length %llu past the end of the file", path, (unsigned long long)hlen);
    Error jerr;
    JsonValue *h = json_parse((const char *)map + 8, hlen, &jerr);
    if (!h || h->type != JSON_OBJECT) return error_set(err, "%s: bad safetensors header: %s", path, h ? "not an object" : jerr.msg);
    const uint8_t *base = map + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    ck->files = xrealloc(ck->files, (size_t)(ck->n_files + 1) * sizeof(char *));
    ck->files[ck->n_files++] = xstrdup(path);
    for (size_t i = 0; i < h->n; i++) {
        if (!strcmp(h->keys[i], "__metadata__")) continue;
        const JsonValue *e = &h->items[i];
        const JsonValue *dt = json_get(e, "dtype"), *shape = json_get(e, "shape"), *off = json_get(e, "data_offsets");
        StTensor t = {0};
        t.name = xstrdup(h->keys[i]);
        t.file = ck->files[ck->n_files - 1];
        if (!dt || dt->type != JSON_STRING || st_dtype(dt->string, &t.dtype) != 0 || !shape || shape->type != JSON_ARRAY ||
            shape->n > 4 || !off || off->type != JSON_ARRAY || off->n != 2) {
            json_free(h);
            return error_set(err, "%s: tensor '%s': unsupported dtype or malformed entry", path, t.name);
        }
        t.ndim = (int)shape->n;
        uint64_t n = 1;
        for (int d = 0; d < t.ndim; d++) n *= (t.shape[d] = (uint64_t)shape->items[d].number);
        uint64_t a = (uint64_t)off->items[0].number, b = (uint64_t)off->items[1].number;
        if (b < a || b > data_len || b - a != n * st_size(t.dtype)) {
            json_free(h);
            return error_set(err, "%s: tensor '%s': data offsets out of range or not matching its shape", path, t.name);
        }
        t.data = base + a;
        t.nbytes = b - a;
        if (ck->n == ck->cap) ck->t = xrealloc(ck->t, (size_t)(ck->cap = ck->cap ? 2 * ck->cap : 256) * sizeof(StTensor));
        ck->t[ck->n++] = t;
    }
    json_free(h);
    return 0;
}

static const StTensor *find(const Checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

static float st_get(const StTensor *t, uint64_t i) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: return read_f32le(p + 4 * i);
    case ST_BF16: return bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case ST_F16: {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        int e = (h >> 10) & 31, m = h & 1023;
        float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
        return (h & 0x8000) ? -v : v;
    }
    case ST_U8: return p[i];
    }
    return 0;
}

/* ---- config.json ---- */

static int read_config(const char *dir, ModelConfig *c, Error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    Error jerr;
    JsonValue *j = json_parse(text, len, &jerr);
    free(text);
    if (!j) return error_set(err, "%s: %s", path, jerr.msg);
    memset(c, 0, sizeof *c);
    const JsonValue *rope = json_get(j, "rope_parameters");
    if (!rope || rope->type != JSON_OBJECT) rope = json_get(j, "rope_scaling");
    struct {
        const char *key, *alt;
        uint32_t *dst;
    } ints[] = {{"vocab_size", NULL, &c->vocab_size},
                {"hidden_size", NULL, &c->hidden},
                {"num_hidden_layers", NULL, &c->n_layers},
                {"num_attention_heads", NULL, &c->n_heads},
                {"num_key_value_heads", NULL, &c->n_kv_heads},
                {"head_dim", NULL, &c->head_dim},
                {"num_local_experts", NULL, &c->n_experts},
                {"num_experts_per_tok", "experts_per_token", &c->experts_per_token},
                {"intermediate_size", NULL, &c->intermediate},
                {"max_position_embeddings", NULL, &c->max_context},
                {"sliding_window", NULL, &c->sliding_window}};
    int rc = 0;
    for (size_t i = 0; i < sizeof ints / sizeof *ints && rc == 0; i++) {
        double v = json_number(j, ints[i].key, ints[i].alt ? json_number(j, ints[i].alt, -1) : -1);
        if (v < 0) rc = error_set(err, "%s: missing or invalid \"%s\"", path, ints[i].key);
        *ints[i].dst = (uint32_t)v;
    }
    if (rc == 0) {
        c->rope_theta = (float)json_number(j, "rope_theta", json_number(rope, "rope_theta", 10000.0));
        c->rope_scaling_factor = (float)json_number(rope, "factor", 1.0);
        c->rope_beta_fast = (float)json_number(rope, "beta_fast", 32.0);
        c->rope_beta_slow = (float)json_number(rope, "beta_slow", 1.0);
        c->initial_context = (uint32_t)json_number(j, "initial_context_length", json_number(rope, "original_max_position_embeddings", c->max_context));
        c->swiglu_limit = (float)json_number(j, "swiglu_limit", 7.0);
        c->rms_eps = (float)json_number(j, "rms_norm_eps", 1e-5);
        const JsonValue *truncate = json_get(rope, "truncate");
        if (truncate && truncate->type == JSON_BOOL && truncate->number != 0 && c->rope_scaling_factor > 1)
            fprintf(stderr, "convert_hf: warning: rope \"truncate\": true is not what gpt-oss uses; getp does not truncate\n");
        const JsonValue *types = json_get(j, "layer_types");
        if (types && types->type == JSON_ARRAY) {
            if (types->n != c->n_layers) rc = error_set(err, "%s: layer_types has %zu entries for %u layers", path, types->n, c->n_layers);
            for (size_t l = 0; l < types->n && rc == 0 && l < MODEL_MAX_LAYERS; l++)
                c->layer_sliding[l] = types->items[l].type == JSON_STRING && !strcmp(types->items[l].string, "sliding_attention");
        } else {
            for (uint32_t l = 0; l < c->n_layers && l < MODEL_MAX_LAYERS; l++) c->layer_sliding[l] = l % 2 == 0;
        }
    }
    json_free(j);
    if (rc == 0 && model_config_validate(c, err) != 0) {
        char inner[sizeof err->msg];
        memcpy(inner, err->msg, sizeof inner);
        rc = error_set(err, "%s: %s", path, inner);
    }
    return rc;
}

/* ---- tensor mapping ---- */

typedef struct {
    Checkpoint ck;
    const ModelConfig *c;
} ConvCtx;

/* The HF name for a getp tensor name, and whether it is stored [E, in, out]. */
static int hf_name(const char *ours, char *out, size_t n) {
    int layer;
    char rest[64];
    if (!strcmp(ours, "embedding")) return snprintf(out, n, "model.embed_tokens.weight"), 0;
    if (!strcmp(ours, "norm")) return snprintf(out, n, "model.norm.weight"), 0;
    if (!strcmp(ours, "unembedding")) return snprintf(out, n, "lm_head.weight"), 0;
    if (sscanf(ours, "layers.%d.%63s", &layer, rest) != 2) return -1;
    static const char *map[][2] = {
        {"attn_norm", "input_layernorm.weight"},
        {"attn.q.weight", "self_attn.q_proj.weight"},
        {"attn.q.bias", "self_attn.q_proj.bias"},
        {"attn.k.weight", "self_attn.k_proj.weight"},
        {"attn.k.bias", "self_attn.k_proj.bias"},
        {"attn.v.weight", "self_attn.v_proj.weight"},
        {"attn.v.bias", "self_attn.v_proj.bias"},
        {"attn.o.weight", "self_attn.o_proj.weight"},
        {"attn.o.bias", "self_attn.o_proj.bias"},
        {"attn.sinks", "self_attn.sinks"},
        {"mlp_norm", "post_attention_layernorm.weight"},
        {"router.weight", "mlp.router.weight"},
        {"router.bias", "mlp.router.bias"},
        {"experts.gate_up.weight", "mlp.experts.gate_up_proj"},
        {"experts.gate_up.bias", "mlp.experts.gate_up_proj_bias"},
        {"experts.down.weight", "mlp.experts.down_proj"},
        {"experts.down.bias", "mlp.experts.down_proj_bias"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(rest, map[i][0])) return snprintf(out, n, "model.layers.%d.%s", layer, map[i][1]), 0;
    return -1;
}

static int shape_is(const StTensor *t, int ndim, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    uint64_t want[4] = {a, b, c, d};
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != want[i]) return 0;
    return 1;
}

static int fill_from_checkpoint(void *vctx, const TensorSpec *spec, DType dtype, uint8_t *buf, uint64_t nbytes, Error *err) {
    ConvCtx *ctx = vctx;
    char name[160], blk_name[192], scl_name[192];
    if (hf_name(spec->name, name, sizeof name) != 0) return error_set(err, "no HF name for '%s'", spec->name);
    uint64_t n = 1;
    for (uint32_t d = 0; d < spec->ndim; d++) n *= spec->shape[d];
    if (spec->expert_matrix) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        snprintf(blk_name, sizeof blk_name, "%s_blocks", name);
        snprintf(scl_name, sizeof scl_name, "%s_scales", name);
        const StTensor *blk = find(&ctx->ck, blk_name), *scl = find(&ctx->ck, scl_name);
        if (blk && scl) {
            if (!shape_is(blk, 4, E, out, in / 32, 16) || !shape_is(scl, 3, E, out, in / 32, 0) || blk->dtype != ST_U8 || scl->dtype != ST_U8)
                return error_set(err, "%s: %s/%s have the wrong shape or dtype for the config", blk->file, blk_name, scl_name);
            if (dtype == DTYPE_MXFP4) { /* same bytes: all blocks, then all scales */
                memcpy(buf, blk->data, blk->nbytes);
                memcpy(buf + blk->nbytes, scl->data, scl->nbytes);
                return 0;
            }
            /* widen: decode through a temporary MXFP4 tensor view */
            uint8_t *packed = xmalloc(blk->nbytes + scl->nbytes);
            memcpy(packed, blk->data, blk->nbytes);
            memcpy(packed + blk->nbytes, scl->data, scl->nbytes);
            Tensor view = {.dtype = DTYPE_MXFP4, .ndim = 3, .shape = {E, out, in}, .data = packed};
            float *f = xmalloc(n * sizeof(float));
            for (uint64_t r = 0; r < E * out; r++) tensor_read_row(&view, r, f + r * in);
            encode_f32_as(dtype, f, n, in, buf);
            free(f);
            free(packed);
            return 0;
        }
        const StTensor *t = find(&ctx->ck, name);
        if (!t) return error_set(err, "checkpoint has neither '%s' nor its MXFP4 '_blocks'/'_scales'", name);
        if (!shape_is(t, 3, E, in, out, 0)) return error_set(err, "%s: '%s' should be [%llu, %llu, %llu]", t->file, name,
                                                            (unsigned long long)E, (unsigned long long)in, (unsigned long long)out);
        float *f = xmalloc(n * sizeof(float));
        for (uint64_t e = 0; e < E; e++)
            for (uint64_t i = 0; i < in; i++)
                for (uint64_t o = 0; o < out; o++) f[(e * out + o) * in + i] = st_get(t, (e * in + i) * out + o);
        encode_f32_as(dtype, f, n, in, buf);
        free(f);
        return 0;
    }
    const StTensor *t = find(&ctx->ck, name);
    if (!t) return error_set(err, "checkpoint has no tensor '%s'", name);
    int ok = t->ndim == (int)spec->ndim && t->dtype != ST_U8;
    for (uint32_t d = 0; ok && d < spec->ndim; d++) ok = t->shape[d] == spec->shape[d];
    if (!ok) return error_set(err, "%s: '%s' has the wrong shape or dtype for the config", t->file, name);
    float *f = xmalloc(n * sizeof(float));
    for (uint64_t i = 0; i < n; i++) f[i] = st_get(t, i);
    encode_f32_as(dtype, f, n, spec->shape[spec->ndim - 1], buf);
    free(f);
    (void)nbytes;
    return 0;
}

static int load_checkpoint(Checkpoint *ck, const char *dir, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0, found = 0;
    while ((e = readdir(d)) && rc == 0) {
        size_t l = strlen(e->d_name);
        if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors")) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            rc = load_safetensors(ck, path, err);
            found++;
        }
    }
    closedir(d);
    if (rc == 0 && !found) rc = error_set(err, "%s: no .safetensors files", dir);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: convert_hf CHECKPOINT_DIR OUT.bin [--dtype keep|f32|bf16] [--widen]\n"
            "Converts a Hugging Face gpt-oss checkpoint (config.json + *.safetensors) to a getp model.\n"
            "  --dtype  dense matrices: keep the checkpoint's (default), or f32 / bf16\n"
            "  --widen  store MXFP4 experts dense (in the dense dtype) instead of as MXFP4\n");
}

int main(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *dtype_arg = "keep";
    int widen = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            dtype_arg = argv[++i];
        } else if (!strcmp(argv[i], "--widen")) {
            widen = 1;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else if (argv[i][0] != '-' && !out) {
            out = argv[i];
        } else {
            fprintf(stderr, "convert_hf: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir || !out) {
        usage(stderr);
        return 2;
    }
    Error err;
    ModelConfig c;
    ConvCtx ctx = {{0}, &c};
    if (read_config(dir, &c, &err) != 0 || load_checkpoint(&ctx.ck, dir, &err) != 0) {
        fprintf(stderr, "convert_hf: %s\n", err.msg);
        return 1;
    }
    const StTensor *emb = find(&ctx.ck, "model.embed_tokens.weight");
    DType dense;
    if (!strcmp(dtype_arg, "f32")) dense = DTYPE_F32;
    else if (!strcmp(dtype_arg, "bf16")) dense = DTYPE_BF16;
    else if (!strcmp(dtype_arg, "keep")) dense = emb && emb->dtype == ST_F32 ? DTYPE_F32 : DTYPE_BF16;
    else {
        fprintf(stderr, "convert_hf: unknown --dtype '%s'\n", dtype_arg);
        return 2;
    }
    char probe[128];
    snprintf(probe, sizeof probe, "model.layers.0.mlp.experts.gate_up_proj_blocks");
    DType experts = find(&ctx.ck, probe) && !widen ? DTYPE_MXFP4 : dense;
    if (model_write(out, &c, dense, experts, fill_from_checkpoint, &ctx, &err) != 0) {
        fprintf(stderr, "convert_hf: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "convert_hf: wrote %s (%u layers, %u experts, dense %s, experts %s)\n", out, c.n_layers, c.n_experts,
            dtype_name(dense), dtype_name(experts));
    return 0;
}
