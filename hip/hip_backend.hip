// hip_backend.hip - the GPU backend of src/backend.h on one device: its
// creation (weights, KV cache, buffers), its destruction, and the extern "C"
// entry points the C core calls. hip_state.h maps the other files: the
// forward pass is forward.hip, a call's machinery calls.hip.
#include "hip_state.h"

extern "C" {
#include "../src/gptoss_math.h"
}

static void hip_destroy(Backend *b) {
    HipState *s = (HipState *)b->impl;
    profile_report(s);
    /* teardown: nothing useful can be done about a failure here */
    calls_free(s);
    forward_free(s);
    kv_cache_free(s);
    void *bufs[] = {s->weights, s->vectors, s->kv, s->inv_freq};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) (void)hipFree(bufs[i]);
    block_trace_free(s);
    if (s->stream) (void)hipStreamDestroy(s->stream);
    free(s->layers);
    free(s);
    free(b);
}

/* --precision: BF16_EXPERTS is GETP_X_HI_ONLY=3 (the experts' activations as
 * bf16 hi alone, compact rows where the GEMM runs), EXACT is 0. A
 * GETP_X_HI_ONLY in the environment (a diagnostic, forms 1-3) stays where
 * EXACT is asked (the default) and must be 3 where BF16_EXPERTS is. The
 * decode graphs hold the form they were captured with: set it before. */
static int hip_set_precision(Backend *b, Precision p, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (s->submitted > 0 || s->n_graphs > 0) return error_set(err, "hip backend: the precision is set before the first call");
    const char *env = getenv("GETP_X_HI_ONLY");
    if (env && p == PRECISION_BF16_EXPERTS && s->x_hi_only != 3)
        return error_set(err, "hip backend: --precision bf16 is GETP_X_HI_ONLY=3, but the environment sets GETP_X_HI_ONLY=%s", env);
    if (!env) s->x_hi_only = p == PRECISION_BF16_EXPERTS ? 3 : 0;
    return 0;
}

static const BackendOps HIP_OPS = {"hip", calls_submit, calls_collect, calls_forward, kv_cache_copy_prefix, kv_cache_reserve, hip_destroy,
                                   hip_set_precision};

static int hip_init(HipState *s, Backend *b, const Model *m, size_t kv_budget, GpuLoad *load, Error *err) {
    const ModelConfig *c = &m->config;
    size_t H = c->hidden, QD = (size_t)c->n_heads * c->head_dim, I = c->intermediate, K = c->experts_per_token, E = c->n_experts;
    if (H % 32 || QD % 32 || I % 32)
        return error_set(err, "hip backend: hidden, heads x head_dim and intermediate must be multiples of 32");
    if (H > ROW_MAX_HIDDEN) return error_set(err, "hip backend: hidden size %zu is above %d", H, ROW_MAX_HIDDEN);
    if (K > 8 || E > 4 * WARP) return error_set(err, "hip backend: at most 8 experts per token and 128 experts (the model has %zu of %zu)", K, E);
    hipDeviceProp_t prop;
    CHECK(hipGetDeviceProperties(&prop, s->device), err);
    s->sm_count = prop.multiProcessorCount;
    snprintf(s->prof.device, sizeof s->prof.device, "%.63s", prop.name); /* the profile's peaks are looked up by it */
    CHECK(hipStreamCreateWithFlags(&s->stream, hipStreamNonBlocking), err);
    if (weights_upload(s, m, load, err)) return -1;
    float *inv = (float *)xmalloc(c->head_dim / 2 * sizeof(float));
    rope_yarn_tables(c, inv, &s->concentration);
    int rc = device_alloc(&s->inv_freq, c->head_dim / 2 * 4, err);
    if (rc == 0) {
        hipError_t e = hipMemcpy(s->inv_freq, inv, c->head_dim / 2 * 4, hipMemcpyHostToDevice);
        if (e != hipSuccess) rc = error_set(err, "hip: copying RoPE tables failed: %s", hipGetErrorString(e));
    }
    free(inv);
    if (rc || forward_init(s, err) || calls_init(s, b->max_slots, err) || kv_cache_alloc(s, b, kv_budget, err) || block_trace_init(s, err)) return -1;
    snprintf(b->info, sizeof b->info, "%.40s, KV cache %.2f GiB: %ld positions in pages of %d for %d sequences of up to %d; weights %.1f s",
             prop.name, s->kv_bytes / 1073741824.0, b->kv_positions, KV_PAGE, b->max_slots, b->max_context, s->weights_seconds);
    return 0;
}

extern "C" int hip_device_count(void) {
    int n = 0;
    return hipGetDeviceCount(&n) == hipSuccess ? n : 0;
}

extern "C" int hip_device_pci_bus_id(int device, char *buf, int len) {
    return hipDeviceGetPCIBusId(buf, len, device) == hipSuccess ? 0 : -1;
}

extern "C" int hip_backend_export_weights(Backend *b, unsigned char handle[WEIGHTS_HANDLE_BYTES], Error *err) {
    static_assert(sizeof(hipIpcMemHandle_t) <= WEIGHTS_HANDLE_BYTES, "IPC handle size");
    HipState *s = (HipState *)b->impl;
    hipIpcMemHandle_t h;
    CHECK(hipIpcGetMemHandle(&h, s->weights), err);
    memset(handle, 0, WEIGHTS_HANDLE_BYTES);
    memcpy(handle, &h, sizeof h);
    return 0;
}

extern "C" Backend *hip_backend_create_if_available(const Model *m, int max_slots, int max_context, int device, size_t kv_bytes, GpuLoad *load,
                                                    Error *err) {
    int n = 0;
    hipError_t e = hipGetDeviceCount(&n);
    if (e != hipSuccess || n == 0) {
        error_set(err, "hip backend: no GPU found (%s)", e != hipSuccess ? hipGetErrorString(e) : "0 devices");
        return NULL;
    }
    if (device < 0 || device >= n || hipSetDevice(device) != hipSuccess) {
        error_set(err, "hip backend: cannot use GPU %d of %d", device, n);
        return NULL;
    }
    if ((uint32_t)max_context > m->config.max_context) max_context = (int)m->config.max_context;
    HipState *s = (HipState *)xcalloc(1, sizeof *s);
    s->model = m;
    s->c = m->config;
    s->device = device;
    profile_init(s);
    s->no_graphs = s->prof.on || getenv("GETP_NO_GRAPHS");
    s->attention_per_head = getenv("GETP_ATTENTION_PER_HEAD") != nullptr;
    s->serial = s->prof.on; /* the profile's events are read after each call */
    Backend *b = (Backend *)xcalloc(1, sizeof *b);
    b->ops = &HIP_OPS;
    b->model = m;
    b->max_slots = max_slots < 1 ? 1 : max_slots;
    b->max_context = max_context;
    b->impl = s;
    /* the run's settings (hip_state.h): a value out of range is an error, not the default */
    struct {
        const char *name;
        int dflt, lo, hi, *value;
    } settings[] = {{"GETP_MAX_ROWS", MAX_ROWS, 1, 4096, &s->max_rows},
                    {"GETP_MM_WGMMA", 0, 0, 2, &s->mm_wgmma},
                    {"GETP_PERSISTENT_MOE", 0, 0, 2, &s->persistent_moe},
                    {"GETP_EXPERT_TILES", 1, 0, 1, &s->expert_tile_list},
                    {"GETP_EXPERT_GEMM", 1, 0, 3, &s->expert_gemm},
                    {"GETP_DENSE_GEMM", 1, 0, 2, &s->dense_gemm},
                    {"GETP_ROUTER_BLOCK_EXPERTS", ROUTER_BLOCK_EXPERTS, 0, 128, &s->router_block_experts},
                    {"GETP_FUSED_ROPE", 0, 0, 1, &s->fused_rope},
                    {"GETP_X_HI_ONLY", 0, 0, 3, &s->x_hi_only}};
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if ((*settings[i].value = env_setting(settings[i].name, settings[i].dflt, settings[i].lo, settings[i].hi)) < 0) {
            error_set(err, "hip backend: %s must be a number from %d to %d, not '%s'", settings[i].name, settings[i].lo, settings[i].hi,
                      getenv(settings[i].name));
            hip_destroy(b);
            return NULL;
        }
    b->max_rows = s->max_rows;
    b->max_slot_rows = s->max_slot_rows = slot_rows_for(s->max_rows);
    if (hip_init(s, b, m, kv_bytes, load, err) != 0) {
        hip_destroy(b);
        return NULL;
    }
    return b;
}
