/* matmul_load.h - what one matmul lane loads per chunk (raw 16-byte words
 * of its two weight rows, row-major or tiled) and how it unpacks them into
 * the bf16 pairs of the mma's A operand (F32 split hi + lo; MXFP4 decoded
 * by moving bits, two values per instruction, from the device's pair order:
 * weight_layout.h). */
#ifndef GETP_HIP_MATMUL_LOAD_H
#define GETP_HIP_MATMUL_LOAD_H

#include "../src/gptoss_math.h"
#include "bf16_math.h"
#include "weight_layout.h"

template <int DT> struct RawWeights {
    uint4 v[Lane<DT>::WORDS];
    uint32_t scale2; /* MXFP4: the block's scale as a bf16 pair */
};

/* An e8m0 scale byte as a bf16 pair (a power of 2: exact in bf16). */
__device__ inline uint32_t e8m0_bf16x2(uint32_t s) {
    uint32_t f = gptoss_e8m0_bits(s);
    return f >> 16 | (f & 0xffff0000u);
}
/* The same scale times 2^126 (see unpack_step), as a bf16 pair: 2^(s-1),
 * exact for s <= 128 (scales up to 2), which a FOLD kernel is only given. */
__device__ inline uint32_t e8m0_folded_bf16x2(uint32_t s) { return (s + 126u) << 7 | (s + 126u) << 23; }
/* The scale pair a lane keeps for its chunk: folded (one multiply a value
 * pair) or plain (two). */
template <bool FOLD> __device__ inline uint32_t mxfp4_scale_pair(uint32_t s) { return FOLD ? e8m0_folded_bf16x2(s) : e8m0_bf16x2(s); }
/* Where row r of a row-major weight starts: its values and (MXFP4) its
 * scale bytes. The one-token-tile path (ONE_TILE_LEAN) works it out once a
 * lane, so that each chunk's load is an add; load_raw, once a load. */
struct WeightRow {
    const uint8_t *values, *scales;
};
template <int DT> __device__ inline WeightRow weight_row(const WeightView &w, long r) {
    if (DT == DT_MXFP4) return {w.data + (size_t)r * (w.cols / 2), w.scales + (size_t)r * (w.cols / 32)};
    return {w.data + (size_t)r * w.cols * (DT == DT_BF16 ? 2 : 4), nullptr};
}
/* The lane's V values of a row from column k; zeros when !ok. FOLD: see
 * mxfp4_scale_pair. */
template <int DT, bool FOLD = false> __device__ inline void load_raw_row(const WeightRow &row, int k, bool ok, RawWeights<DT> &raw) {
    for (int i = 0; i < Lane<DT>::WORDS; i++) raw.v[i] = make_uint4(0, 0, 0, 0);
    raw.scale2 = 0;
    if (!ok) return;
    if (DT == DT_BF16) {
        const uint4 *p = (const uint4 *)(row.values + (size_t)k * 2);
#pragma unroll
        for (int i = 0; i < Lane<DT>::WORDS; i++) raw.v[i] = p[i];
    } else if (DT == DT_F32) {
        const uint4 *p = (const uint4 *)(row.values + (size_t)k * 4);
        raw.v[0] = p[0];
        raw.v[(Lane<DT>::WORDS - 1)] = p[1];
    } else {
        raw.v[0] = *(const uint4 *)(row.values + k / 2);
        raw.scale2 = mxfp4_scale_pair<FOLD>(row.scales[k / 32]);
    }
}
/* load_raw_row of row r. */
template <int DT, bool FOLD = false> __device__ inline void load_raw(const WeightView &w, long r, int k, bool ok, RawWeights<DT> &raw) {
    load_raw_row<DT, FOLD>(weight_row<DT>(w, r), k, ok, raw);
}

/* load_raw for tiled expert weights: slot g + 8h of global tile `tile`, chunk c. */
template <int DT, bool FOLD = false>
__device__ inline void load_raw_tiled(const WeightView &w, long tile, int h, int lane, int c, bool ok, RawWeights<DT> &raw) {
    constexpr int W = Lane<DT>::WORDS;
    for (int i = 0; i < W; i++) raw.v[i] = make_uint4(0, 0, 0, 0);
    raw.scale2 = 0;
    if (!ok) return;
    const long start = tile * 16 * (w.cols / values_per_word(DT)); /* the tile's first word */
    const uint4 *p = (const uint4 *)w.data + start + tiled_index(8 * h, c, lane, 0, W); /* lane = 4g + q */
#pragma unroll
    for (int i = 0; i < W; i++) raw.v[i] = p[32 * i];
    if (DT == DT_MXFP4) raw.scale2 = mxfp4_scale_pair<FOLD>(w.scales[start + tiled_index(8 * h, c, lane, 0, 1)]);
}

__device__ inline uint32_t word_of(const uint4 &v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

/* Values 4s..4s+3 of the lane's row as two bf16 pairs (hi), and for F32
 * what bf16 left out (lo). */
template <int DT, bool FOLD = false> __device__ inline void unpack_step(const RawWeights<DT> &raw, int s, uint32_t hi[2], uint32_t lo[2]) {
    if (DT == DT_BF16) {
        hi[0] = word_of(raw.v[s / 2], 2 * s % 4), hi[1] = word_of(raw.v[s / 2], 2 * s % 4 + 1);
        lo[0] = lo[1] = 0;
    } else if (DT == DT_F32) {
        const uint4 &v = raw.v[s >= 1 ? Lane<DT>::WORDS - 1 : 0];
        split_bf16x2(__uint_as_float(v.x), __uint_as_float(v.y), hi[0], lo[0]);
        split_bf16x2(__uint_as_float(v.z), __uint_as_float(v.w), hi[1], lo[1]);
    } else {
        /* fp4 (sign, 2 exponent bits, 1 mantissa bit) to bf16 by moving the
         * bits: s e e m placed at bf16 bits 15 and 8..6 reads as the value
         * times 2^-126 (e = 0, m = 1 as the subnormal 2^-127), so two exact
         * products give value x scale, two values per instruction (FOLD:
         * one product by 2^126 x scale, exact where that is a bf16) */
        const uint32_t two_126 = 0x7E807E80u;
        for (int h = 0; h < 2; h++) { /* values 4s+2h, 4s+2h+1: pair 2(s%2)+h of word s/2 (mxfp4_pair_order) */
            const uint32_t w = word_of(raw.v[0], s / 2);
            const int p = 2 * (s % 2) + h;
            uint32_t bits;
            if (MXFP4_WORD_LAYOUT) { /* see mxfp4_bit_place */
                const uint32_t M = 0x81C081C0u;
                bits = p == 0   ? w & M
                       : p == 2 ? w << 3 & M
                       : p == 3 ? w << 6 & M
                                : (w >> 4 & 0x00C000C0u) | (w >> 5 & 0x01000100u) | (w << 1 & 0x80008000u);
            } else {
                uint32_t t = w >> (4 * p); /* the pair at bits 0..3 and 16..19 */
                bits = (t & 0x00070007u) << 6 | (t & 0x00080008u) << 12;
            }
            hi[h] = FOLD ? bf16x2_mul(bits, raw.scale2) : bf16x2_mul(bf16x2_mul(bits, two_126), raw.scale2);
        }
        lo[0] = lo[1] = 0;
    }
}

#endif
