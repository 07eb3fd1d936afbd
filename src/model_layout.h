/* model_layout.h - the byte layout of the model file header and the list of
 * tensors a gpt-oss model must have. Shared by the loader (model.c) and the
 * writer (model_writer.c) so the two can never disagree; see
 * docs/model-format.md. */
#ifndef GETP_MODEL_LAYOUT_H
#define GETP_MODEL_LAYOUT_H

#include "model.h"

/* magic(8) version(4) n_tensors(4) config u32 x12 (48) f32 x6 (24)
 * layer_sliding (256) */
#define LAYOUT_CONFIG_OFFSET 16u
#define LAYOUT_FIXED_HEADER (16u + 48u + 24u + MODEL_MAX_LAYERS)
#define LAYOUT_DIR_ENTRY 128u

void layout_read_config(const uint8_t *header, ModelConfig *c);
void layout_write_config(uint8_t *header, const ModelConfig *c);

/* What a tensor of the standard set must look like. */
typedef struct {
    char name[MODEL_NAME_LEN];
    uint32_t ndim;
    uint64_t shape[MODEL_MAX_DIMS];
    int expert_matrix; /* may be MXFP4 */
} TensorSpec;

/* Returns the standard tensor list for config c (caller frees). */
TensorSpec *layout_tensor_specs(const ModelConfig *c, uint32_t *n_out);

/* The dtype a file written with dense/expert dtypes gives `spec`: expert
 * matrices take `experts`, other matrices `dense`, vectors and biases F32. */
DType layout_tensor_dtype(const TensorSpec *spec, DType dense, DType experts);

/* The standard tensors placed as model_write lays them out: name, dtype,
 * shape, offset and size of each (data left NULL), the header length and the
 * file length. Caller frees the array. */
Tensor *layout_place_tensors(const ModelConfig *c, DType dense, DType experts, uint32_t *n_out, uint64_t *header_len,
                             uint64_t *file_len);

/* Checks that every standard tensor is present with the right shape and an
 * allowed dtype, and fills m->weights. */
int layout_bind_weights(Model *m, char *msg, size_t msg_len);

#endif
