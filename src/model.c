#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gptoss_math.h"
#include "mapping_guard.h"
#include "model_layout.h"

const char *dtype_name(DType d) {
    switch (d) {
    case DTYPE_F32: return "F32";
    case DTYPE_BF16: return "BF16";
    case DTYPE_MXFP4: return "MXFP4";
    }
    return "?";
}

uint64_t dtype_nbytes(DType d, uint64_t n) {
    switch (d) {
    case DTYPE_F32: return n * 4;
    case DTYPE_BF16: return n * 2;
    case DTYPE_MXFP4: return n / 2 + n / 32;
    }
    return 0;
}

uint64_t tensor_n_elems(const Tensor *t) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

uint64_t tensor_row_len(const Tensor *t) { return t->shape[t->ndim - 1]; }

void tensor_read_row(const Tensor *t, uint64_t row, float *out) {
    uint64_t n = tensor_row_len(t);
    switch (t->dtype) {
    case DTYPE_F32:
        memcpy(out, t->data + row * n * 4, n * 4);
        break;
    case DTYPE_BF16: {
        const uint16_t *p = (const uint16_t *)(t->data) + row * n;
        for (uint64_t i = 0; i < n; i++) out[i] = bf16_to_f32(p[i]);
        break;
    }
    case DTYPE_MXFP4: {
        /* blocks of all rows first, then the scales of all rows */
        uint64_t nblk = n / 32, rows = tensor_n_elems(t) / n;
        const uint8_t *blk = t->data + row * nblk * 16;
        const uint8_t *scl = t->data + rows * nblk * 16 + row * nblk;
        float fp4[16];
        for (uint32_t v = 0; v < 16; v++) fp4[v] = gptoss_fp4_value(v);
        for (uint64_t b = 0; b < nblk; b++) {
            float s = gptoss_e8m0_value(scl[b]);
            for (int j = 0; j < 16; j++) {
                uint8_t v = blk[b * 16 + j];
                out[b * 32 + 2 * j] = fp4[v & 15] * s;
                out[b * 32 + 2 * j + 1] = fp4[v >> 4] * s;
            }
        }
        break;
    }
    }
}

int model_config_validate(const ModelConfig *c, Error *err) {
#define REQUIRE(cond, ...) \
    do { \
        if (!(cond)) return error_set(err, __VA_ARGS__); \
    } while (0)
    REQUIRE(c->vocab_size > 0 && c->vocab_size <= (1u << 24), "vocab_size %u out of range", c->vocab_size);
    REQUIRE(c->hidden > 0 && c->hidden <= 65536 && c->hidden % 32 == 0, "hidden %u must be a positive multiple of 32", c->hidden);
    REQUIRE(c->n_layers > 0 && c->n_layers <= MODEL_MAX_LAYERS, "n_layers %u out of range (1..%d)", c->n_layers, MODEL_MAX_LAYERS);
    REQUIRE(c->n_heads > 0 && c->n_heads <= 1024, "n_heads %u out of range", c->n_heads);
    REQUIRE(c->n_kv_heads > 0 && c->n_heads % c->n_kv_heads == 0, "n_kv_heads %u must divide n_heads %u", c->n_kv_heads, c->n_heads);
    REQUIRE(c->head_dim > 0 && c->head_dim <= 1024 && c->head_dim % 2 == 0, "head_dim %u must be even (2..1024)", c->head_dim);
    REQUIRE(c->n_experts > 0 && c->n_experts <= 1024, "n_experts %u out of range", c->n_experts);
    REQUIRE(c->experts_per_token > 0 && c->experts_per_token <= c->n_experts, "experts_per_token %u must be 1..n_experts", c->experts_per_token);
    REQUIRE(c->intermediate > 0 && c->intermediate <= 65536 && c->intermediate % 32 == 0, "intermediate %u must be a positive multiple of 32", c->intermediate);
    REQUIRE(c->max_context > 0 && c->max_context <= (1u << 24), "max_context %u out of range", c->max_context);
    REQUIRE(c->initial_context > 0, "initial_context must be positive");
    REQUIRE(isfinite(c->rope_theta) && c->rope_theta > 1.0f, "rope_theta must be > 1");
    REQUIRE(isfinite(c->rope_scaling_factor) && c->rope_scaling_factor >= 1.0f, "rope scaling factor must be >= 1");
    REQUIRE(isfinite(c->rope_beta_fast) && isfinite(c->rope_beta_slow) && c->rope_beta_fast > c->rope_beta_slow && c->rope_beta_slow > 0,
            "YaRN betas must satisfy beta_fast > beta_slow > 0");
    REQUIRE(isfinite(c->swiglu_limit) && c->swiglu_limit > 0, "swiglu_limit must be positive");
    REQUIRE(isfinite(c->rms_eps) && c->rms_eps > 0 && c->rms_eps < 1, "rms_eps must be in (0, 1)");
    int any_sliding = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        REQUIRE(c->layer_sliding[l] <= 1, "layer %u: sliding flag must be 0 or 1", l);
        any_sliding |= c->layer_sliding[l];
    }
    for (uint32_t l = c->n_layers; l < MODEL_MAX_LAYERS; l++) REQUIRE(c->layer_sliding[l] == 0, "sliding flag set past the last layer");
    REQUIRE(!any_sliding || c->sliding_window > 0, "sliding layers need a sliding_window > 0");
    return 0;
#undef REQUIRE
}

static int fail(Model *m, Error *err, const char *path, const char *what) {
    error_set(err, "%s: invalid model file: %s", path, what);
    model_close(m);
    return -1;
}

/* Opens path for mmap, refusing anything but a regular file. stat first so
 * that a device or FIFO is not even opened; O_NONBLOCK so that a FIFO that
 * appears between the two calls cannot block open() waiting for a writer;
 * fstat on the descriptor is the check that counts. */
static int open_regular(const char *path, struct stat *st, Error *err) {
    if (stat(path, st) == 0 && !S_ISREG(st->st_mode)) return error_set(err, "%s: not a regular file (%s)", path, file_kind_name(st->st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return error_set(err, "%s: cannot open model: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        error_set(err, "%s: cannot stat model: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        error_set(err, "%s: not a regular file (%s)", path, file_kind_name(st->st_mode));
        close(fd);
        return -1;
    }
    /* Meaningless for a regular file, but leave an ordinary descriptor. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

static int by_offset(const void *a, const void *b) {
    const Tensor *x = *(const Tensor *const *)a, *y = *(const Tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y; /* directory order: a deterministic message */
}

/* Every tensor's range has been checked to lie between the directory and the
 * end of the file; this checks that no two share a byte. */
static int check_no_overlap(const Model *m, char *msg, size_t msg_len) {
    const Tensor **order = xmalloc(m->n_tensors * sizeof *order);
    for (uint32_t i = 0; i < m->n_tensors; i++) order[i] = &m->tensors[i];
    qsort(order, m->n_tensors, sizeof *order, by_offset);
    int rc = 0;
    for (uint32_t i = 1; i < m->n_tensors && rc == 0; i++) {
        const Tensor *a = order[i - 1], *b = order[i];
        if (b->offset < a->offset + a->nbytes) {
            snprintf(msg, msg_len, "tensors '%s' [%llu, +%llu) and '%s' [%llu, +%llu) overlap", a->name, (unsigned long long)a->offset,
                     (unsigned long long)a->nbytes, b->name, (unsigned long long)b->offset, (unsigned long long)b->nbytes);
            rc = -1;
        }
    }
    free(order);
    return rc;
}

int model_open(Model *m, const char *path, Error *err) {
    memset(m, 0, sizeof *m);
    struct stat st;
    int fd = open_regular(path, &st, err);
    if (fd < 0) return -1;
    size_t len = (size_t)st.st_size;
    if (len < LAYOUT_FIXED_HEADER) {
        close(fd);
        return error_set(err, "%s: invalid model file: %zu bytes is shorter than the %u-byte header (truncated?)", path, len,
                         (unsigned)LAYOUT_FIXED_HEADER);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return error_set(err, "%s: mmap failed: %s", path, strerror(errno));
    /* From here on every read of the mapping, this function's included, may
     * fault if the file shrinks: the guard turns that into a message. */
    mapping_guard_add(map, len, path);
    m->map = map;
    m->map_len = len;
    m->path = xstrdup(path);
    const uint8_t *p = m->map;

    if (memcmp(p, MODEL_MAGIC, 8) != 0) return fail(m, err, path, "bad magic (not a getp model file)");
    uint32_t version = read_u32le(p + 8);
    if (version != MODEL_VERSION) {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported version %u (this build reads %u)", version, MODEL_VERSION);
        return fail(m, err, path, msg);
    }
    uint32_t n_tensors = read_u32le(p + 12);
    layout_read_config(p, &m->config);
    Error cerr;
    if (model_config_validate(&m->config, &cerr) != 0) return fail(m, err, path, cerr.msg);
    if (n_tensors == 0 || n_tensors > 100000) return fail(m, err, path, "tensor count out of range");
    uint64_t dir_end = (uint64_t)LAYOUT_FIXED_HEADER + (uint64_t)n_tensors * LAYOUT_DIR_ENTRY;
    if (dir_end > len) return fail(m, err, path, "tensor directory extends past the end of the file (truncated?)");

    m->n_tensors = n_tensors;
    m->tensors = xcalloc(n_tensors, sizeof(Tensor));
    for (uint32_t i = 0; i < n_tensors; i++) {
        Tensor *t = &m->tensors[i];
        const uint8_t *e = p + LAYOUT_FIXED_HEADER + (uint64_t)i * LAYOUT_DIR_ENTRY;
        char msg[256];
        if (memchr(e, 0, MODEL_NAME_LEN) == NULL || e[0] == 0) {
            snprintf(msg, sizeof msg, "tensor %u: name is empty or not NUL-terminated", i);
            return fail(m, err, path, msg);
        }
        memcpy(t->name, e, MODEL_NAME_LEN);
        uint32_t dtype = read_u32le(e + 64);
        t->ndim = read_u32le(e + 68);
        if (dtype > DTYPE_MXFP4 || t->ndim == 0 || t->ndim > MODEL_MAX_DIMS) {
            snprintf(msg, sizeof msg, "tensor '%s': bad dtype %u or rank %u", t->name, dtype, t->ndim);
            return fail(m, err, path, msg);
        }
        t->dtype = (DType)dtype;
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->ndim; d++) {
            t->shape[d] = read_u64le(e + 72 + 8 * d);
            if (t->shape[d] == 0 || t->shape[d] > (1ull << 32) || n > (1ull << 40) / t->shape[d]) {
                snprintf(msg, sizeof msg, "tensor '%s': dimension %u out of range", t->name, d);
                return fail(m, err, path, msg);
            }
            n *= t->shape[d];
        }
        t->offset = read_u64le(e + 104);
        t->nbytes = read_u64le(e + 112);
        if (t->dtype == DTYPE_MXFP4 && tensor_row_len(t) % 32 != 0) {
            snprintf(msg, sizeof msg, "tensor '%s': MXFP4 rows must be a multiple of 32", t->name);
            return fail(m, err, path, msg);
        }
        if (t->nbytes != dtype_nbytes(t->dtype, n)) {
            snprintf(msg, sizeof msg, "tensor '%s': byte size %llu does not match its shape and dtype (%llu)", t->name,
                     (unsigned long long)t->nbytes, (unsigned long long)dtype_nbytes(t->dtype, n));
            return fail(m, err, path, msg);
        }
        if (t->offset % MODEL_ALIGN != 0 || t->offset > len || t->nbytes > len - t->offset) {
            snprintf(msg, sizeof msg, "tensor '%s': data [%llu, +%llu) is misaligned or past the end of the %zu-byte file (truncated?)",
                     t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes, len);
            return fail(m, err, path, msg);
        }
        if (t->offset < dir_end) {
            snprintf(msg, sizeof msg, "tensor '%s': data at byte %llu overlaps the header and tensor directory, which end at byte %llu", t->name,
                     (unsigned long long)t->offset, (unsigned long long)dir_end);
            return fail(m, err, path, msg);
        }
        t->data = p + t->offset;
    }
    char msg[512];
    if (check_no_overlap(m, msg, sizeof msg) != 0) return fail(m, err, path, msg);
    if (layout_bind_weights(m, msg, sizeof msg) != 0) return fail(m, err, path, msg);
    return 0;
}

int model_create_virtual(Model *m, const ModelConfig *c, DType dense, DType experts, Error *err) {
    memset(m, 0, sizeof *m);
    if (model_config_validate(c, err) != 0) return -1;
    m->config = *c;
    uint64_t header, len;
    m->tensors = layout_place_tensors(c, dense, experts, &m->n_tensors, &header, &len);
    m->map_len = (size_t)len;
    m->virtual_weights = 1;
    m->path = xstrdup("(dummy weights)");
    char msg[512];
    if (layout_bind_weights(m, msg, sizeof msg) != 0) {
        error_set(err, "virtual model: %s", msg);
        model_close(m);
        return -1;
    }
    return 0;
}

void model_close(Model *m) {
    if (m->map) {
        mapping_guard_remove(m->map);
        munmap((void *)m->map, m->map_len);
    }
    if (m->weights.layers) free(m->weights.layers);
    free(m->tensors);
    free(m->path);
    memset(m, 0, sizeof *m);
}

const Tensor *model_find_tensor(const Model *m, const char *name) {
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}
