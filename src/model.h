/* model.h - the getp model file: configuration, tensor directory, weights.
 *
 * The on-disk layout is documented in docs/model-format.md. model_open mmaps
 * the file and validates every header field, every tensor's dtype, shape and
 * byte range (after the directory, inside the file, overlapping no other)
 * against the config and the file length before anything reads a weight, so
 * a truncated or corrupt file is rejected with a message and the forward pass
 * never reads out of bounds. A file truncated later, while mapped, ends the
 * process with a message (src/mapping_guard.h). */
#ifndef GETP_MODEL_H
#define GETP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MODEL_MAGIC "GETPMODL"
#define MODEL_VERSION 1u
#define MODEL_ALIGN 4096u
#define MODEL_MAX_LAYERS 256
#define MODEL_NAME_LEN 64
#define MODEL_MAX_DIMS 4

typedef enum { DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_MXFP4 = 2 } DType;

const char *dtype_name(DType d);
/* Bytes taken by `n_elems` elements laid out as `n_elems / row` rows of `row`
 * (MXFP4 packs 32 values into 16 bytes plus one scale byte per block). */
uint64_t dtype_nbytes(DType d, uint64_t n_elems);

/* Everything that shapes the gpt-oss computation. */
typedef struct ModelConfig {
    uint32_t vocab_size;
    uint32_t hidden;          /* d_model */
    uint32_t n_layers;
    uint32_t n_heads;         /* query heads */
    uint32_t n_kv_heads;      /* key/value heads (GQA) */
    uint32_t head_dim;
    uint32_t n_experts;
    uint32_t experts_per_token;
    uint32_t intermediate;    /* expert hidden size */
    uint32_t max_context;     /* longest sequence the model accepts */
    uint32_t initial_context; /* YaRN's original context length */
    uint32_t sliding_window;  /* keys visible to a sliding layer, itself included */
    float rope_theta;
    float rope_scaling_factor; /* YaRN factor; 1 = plain RoPE */
    float rope_beta_fast;      /* YaRN high-rotation bound (gpt-oss ntk_beta) */
    float rope_beta_slow;      /* YaRN low-rotation bound (gpt-oss ntk_alpha) */
    float swiglu_limit;
    float rms_eps;
    uint8_t layer_sliding[MODEL_MAX_LAYERS]; /* 1 = sliding-window layer */
} ModelConfig;

typedef struct {
    char name[MODEL_NAME_LEN];
    DType dtype;
    uint32_t ndim;
    uint64_t shape[MODEL_MAX_DIMS];
    uint64_t offset; /* from the start of the file, MODEL_ALIGN aligned */
    uint64_t nbytes;
    const uint8_t *data; /* into the mapping */
} Tensor;

/* One decoder block's weights; names mirror the math in src/cpu_backend.c.
 * Dense matrices are [out, in] row-major; expert tensors stack E such
 * matrices. gate_up rows interleave gate (even) and up (odd) channels, as in
 * the gpt-oss checkpoints. */
typedef struct {
    const Tensor *attn_norm;            /* [H] */
    const Tensor *wq, *bq;              /* [nh*hd, H], [nh*hd] */
    const Tensor *wk, *bk;              /* [nkv*hd, H], [nkv*hd] */
    const Tensor *wv, *bv;              /* [nkv*hd, H], [nkv*hd] */
    const Tensor *wo, *bo;              /* [H, nh*hd], [H] */
    const Tensor *sinks;                /* [nh] */
    const Tensor *mlp_norm;             /* [H] */
    const Tensor *router_w, *router_b;  /* [E, H], [E] */
    const Tensor *gate_up_w, *gate_up_b; /* [E, 2I, H], [E, 2I] */
    const Tensor *down_w, *down_b;       /* [E, H, I], [E, H] */
} LayerWeights;

typedef struct {
    const Tensor *embedding;   /* [V, H] */
    LayerWeights *layers;      /* [n_layers] */
    const Tensor *final_norm;  /* [H] */
    const Tensor *unembedding; /* [V, H] */
} ModelWeights;

typedef struct {
    char *path;
    ModelConfig config;
    Tensor *tensors;
    uint32_t n_tensors;
    ModelWeights weights;
    const uint8_t *map; /* NULL for a virtual model */
    size_t map_len;     /* the file's length (a virtual model: as if written) */
    int virtual_weights; /* 1: no weight bytes exist on the host (--dummy-weights) */
} Model;

/* Opens and validates `path`, a regular file (a FIFO, directory or device is
 * refused without blocking). On failure returns -1 with err naming the file
 * and the reason. */
int model_open(Model *m, const char *path, Error *err);
void model_close(Model *m);

/* A model of config c whose weights exist nowhere on the host: the tensor
 * directory of a file written with these dtypes (offsets included, data
 * NULL). A GPU backend fills the weights with random values on the device,
 * for benchmarking full-size shapes without a file; the CPU refuses it. */
int model_create_virtual(Model *m, const ModelConfig *c, DType dense, DType experts, Error *err);
const Tensor *model_find_tensor(const Model *m, const char *name);

/* Checks the config's internal consistency (used by the loader and the
 * writers). */
int model_config_validate(const ModelConfig *c, Error *err);

/* Reads row `row` of a 2-D view of t (the last dimension is the row) into
 * out as f32, dequantizing BF16 and MXFP4. */
void tensor_read_row(const Tensor *t, uint64_t row, float *out);
uint64_t tensor_row_len(const Tensor *t);
uint64_t tensor_n_elems(const Tensor *t);


#endif
