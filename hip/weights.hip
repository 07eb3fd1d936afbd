// weights.hip - the model's weights on the device, at their file offsets:
// copied from the mapped file through pinned buffers, or from a peer GPU's
// replica on the same node, or (--dummy-weights) made on the GPU; the norms,
// biases and sinks widened to f32 in an area of their own; and the expert
// matrices reordered into the tiled order the expert matmuls read.
#include "bf16_math.h"
#include "early_start.h"
#include "hip_state.h"

/* A tensor's bytes on the device as the kernels see them. */
static WeightView view(const HipState *s, const Tensor *t) {
    WeightView w;
    w.data = s->weights + t->offset;
    w.dtype = (int)t->dtype;
    w.cols = (int)tensor_row_len(t);
    uint64_t all_rows = tensor_n_elems(t) / w.cols;
    w.rows = t->ndim == 3 ? (int)t->shape[1] : (int)all_rows; /* experts: rows of one matrix */
    w.scales = t->dtype == DTYPE_MXFP4 ? w.data + all_rows * (w.cols / 2) : nullptr;
    w.tiled = 0, w.small_scales = 0;
    return w;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random weights for --dummy-weights: uniform in [-0.02, 0.02) (the scale of
 * the checkpoints' init), MXFP4 nibbles uniform with scale 2^-6. */
__global__ void fill_random_kernel(uint8_t *dst, size_t n_values, int dtype, uint64_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_values; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 0.02f;
        if (dtype == DT_F32) ((float *)dst)[i] = u;
        else if (dtype == DT_BF16) ((uint16_t *)dst)[i] = (uint16_t)bf16_bits(u);
        else { /* MXFP4: n_values counts blocks' bytes then scale bytes */
            dst[i] = (uint8_t)z;
        }
    }
}

static int fill_matrix_random(HipState *s, const Tensor *t, uint64_t seed, Error *err) {
    uint8_t *dst = s->weights + t->offset;
    if (t->dtype == DTYPE_MXFP4) {
        uint64_t values = tensor_n_elems(t);
        launch_plain(fill_random_kernel, dim3(4096), dim3(256), s->stream, dst, values / 2, (int)DT_MXFP4, seed);
        CHECK_LAUNCH(err);
        CHECK(hipMemsetAsync(dst + values / 2, 127 - 6, values / 32, s->stream), err);
        return 0;
    }
    launch_plain(fill_random_kernel, dim3(4096), dim3(256), s->stream, dst, tensor_n_elems(t), (int)t->dtype, seed);
    CHECK_LAUNCH(err);
    return 0;
}

/* Reorders a stack of expert matrices (E x rows, rows a multiple of 16, rows
 * of whole chunks) from row-major into the tiled order the expert matmuls
 * read (matmul.h, tiled_index); `unit` bytes move together: 16 (a word of
 * values) or 1 (an MXFP4 scale byte, ordered like the words with W = 1).
 * src: a copy of the row-major bytes. */
__global__ void tile_experts_kernel(uint8_t *dst, const uint8_t *src, size_t n_units, int unit, int RW, int W, bool swiglu) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_units; i += (size_t)gridDim.x * blockDim.x) {
        size_t row = i / RW;
        int word = (int)(i % RW), c = word / (4 * W), q = word % (4 * W) / W, w = word % W;
        size_t at = row / 16 * 16 * RW + tiled_index(tile_slot_of_row((int)(row % 16), swiglu), c, q, w, W);
        if (unit == 16) ((uint4 *)dst)[at] = ((const uint4 *)src)[i];
        else dst[at] = src[i];
    }
}

static int tile_units(HipState *s, uint8_t *data, size_t units, int unit, int RW, int W, bool swiglu, uint8_t *scratch, Error *err) {
    CHECK(hipMemcpyAsync(scratch, data, units * unit, hipMemcpyDeviceToDevice, s->stream), err);
    launch_plain(tile_experts_kernel, dim3(4096), dim3(256), s->stream, data, (const uint8_t *)scratch, units, unit, RW, W, swiglu);
    CHECK_LAUNCH(err);
    return 0;
}

/* Every 32-bit word of MXFP4 values from the file order into the pair
 * order the matmuls decode (weight_layout.h, mxfp4_pair_order). */
__global__ void mxfp4_pair_order_kernel(uint32_t *words, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) words[i] = mxfp4_pair_order(words[i]);
}

/* Sets *found when a scale byte is above 128 (a scale above 2). */
__global__ void mxfp4_large_scale_kernel(const uint8_t *scales, size_t n, int *found) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if (scales[i] > 128) *found = 1;
}

/* Puts every MXFP4 expert stack's values into pair order, unless the bytes
 * came from a peer's replica (reordered before they were shared), and marks
 * the stacks small_scales when no scale of the model is above 2 (real
 * checkpoints: a block's largest weight would be above 12 otherwise). */
static int prepare_mxfp4(HipState *s, const Model *m, bool from_peer, Error *err) {
    int *found = nullptr, large = 0;
    if (device_alloc(&found, sizeof(int), err)) return -1;
    int rc = 0;
    if (hipMemsetAsync(found, 0, sizeof(int), s->stream) != hipSuccess) rc = error_set(err, "hip: clearing a flag failed");
    for (uint32_t l = 0; l < m->config.n_layers && rc == 0; l++) {
        const WeightView *stacks[2] = {&s->layers[l].gate_up, &s->layers[l].down};
        for (const WeightView *w : stacks) {
            if (w->dtype != DT_MXFP4) continue;
            size_t bytes = (size_t)m->config.n_experts * weight_bytes(*w);
            if (!from_peer) launch_plain(mxfp4_pair_order_kernel, dim3(4096), dim3(256), s->stream, (uint32_t *)w->data, bytes / 4);
            launch_plain(mxfp4_large_scale_kernel, dim3(1024), dim3(256), s->stream, (const uint8_t *)w->scales, bytes / 16, found);
            if (hipGetLastError() != hipSuccess) rc = error_set(err, "hip: launching the MXFP4 preparation failed");
        }
    }
    if (rc == 0 && (hipStreamSynchronize(s->stream) != hipSuccess || hipMemcpy(&large, found, sizeof(int), hipMemcpyDeviceToHost) != hipSuccess))
        rc = error_set(err, "hip: preparing the MXFP4 weights failed");
    (void)hipFree(found);
    if (getenv("GETP_MXFP4_PLAIN")) large = 1; /* the two-product decoding everywhere: tests and A/B runs */
    for (uint32_t l = 0; l < m->config.n_layers; l++) {
        s->layers[l].gate_up.small_scales = s->layers[l].gate_up.dtype == DT_MXFP4 && !large;
        s->layers[l].down.small_scales = s->layers[l].down.dtype == DT_MXFP4 && !large;
    }
    return rc;
}

/* Marks every layer's gate_up and down whose rows hold whole chunks as
 * tiled, and unless the bytes came from a peer's replica (tiled before it
 * was shared: export follows create) reorders them in place, through one
 * scratch buffer as large as the largest. */
static int tile_expert_weights(HipState *s, const Model *m, bool from_peer, Error *err) {
    const uint32_t n_stacks = 2 * m->config.n_layers; /* layer l's gate_up is stack 2l, its down 2l + 1 */
    auto stack = [&](uint32_t i) { return i % 2 == 0 ? &s->layers[i / 2].gate_up : &s->layers[i / 2].down; };
    auto words = [&](const WeightView *w) { return (size_t)m->config.n_experts * w->rows * row_words(*w); };
    size_t most = 0; /* bytes of the largest stack's values */
    for (uint32_t i = 0; i < n_stacks; i++) {
        WeightView *w = stack(i);
        if (!rows_hold_whole_chunks(*w) || w->rows % 16) continue; /* a tile must not straddle two experts */
        w->tiled = 1;
        most = words(w) * 16 > most ? words(w) * 16 : most;
    }
    if (from_peer || most == 0) return 0;
    uint8_t *scratch = nullptr;
    if (device_alloc(&scratch, most, err)) return -1;
    int rc = 0;
    for (uint32_t i = 0; i < n_stacks && rc == 0; i++) {
        const WeightView *w = stack(i);
        if (!w->tiled) continue;
        int RW = row_words(*w);
        bool swiglu = i % 2 == 0;
        rc = tile_units(s, (uint8_t *)w->data, words(w), 16, RW, lane_words(w->dtype), swiglu, scratch, err);
        if (rc == 0 && w->scales) rc = tile_units(s, (uint8_t *)w->scales, words(w), 1, RW, 1, swiglu, scratch, err);
    }
    hipError_t e = hipStreamSynchronize(s->stream);
    (void)hipFree(scratch);
    if (rc) return -1;
    if (e != hipSuccess) return error_set(err, "hip: reordering the expert weights failed: %s", hipGetErrorString(e));
    return 0;
}

/* Widens a vector tensor (norm, bias, sinks) to f32 on the host: from the
 * file, or for dummy weights ones (norms) and small random values. */
static void host_vector(const Model *m, const Tensor *t, float *out, int is_norm, uint64_t seed) {
    uint64_t n = tensor_n_elems(t), row = tensor_row_len(t);
    if (!m->virtual_weights) {
        for (uint64_t r = 0; r < n / row; r++) tensor_read_row(t, r, out + r * row);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        out[i] = is_norm ? 1.0f : ((float)(mix64(seed + i) >> 40) * (1.0f / 16777216.0f) - 0.5f) * 0.02f;
}

#define LOAD_CHUNK ((size_t)256 << 20) /* bytes per copy; two streams alternate */

/* Bytes of the copy that starts at off. */
static size_t load_chunk_at(size_t len, size_t off) { return len - off < LOAD_CHUNK ? len - off : LOAD_CHUNK; }

/* The mapped file to the device, staged through two pinned buffers (the
 * rank's threads fill one while the other is copied). GETP_LOAD_PIN=1
 * instead pins the mapping where it lies (hipHostRegister): measured 16x
 * slower on an H200 node (10 s for 13.8 GB, the registration dominating),
 * and once it did not return at all, so it is opt-in. */
static int load_from_host(HipState *s, const Model *m, hipStream_t streams[2], char *used, size_t used_len, Error *err) {
    const uint8_t *src = m->map;
    size_t len = m->map_len;
    const char *pin = getenv("GETP_LOAD_PIN");
    int try_pin = pin && atoi(pin) > 0;
    hipError_t e = try_pin ? hipHostRegister((void *)src, len, hipHostRegisterReadOnly) : hipErrorNotSupported;
    if (e == hipSuccess) {
        for (size_t off = 0, i = 0; off < len; off += LOAD_CHUNK, i++) {
            size_t n = load_chunk_at(len, off);
            CHECK(hipMemcpyAsync(s->weights + off, src + off, n, hipMemcpyHostToDevice, streams[i % 2]), err);
        }
        CHECK(hipStreamSynchronize(streams[0]), err);
        CHECK(hipStreamSynchronize(streams[1]), err);
        CHECK(hipHostUnregister((void *)src), err);
        snprintf(used, used_len, "host (file pinned in place)");
        return 0;
    }
    const char *why = try_pin ? hipGetErrorString(e) : "";
    if (try_pin) (void)hipGetLastError(); /* the failed registration is handled here */
    uint8_t *stage[2] = {nullptr, nullptr};
    hipEvent_t done[2] = {nullptr, nullptr};
    int rc = 0;
    for (int b = 0; b < 2 && rc == 0; b++) {
        if (hipHostMalloc((void **)&stage[b], LOAD_CHUNK, hipHostMallocDefault) != hipSuccess || hipEventCreate(&done[b]) != hipSuccess)
            rc = error_set(err, "hip: no pinned staging memory for the weights");
    }
    for (size_t off = 0, i = 0; off < len && rc == 0; off += LOAD_CHUNK, i++) {
        size_t n = load_chunk_at(len, off);
        int b = (int)(i % 2);
        if (i >= 2 && hipEventSynchronize(done[b]) != hipSuccess) rc = error_set(err, "hip: staged weight copy failed");
        if (rc) break;
        memcpy_parallel(stage[b], src + off, n);
        if (hipMemcpyAsync(s->weights + off, stage[b], n, hipMemcpyHostToDevice, streams[b]) != hipSuccess ||
            hipEventRecord(done[b], streams[b]) != hipSuccess)
            rc = error_set(err, "hip: staged weight copy failed");
    }
    for (int b = 0; b < 2; b++) {
        if (rc == 0 && hipStreamSynchronize(streams[b]) != hipSuccess) rc = error_set(err, "hip: staged weight copy failed");
        if (done[b]) (void)hipEventDestroy(done[b]);
        if (stage[b]) (void)hipHostFree(stage[b]);
    }
    if (try_pin) snprintf(used, used_len, "host (staged: pinning in place failed: %.40s)", why);
    else snprintf(used, used_len, "host (staged through pinned buffers)");
    return rc;
}

/* Copies the replica of another GPU on this node (opened through its IPC
 * handle) over the peer link; 0 on success, 1 with *why when peer access is
 * not possible (the caller falls back to the host), -1 on errors. */
static int load_from_peer(HipState *s, const GpuLoad *load, hipStream_t streams[2], char *why, size_t why_len, Error *err) {
    int can = 0;
    if (load->refuse_peer) {
        snprintf(why, why_len, "refused (GETP_INJECT_FAULT)");
        return 1;
    }
    if (load->peer_device == s->device) {
        snprintf(why, why_len, "the peer replica is on this GPU");
        return 1;
    }
    if (hipDeviceCanAccessPeer(&can, s->device, load->peer_device) != hipSuccess || !can) {
        (void)hipGetLastError();
        snprintf(why, why_len, "GPU %d cannot access GPU %d", s->device, load->peer_device);
        return 1;
    }
    hipIpcMemHandle_t handle;
    memcpy(&handle, load->peer_handle, sizeof handle);
    void *src = nullptr;
    hipError_t e = hipIpcOpenMemHandle(&src, handle, hipIpcMemLazyEnablePeerAccess);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        snprintf(why, why_len, "opening the IPC handle failed: %.40s", hipGetErrorString(e));
        return 1;
    }
    size_t len = s->model->map_len;
    for (size_t off = 0, i = 0; off < len; off += LOAD_CHUNK, i++) {
        size_t n = load_chunk_at(len, off);
        CHECK(hipMemcpyPeerAsync(s->weights + off, s->device, (const uint8_t *)src + off, load->peer_device, n, streams[i % 2]), err);
    }
    CHECK(hipStreamSynchronize(streams[0]), err);
    CHECK(hipStreamSynchronize(streams[1]), err);
    CHECK(hipIpcCloseMemHandle(src), err);
    return 0;
}

/* from_peer: the bytes came from a replica on another GPU (already tiled). */
static int load_weights(HipState *s, const Model *m, GpuLoad *load, bool *from_peer, Error *err) {
    GpuLoad host_only;
    memset(&host_only, 0, sizeof host_only);
    if (!load) load = &host_only;
    hipStream_t streams[2] = {nullptr, nullptr};
    CHECK(hipStreamCreateWithFlags(&streams[0], hipStreamNonBlocking), err);
    CHECK(hipStreamCreateWithFlags(&streams[1], hipStreamNonBlocking), err);
    double t0 = now_seconds();
    int rc = 1;
    char why[96] = "";
    if (load->method == LOAD_PEER) rc = load_from_peer(s, load, streams, why, sizeof why, err);
    *from_peer = rc == 0;
    if (rc == 0) {
        snprintf(load->used, sizeof load->used, "peer from GPU %d", load->peer_device);
    } else if (rc > 0) {
        rc = load_from_host(s, m, streams, load->used, sizeof load->used, err);
        if (rc == 0 && why[0]) { /* say why the peer path was not taken */
            char host[64];
            snprintf(host, sizeof host, "%.63s", load->used);
            snprintf(load->used, sizeof load->used, "%.63s; peer refused: %.72s", host, why);
        }
    }
    load->bytes = m->map_len;
    load->seconds = s->weights_seconds = now_seconds() - t0;
    (void)hipStreamDestroy(streams[0]);
    (void)hipStreamDestroy(streams[1]);
    return rc;
}

/* Norms, biases and sinks: widened to f32 in their own area. */
static bool is_vector(const Tensor *t) { return t->ndim == 1 || strstr(t->name, ".bias") != nullptr; }
/* Floats a vector takes in the vector area: rounded up to 4, so every
 * vector starts 16-byte aligned (kernels read them as float4). */
static size_t vector_span(const Tensor *t) { return (tensor_n_elems(t) + 3) & ~(size_t)3; }

int weights_upload(HipState *s, const Model *m, GpuLoad *load, Error *err) {
    const ModelConfig *c = &m->config;
    if (device_alloc(&s->weights, m->map_len, err)) return -1;
    bool from_peer = false;
    if (!m->virtual_weights) {
        if (load_weights(s, m, load, &from_peer, err) != 0) return -1;
    } else {
        uint64_t seed = 1;
        const Tensor *mats[] = {m->weights.embedding, m->weights.unembedding};
        for (int i = 0; i < 2; i++)
            if (fill_matrix_random(s, mats[i], seed++ << 32, err)) return -1;
        for (uint32_t l = 0; l < c->n_layers; l++) {
            const LayerWeights *L = &m->weights.layers[l];
            const Tensor *lm[] = {L->wq, L->wk, L->wv, L->wo, L->router_w, L->gate_up_w, L->down_w};
            for (int i = 0; i < 7; i++)
                if (fill_matrix_random(s, lm[i], seed++ << 32, err)) return -1;
        }
        CHECK(hipStreamSynchronize(s->stream), err);
    }
    /* vectors: every 1-D tensor and the biases, widened into one f32 area */
    size_t total = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const Tensor *t = &m->tensors[i];
        if (is_vector(t)) total += vector_span(t);
    }
    float *host = (float *)xmalloc(total * sizeof(float));
    if (device_alloc(&s->vectors, total * sizeof(float), err)) {
        free(host);
        return -1;
    }
    size_t at = 0;
    const float **where = (const float **)xcalloc(m->n_tensors, sizeof *where);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const Tensor *t = &m->tensors[i];
        if (!is_vector(t)) continue;
        int is_norm = strstr(t->name, "norm") != nullptr;
        host_vector(m, t, host + at, is_norm, 1000003ull * (i + 1));
        where[i] = s->vectors + at;
        at += vector_span(t);
    }
    hipError_t e = hipMemcpy(s->vectors, host, total * sizeof(float), hipMemcpyHostToDevice);
    free(host);
    if (e != hipSuccess) {
        free(where);
        return error_set(err, "hip: copying the vectors failed: %s", hipGetErrorString(e));
    }
#define VEC(t) where[(t) - m->tensors]
    s->emb = view(s, m->weights.embedding);
    s->unemb = view(s, m->weights.unembedding);
    s->final_norm = VEC(m->weights.final_norm);
    s->layers = (LayerDev *)xcalloc(c->n_layers, sizeof(LayerDev));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const LayerWeights *W = &m->weights.layers[l];
        LayerDev *L = &s->layers[l];
        L->wq = view(s, W->wq), L->wk = view(s, W->wk), L->wv = view(s, W->wv), L->wo = view(s, W->wo);
        L->router = view(s, W->router_w), L->gate_up = view(s, W->gate_up_w), L->down = view(s, W->down_w);
        L->attn_norm = VEC(W->attn_norm), L->bq = VEC(W->bq), L->bk = VEC(W->bk), L->bv = VEC(W->bv), L->bo = VEC(W->bo);
        L->sinks = VEC(W->sinks), L->mlp_norm = VEC(W->mlp_norm), L->router_b = VEC(W->router_b);
        L->gate_up_b = VEC(W->gate_up_b), L->down_b = VEC(W->down_b);
    }
#undef VEC
    free(where);
    if (prepare_mxfp4(s, m, from_peer, err)) return -1;
    return tile_expert_weights(s, m, from_peer, err);
}
