/* model_writer.h - writes a getp model file (docs/model-format.md).
 *
 * The caller supplies the config, the dtype for dense matrices and for expert
 * matrices, and a callback that fills each tensor's bytes in the on-disk
 * encoding. Vectors (norms, biases, sinks) are always F32. The file appears
 * atomically: it is written under a temporary name and renamed at the end. */
#ifndef GETP_MODEL_WRITER_H
#define GETP_MODEL_WRITER_H

#include "model_layout.h"

typedef int (*TensorFill)(void *ctx, const TensorSpec *spec, DType dtype, uint8_t *buf, uint64_t nbytes, Error *err);

int model_write(const char *path, const ModelConfig *c, DType dense, DType experts, TensorFill fill, void *ctx, Error *err);

/* Encoders from f32 into the on-disk dtypes (MXFP4: rows of length `row`,
 * each 32-block scaled by a power of two so its largest value fits 6.0). */
void encode_f32_as(DType d, const float *src, uint64_t n, uint64_t row, uint8_t *dst);

#endif
