/* gptoss_math.h - the numeric definitions of gpt-oss that every backend
 * shares, host and device: SwiGLU with its clamp, MXFP4's e2m1 values and
 * e8m0 scales, and the RoPE/YaRN tables. C11 for the host; the HIP build
 * compiles the same inline functions for the GPU (GPTOSS_FN). */
#ifndef GETP_GPTOSS_MATH_H
#define GETP_GPTOSS_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define GPTOSS_FN __host__ __device__ static inline
#else
#define GPTOSS_FN static inline
#endif

GPTOSS_FN float gptoss_float_of_bits(uint32_t u) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* SwiGLU as gpt-oss defines it: the gate clamped above at limit, up clamped
 * to +-limit, out = (up + 1) * gate * sigmoid(alpha * gate). */
#define GPTOSS_SWIGLU_ALPHA 1.702f
GPTOSS_FN float gptoss_swiglu(float gate, float up, float limit) {
    gate = fminf(gate, limit);
    up = fmaxf(fminf(up, limit), -limit);
    return (up + 1.0f) * (gate / (1.0f + expf(-GPTOSS_SWIGLU_ALPHA * gate)));
}

/* MXFP4: an e2m1 value (sign, 2 exponent bits, 1 mantissa bit):
 * 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives. */
GPTOSS_FN float gptoss_fp4_value(uint32_t n) {
    uint32_t e = (n >> 1) & 3u, m = n & 1u;
    float mag = e == 0 ? 0.5f * (float)m : gptoss_float_of_bits((e + 126u) << 23 | m << 22);
    return (n & 8u) ? -mag : mag;
}

/* The bits of an e8m0 block scale, 2^(e - 127) as an f32: e = 0 is 2^-127
 * (an f32 subnormal), e = 255 is NaN (OCP MX). */
GPTOSS_FN uint32_t gptoss_e8m0_bits(uint32_t e) { return e == 0 ? 0x00400000u : e == 255 ? 0x7fc00000u : e << 23; }
GPTOSS_FN float gptoss_e8m0_value(uint32_t e) { return gptoss_float_of_bits(gptoss_e8m0_bits(e)); }

/* RoPE with YaRN as gpt-oss defines it: the inverse frequency of each of the
 * head_dim/2 rotary pairs and the attention concentration that scales cos and
 * sin (src/gptoss_math.c; every backend uses these tables). */
#ifdef __cplusplus
extern "C" {
#endif
struct ModelConfig;
void rope_yarn_tables(const struct ModelConfig *c, float *inv_freq, float *concentration);
#ifdef __cplusplus
}
#endif

#endif
