/* convert_hf - converts a Hugging Face gpt-oss checkpoint directory
 * (config.json + *.safetensors, dense or MXFP4 experts, as published for
 * openai/gpt-oss-20b and -120b) into a getp model file.
 *
 * MXFP4 expert blocks are copied as they are (the getp layout stores a
 * tensor's blocks, then its scales) unless --widen asks for dense experts.
 * Dense expert tensors are transposed from HF's [E, in, out] to getp's
 * [E, out, in]. Vectors are stored as F32.
 *
 * Every number read from config.json or a safetensors header is checked for
 * its type and range before it is cast; a bad one is an error naming the
 * file and the field. The readers: tools/hf_config.h (config.json) and
 * tools/safetensors.h (the tensors; JSON checks shared in json_check.h).
 * This file maps getp's tensor names to HF's, checks every tensor against
 * the config, and writes the model. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model_writer.h"
#include "../src/output_file.h"
#include "hf_config.h"
#include "safetensors.h"

/* ---- tensor mapping ---- */

typedef struct {
    Checkpoint ck;
    const char *dir;
    const ModelConfig *c;
} ConvCtx;

/* The HF name for a getp tensor name into out; -1 for a name it does not know. */
static int hf_name(const char *ours, char *out, size_t n) {
    int layer;
    char rest[64];
    if (!strcmp(ours, "embedding")) return snprintf(out, n, "model.embed_tokens.weight"), 0;
    if (!strcmp(ours, "norm")) return snprintf(out, n, "model.norm.weight"), 0;
    if (!strcmp(ours, "unembedding")) return snprintf(out, n, "lm_head.weight"), 0;
    if (sscanf(ours, "layers.%d.%63s", &layer, rest) != 2) return -1;
    static const char *const map[][2] = {
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

/* t is [want[0], ..., want[ndim-1]] with dtype U8 (u8) or a float dtype (!u8);
 * else an error naming t's file, its shape or dtype and what the config needs. */
static int check_shape(const StTensor *t, int ndim, const uint64_t *want, int u8, Error *err) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char have[128], need[128];
        st_shape_str(have, sizeof have, t->ndim, t->shape);
        st_shape_str(need, sizeof need, ndim, want);
        return error_set(err, "%s: tensor '%s' is [%s], the config needs [%s]", t->file, t->name, have, need);
    }
    if ((t->dtype == ST_U8) != u8)
        return error_set(err, "%s: tensor '%s' has dtype %s, it must be %s", t->file, t->name, st_dtype_name(t->dtype),
                         u8 ? "U8" : "F32, BF16 or F16");
    return 0;
}

/* Where getp tensor `spec` comes from: an MXFP4 pair of blocks and scales,
 * or one tensor (dense experts are [E, in, out] in HF), its shape and dtype
 * checked against the config. */
typedef struct {
    const StTensor *t, *blk, *scl;
} Source;

static int locate(const ConvCtx *ctx, const TensorSpec *spec, Source *src, Error *err) {
    char name[160], blk_name[192], scl_name[192];
    memset(src, 0, sizeof *src);
    if (hf_name(spec->name, name, sizeof name) != 0) return error_set(err, "no HF name for '%s'", spec->name);
    if (spec->expert_matrix) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        snprintf(blk_name, sizeof blk_name, "%s_blocks", name);
        snprintf(scl_name, sizeof scl_name, "%s_scales", name);
        src->blk = checkpoint_find(&ctx->ck, blk_name);
        src->scl = checkpoint_find(&ctx->ck, scl_name);
        if (src->blk && src->scl) {
            const uint64_t blk_shape[4] = {E, out, in / 32, 16}, scl_shape[3] = {E, out, in / 32};
            if (check_shape(src->blk, 4, blk_shape, 1, err) != 0 || check_shape(src->scl, 3, scl_shape, 1, err) != 0) return -1;
            return 0;
        }
        src->blk = src->scl = NULL;
        src->t = checkpoint_find(&ctx->ck, name);
        if (!src->t) return error_set(err, "%s: the checkpoint has neither '%s' nor its MXFP4 '_blocks' and '_scales'", ctx->dir, name);
        const uint64_t hf_shape[3] = {E, in, out};
        return check_shape(src->t, 3, hf_shape, 0, err);
    }
    src->t = checkpoint_find(&ctx->ck, name);
    if (!src->t) return error_set(err, "%s: the checkpoint has no tensor '%s'", ctx->dir, name);
    return check_shape(src->t, (int)spec->ndim, spec->shape, 0, err);
}

/* Every tensor located and checked before model_write allocates and writes
 * any: a checkpoint that does not match its config fails here, at no cost. */
static int check_checkpoint(const ConvCtx *ctx, Error *err) {
    uint32_t n;
    TensorSpec *specs = layout_tensor_specs(ctx->c, &n);
    int rc = 0;
    Source src;
    for (uint32_t i = 0; i < n && rc == 0; i++) rc = locate(ctx, &specs[i], &src, err);
    free(specs);
    return rc;
}

static int fill_from_checkpoint(void *vctx, const TensorSpec *spec, DType dtype, uint8_t *buf, uint64_t nbytes, Error *err) {
    const ConvCtx *ctx = vctx;
    Source src;
    if (locate(ctx, spec, &src, err) != 0) return -1;
    uint64_t n = 1;
    for (uint32_t d = 0; d < spec->ndim; d++) n *= spec->shape[d];
    if (src.blk) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        if (dtype == DTYPE_MXFP4) { /* same bytes: all blocks, then all scales */
            memcpy(buf, src.blk->data, src.blk->nbytes);
            memcpy(buf + src.blk->nbytes, src.scl->data, src.scl->nbytes);
            return 0;
        }
        /* widen: decode through a temporary MXFP4 tensor view */
        uint8_t *packed = xmalloc(src.blk->nbytes + src.scl->nbytes);
        memcpy(packed, src.blk->data, src.blk->nbytes);
        memcpy(packed + src.blk->nbytes, src.scl->data, src.scl->nbytes);
        Tensor view = {.dtype = DTYPE_MXFP4, .ndim = 3, .shape = {E, out, in}, .data = packed};
        float *f = xmalloc(n * sizeof(float));
        for (uint64_t r = 0; r < E * out; r++) tensor_read_row(&view, r, f + r * in);
        encode_f32_as(dtype, f, n, in, buf);
        free(f);
        free(packed);
        return 0;
    }
    const StTensor *t = src.t;
    float *f = xmalloc(n * sizeof(float));
    if (spec->expert_matrix) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        for (uint64_t e = 0; e < E; e++)
            for (uint64_t i = 0; i < in; i++)
                for (uint64_t o = 0; o < out; o++) f[(e * out + o) * in + i] = st_get(t, (e * in + i) * out + o);
    } else {
        for (uint64_t i = 0; i < n; i++) f[i] = st_get(t, i);
    }
    encode_f32_as(dtype, f, n, spec->shape[spec->ndim - 1], buf);
    free(f);
    (void)nbytes;
    return 0;
}

/* The output must not be one of the checkpoint's own files (config.json, a
 * shard): checked by file, as getp checks -o against its inputs. */
static int check_output_not_an_input(const char *dir, const char *out, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
    int n = 0, cap = 16, rc;
    OutputInput *in = xmalloc((size_t)cap * sizeof *in);
    char **paths = xmalloc((size_t)cap * sizeof *paths);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) in = xrealloc(in, (size_t)(cap *= 2) * sizeof *in), paths = xrealloc(paths, (size_t)cap * sizeof *paths);
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        paths[n] = xmalloc(len);
        snprintf(paths[n], len, "%s/%s", dir, e->d_name);
        in[n] = (OutputInput){"a file of the checkpoint", paths[n]};
        n++;
    }
    closedir(d);
    rc = output_check(out, in, n, err);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(in);
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
    int keep = !strcmp(dtype_arg, "keep");
    DType dense = !strcmp(dtype_arg, "f32") ? DTYPE_F32 : DTYPE_BF16;
    if (!keep && strcmp(dtype_arg, "f32") && strcmp(dtype_arg, "bf16")) {
        fprintf(stderr, "convert_hf: unknown --dtype '%s'\n", dtype_arg);
        return 2;
    }
    Error err;
    ModelConfig c;
    ConvCtx ctx = {{0}, dir, &c};
    DType experts = dense;
    int rc = check_output_not_an_input(dir, out, &err) != 0 || hf_config_read(dir, &c, &err) != 0 || load_checkpoint(&ctx.ck, dir, &err) != 0 ||
                     check_checkpoint(&ctx, &err) != 0
                 ? -1
                 : 0;
    if (rc == 0) {
        const StTensor *emb = checkpoint_find(&ctx.ck, "model.embed_tokens.weight");
        if (keep) dense = emb->dtype == ST_F32 ? DTYPE_F32 : DTYPE_BF16; /* present: check_checkpoint found it */
        experts = checkpoint_find(&ctx.ck, "model.layers.0.mlp.experts.gate_up_proj_blocks") && !widen ? DTYPE_MXFP4 : dense;
        rc = model_write(out, &c, dense, experts, fill_from_checkpoint, &ctx, &err);
    }
    checkpoint_free(&ctx.ck);
    if (rc != 0) {
        fprintf(stderr, "convert_hf: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "convert_hf: wrote %s (%u layers, %u experts, dense %s, experts %s)\n", out, c.n_layers, c.n_experts,
            dtype_name(dense), dtype_name(experts));
    return 0;
}
