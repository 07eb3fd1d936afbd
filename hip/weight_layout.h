/* weight_layout.h - how weights lie in device memory: the dtypes, a view of
 * one matrix (or a stack of expert matrices), what one matmul lane loads per
 * chunk, and the tiled order of the expert weights. Host and device code. */
#ifndef GETP_HIP_WEIGHT_LAYOUT_H
#define GETP_HIP_WEIGHT_LAYOUT_H

#include "hip_compat.h"

enum { DT_F32 = 0, DT_BF16 = 1, DT_MXFP4 = 2 };
/* A matrix, or a stack of E matrices of `rows` rows each, on the device. */
struct WeightView {
    const uint8_t *data;   /* F32/BF16 values, or MXFP4 blocks (16 bytes per 32 values) */
    const uint8_t *scales; /* MXFP4: one e8m0 byte per 32 values */
    int dtype, rows, cols;
    int tiled;             /* experts: stored in the tiled order (see tiled_index) */
    int small_scales;      /* MXFP4: no scale above 2 (e8m0 byte <= 128), decoded with one product a pair (matmul_load.h) */
};

/* Bytes of a weight's values (MXFP4: without its scales). */
__host__ __device__ inline size_t weight_bytes(const WeightView &w) {
    size_t n = (size_t)w.rows * w.cols;
    return w.dtype == DT_F32 ? 4 * n : w.dtype == DT_BF16 ? 2 * n : n / 2;
}

/* Per lane and chunk: V consecutive values of a row (F32: 8, so 32 k per
 * chunk; BF16: 16, 64 k; MXFP4: 32, 128 k), loaded raw, U chunks at a time
 * (one-token-tile launches: decode_group_chunks): each row is read in runs
 * of 4 V values per chunk. */
template <int DT> struct Lane {
    enum {
        V = DT == DT_MXFP4 ? 32 : DT == DT_BF16 ? 16 : 8,
        U = DT == DT_MXFP4 ? 2 : 4,
        WORDS = DT == DT_MXFP4 ? 1 : 2 /* uint4 loads per lane and row */
    };
};
/* Values per 16-byte word of a weight (MXFP4: 32, also one scale byte). */
__host__ __device__ constexpr int values_per_word(int dtype) { return dtype == DT_F32 ? 4 : dtype == DT_BF16 ? 8 : 32; }

/* Expert weights whose rows hold whole chunks are stored "tiled" on the
 * device (tile_expert_weights in weights.hip reorders them after the
 * upload): within each tile of 16 rows, chunk by chunk, the 16-byte words
 * that one load instruction of the warp reads lie together, so it reads one
 * contiguous run of 512 bytes rather than 64 bytes from each of 8 rows, and
 * a lane's loads sit at fixed offsets from one address. A tile's bytes stay
 * within its own 16 rows, so the reorder is a permutation in place.
 *
 * W: 16-byte words per lane, row and chunk. Lane (g, q) reads slots g and
 * g+8 of its tile (tile_slot_of_row); word w of its run in chunk c is word
 * c 4W + q W + w of the row, and lies at tiled_index from the tile's start
 * (16 rows x RW words). MXFP4 scale bytes (one per 32 values: as many as
 * the row's words) are ordered the same way with W = 1, in bytes.
 *
 * Rows with a short last chunk (MXFP4 with 2880 columns: 22.5 chunks of
 * 128) stay row-major: every form of addressing the short chunk that was
 * tried cost more than the layout gained (ledger L79-L81, L83). */
__host__ __device__ inline long tiled_index(int slot, int c, int q, int w, int W) {
    return (long)c * 64 * W + (long)((slot / 8) * W + w) * 32 + (slot % 8) * 4 + q;
}
/* Row of a tile (0..15) -> its slot. SwiGLU: slot g holds channel g's gate
 * (row 2g), slot g+8 its up (row 2g+1), which meet in one lane. */
__host__ __device__ inline int tile_slot_of_row(int row, bool swiglu) { return swiglu ? (row % 2) * 8 + row / 2 : row; }

/* MXFP4 values on the device lie in pair order within each 32-bit word
 * (weights.hip reorders every expert stack once after the upload; only
 * expert matrices may be MXFP4): the file's byte p holds values 2p, 2p + 1
 * (low and high nibble), the pair that becomes one bf16 pair, 2p in its
 * low half, 2p + 1 the same bits 16 places up.
 * MXFP4_WORD_LAYOUT 0: byte p becomes nibbles p and p + 4,
 * so the pair is the word shifted right by 4p, its values at bits 0..3 and
 * 16..19 (two shifts, two ANDs a pair).
 * MXFP4_WORD_LAYOUT 1, the default (since `make test-gpu` passed with it,
 * session 26; mxfp4_bit_place): pairs 0, 2 and 3
 * lie where at most one shift and one AND make their bf16 pair, a value's
 * sign 9 bits above its magnitude's lowest bit (pair 0 at bits 6-8 and 15,
 * the bf16 places; pair 2 three bits lower, pair 3 six); pair 1 fills the
 * rest (magnitude's low two bits at 10-11, its top bit at 13, the sign at
 * 14: three shifts). About 11 instructions a word instead of 16
 * (matmul_load.h, unpack_step). No four shifts of one pattern tile a word
 * (checked exhaustively), hence pair 1. H100, ledger L180: batch 1 +1.6%,
 * batch 8 +1.8% on top of ONE_TILE_LEAN. */
#ifndef MXFP4_WORD_LAYOUT
#define MXFP4_WORD_LAYOUT 1
#endif
/* Where MXFP4_WORD_LAYOUT 1 puts the bits (m, e0, e1, s) of pair p's low value. */
__host__ __device__ inline int mxfp4_bit_place(int p, int bit) {
    const int place[4][4] = {{6, 7, 8, 15}, {10, 11, 13, 14}, {3, 4, 5, 12}, {0, 1, 2, 9}};
    return place[p][bit];
}
__host__ __device__ inline uint32_t mxfp4_pair_order(uint32_t w) {
    if (MXFP4_WORD_LAYOUT) {
        uint32_t out = 0;
        for (int p = 0; p < 4; p++)
            for (int bit = 0; bit < 4; bit++) {
                out |= (w >> (8 * p + bit) & 1u) << mxfp4_bit_place(p, bit);
                out |= (w >> (8 * p + 4 + bit) & 1u) << (mxfp4_bit_place(p, bit) + 16);
            }
        return out;
    }
    uint32_t even = 0, odd = 0;
    for (int p = 0; p < 4; p++) {
        even |= (w >> (8 * p) & 0xFu) << (4 * p);
        odd |= (w >> (8 * p + 4) & 0xFu) << (4 * p);
    }
    return even | odd << 16;
}

/* Lane<DT>::WORDS for a runtime dtype. */
__host__ __device__ inline int lane_words(int dtype) {
    return dtype == DT_MXFP4 ? (int)Lane<DT_MXFP4>::WORDS : dtype == DT_BF16 ? (int)Lane<DT_BF16>::WORDS : (int)Lane<DT_F32>::WORDS;
}
/* 16-byte words per row of a weight (MXFP4: also its scale bytes). */
__host__ __device__ inline int row_words(const WeightView &w) { return w.cols / values_per_word(w.dtype); }
/* Whether a weight's rows hold whole chunks (so it can be tiled). */
__host__ __device__ inline bool rows_hold_whole_chunks(const WeightView &w) { return row_words(w) % (4 * lane_words(w.dtype)) == 0; }

#endif
