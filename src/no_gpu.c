/* no_gpu.c - linked into builds without the HIP backend: "auto" falls back
 * to the CPU and "--backend hip" says why it cannot run. */
#include "backend.h"

Backend *hip_backend_create_if_available(const Model *m, int slots, int context, int device, size_t kv_bytes, GpuLoad *load,
                                         Error *err) {
    (void)m;
    (void)kv_bytes;
    (void)load;
    (void)slots;
    (void)context;
    (void)device;
    error_set(err, "this build has no GPU backend (build with `make hip` or `make hip-amd`)");
    return NULL;
}

int hip_backend_export_weights(Backend *b, unsigned char handle[WEIGHTS_HANDLE_BYTES], Error *err) {
    (void)b;
    (void)handle;
    return error_set(err, "this build has no GPU backend");
}

size_t hip_kv_cache_bytes(const ModelConfig *c, int max_slots, int max_context, long positions) {
    (void)c;
    (void)max_slots;
    (void)max_context;
    (void)positions;
    return 0;
}

int hip_device_count(void) { return 0; }

int hip_device_pci_bus_id(int device, char *buf, int len) {
    (void)device;
    (void)buf;
    (void)len;
    return -1;
}
