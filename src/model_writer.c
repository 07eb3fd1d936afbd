#include "model_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gptoss_math.h"
#include "output_file.h"

int model_write(const char *path, const ModelConfig *c, DType dense, DType experts, TensorFill fill, void *ctx, Error *err) {
    if (model_config_validate(c, err) != 0) return -1;
    uint32_t n;
    uint64_t header, file_len;
    Tensor *placed = layout_place_tensors(c, dense, experts, &n, &header, &file_len);
    TensorSpec *specs = layout_tensor_specs(c, &n);
    uint8_t *h = xcalloc(header, 1);
    memcpy(h, MODEL_MAGIC, 8);
    for (int i = 0; i < 4; i++) h[8 + i] = (uint8_t)(MODEL_VERSION >> (8 * i));
    for (int i = 0; i < 4; i++) h[12 + i] = (uint8_t)(n >> (8 * i));
    layout_write_config(h, c);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = h + LAYOUT_FIXED_HEADER + (uint64_t)i * LAYOUT_DIR_ENTRY;
        uint64_t fields[8] = {0};
        memcpy(e, placed[i].name, MODEL_NAME_LEN);
        fields[0] = (uint64_t)placed[i].dtype | (uint64_t)placed[i].ndim << 32;
        for (uint32_t d = 0; d < MODEL_MAX_DIMS; d++) fields[1 + d] = placed[i].shape[d];
        fields[5] = placed[i].offset;
        fields[6] = placed[i].nbytes;
        for (int f = 0; f < 7; f++)
            for (int b = 0; b < 8; b++) e[64 + 8 * f + b] = (uint8_t)(fields[f] >> (8 * b));
    }

    OutputFile out;
    int rc = output_open(&out, path, NULL, 0, err);
    if (rc == 0) {
        FILE *f = out.fp;
        uint64_t pos = 0;
        static const uint8_t zeros[MODEL_ALIGN];
        rc = fwrite(h, 1, header, f) == header ? 0 : error_set(err, "%s: write failed", path);
        pos = header;
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            while (pos < placed[i].offset) {
                uint64_t k = placed[i].offset - pos < MODEL_ALIGN ? placed[i].offset - pos : MODEL_ALIGN;
                if (fwrite(zeros, 1, k, f) != k) rc = error_set(err, "%s: write failed", path);
                pos += k;
            }
            uint64_t nbytes = placed[i].nbytes;
            uint8_t *buf = xmalloc(nbytes);
            rc = fill(ctx, &specs[i], placed[i].dtype, buf, nbytes, err);
            if (rc == 0 && fwrite(buf, 1, nbytes, f) != nbytes) rc = error_set(err, "%s: write failed", path);
            pos += nbytes;
            free(buf);
        }
        /* pad the last tensor so every tensor's aligned span lies inside the file */
        while (rc == 0 && pos % MODEL_ALIGN) {
            uint64_t k = MODEL_ALIGN - pos % MODEL_ALIGN;
            if (fwrite(zeros, 1, k, f) != k) rc = error_set(err, "%s: write failed", path);
            pos += k;
        }
        if (rc == 0)
            rc = output_commit(&out, err);
        else
            output_abort(&out);
    }
    free(placed);
    free(specs);
    free(h);
    return rc;
}

static uint8_t mxfp4_nibble(float v) {
    /* nearest e2m1 value; ties go to the value with the even mantissa */
    float mags[8], a = fabsf(v);
    for (uint32_t i = 0; i < 8; i++) mags[i] = gptoss_fp4_value(i);
    int best = 0;
    for (int i = 1; i < 8; i++)
        if (fabsf(a - mags[i]) < fabsf(a - mags[best]) || (fabsf(a - mags[i]) == fabsf(a - mags[best]) && (i % 2) == 0)) best = i;
    return (uint8_t)(best | (signbit(v) && best ? 8 : 0));
}

void encode_f32_as(DType d, const float *src, uint64_t n, uint64_t row, uint8_t *dst) {
    switch (d) {
    case DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case DTYPE_BF16:
#pragma omp parallel for if (n > (1u << 22))
        for (uint64_t i = 0; i < n; i++) {
            uint16_t b = f32_to_bf16(src[i]);
            dst[2 * i] = (uint8_t)b;
            dst[2 * i + 1] = (uint8_t)(b >> 8);
        }
        break;
    case DTYPE_MXFP4: {
        uint64_t nblk = n / 32;
        uint8_t *scales = dst + nblk * 16;
        (void)row; /* blocks never straddle rows because rows are multiples of 32 */
#pragma omp parallel for if (nblk > (1u << 17))
        for (uint64_t b = 0; b < nblk; b++) {
            const float *x = src + b * 32;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            int e = amax > 0 ? (int)ceilf(log2f(amax / 6.0f)) : -127;
            if (e < -127) e = -127;
            if (e > 127) e = 127;
            scales[b] = (uint8_t)(e + 127);
            float inv = ldexpf(1.0f, -e);
            for (int j = 0; j < 16; j++)
                dst[b * 16 + j] = (uint8_t)(mxfp4_nibble(x[2 * j] * inv) | mxfp4_nibble(x[2 * j + 1] * inv) << 4);
        }
        break;
    }
    }
}
