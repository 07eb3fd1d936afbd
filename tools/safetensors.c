/* safetensors.c - see safetensors.h. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_check.h"

static const char *const dtype_names[] = {"F32", "BF16", "F16", "U8"};
static uint64_t st_size(StDType d) { return d == ST_F32 ? 4 : d == ST_U8 ? 1 : 2; }

const char *st_dtype_name(StDType d) { return dtype_names[d]; }

void st_shape_str(char *buf, size_t n, int ndim, const uint64_t *shape) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
}

/* Largest safetensors shape entry taken: every integer up to 2^53 is exact
 * in the double the JSON reader gives. */
#define ST_MAX_DIM 9007199254740992.0

/* One header entry `name` of safetensors file `path` into t: dtype, shape
 * and data_offsets checked against the data_len bytes at base (those after
 * the header). */
static int st_entry(const char *path, const char *name, const JsonValue *e, const uint8_t *base, uint64_t data_len, StTensor *t,
                    Error *err) {
    char got[64];
    if (e->type != JSON_OBJECT)
        return error_set(err, "%s: tensor '%s' must be an object, got %s", path, name, json_describe(e, got, sizeof got));
    const JsonValue *dt = json_get(e, "dtype"), *shape = json_get(e, "shape"), *off = json_get(e, "data_offsets");
    int dtype = -1;
    for (int i = 0; dt && i < 4; i++)
        if (json_str_is(dt, dtype_names[i])) dtype = i;
    if (dtype < 0)
        return error_set(err, "%s: tensor '%s': \"dtype\" must be F32, BF16, F16 or U8, got %s", path, name,
                         dt ? json_describe(dt, got, sizeof got) : "nothing");
    t->dtype = (StDType)dtype;
    if (!shape || shape->type != JSON_ARRAY || shape->n > 4)
        return error_set(err, "%s: tensor '%s': \"shape\" must be an array of at most 4 integers, got %s", path, name,
                         shape ? json_describe(shape, got, sizeof got) : "nothing");
    t->ndim = (int)shape->n;
    int empty = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (!json_int_in(&shape->items[d], 0, ST_MAX_DIM))
            return error_set(err, "%s: tensor '%s': \"shape\"[%d] must be an integer in [0, %.0f], got %s", path, name, d, ST_MAX_DIM,
                             json_describe(&shape->items[d], got, sizeof got));
        t->shape[d] = (uint64_t)shape->items[d].number;
        empty |= t->shape[d] == 0;
    }
    /* the element count, bounded by what the data can hold so it cannot wrap */
    uint64_t n = empty ? 0 : 1, max_n = data_len / st_size(t->dtype);
    for (int d = 0; d < t->ndim && n; d++) {
        if (n > max_n / t->shape[d]) {
            char dims[128];
            st_shape_str(dims, sizeof dims, t->ndim, t->shape);
            return error_set(err, "%s: tensor '%s': \"shape\" [%s] needs more than the %llu bytes of data in the file", path, name, dims,
                             (unsigned long long)data_len);
        }
        n *= t->shape[d];
    }
    if (!off || off->type != JSON_ARRAY || off->n != 2)
        return error_set(err, "%s: tensor '%s': \"data_offsets\" must be an array of 2 integers, got %s", path, name,
                         off ? json_describe(off, got, sizeof got) : "nothing");
    uint64_t ab[2];
    for (int i = 0; i < 2; i++) {
        /* (double)data_len may round up past data_len: b <= data_len is checked again as an integer below */
        if (!json_int_in(&off->items[i], 0, (double)data_len))
            return error_set(err, "%s: tensor '%s': \"data_offsets\"[%d] must be an integer in [0, %llu], got %s", path, name, i,
                             (unsigned long long)data_len, json_describe(&off->items[i], got, sizeof got));
        ab[i] = (uint64_t)off->items[i].number;
    }
    if (ab[1] > data_len)
        return error_set(err, "%s: tensor '%s': \"data_offsets\"[1] must be an integer in [0, %llu], got %llu", path, name,
                         (unsigned long long)data_len, (unsigned long long)ab[1]);
    if (ab[1] < ab[0])
        return error_set(err, "%s: tensor '%s': \"data_offsets\" [%llu, %llu] end before they begin", path, name, (unsigned long long)ab[0],
                         (unsigned long long)ab[1]);
    if (ab[1] - ab[0] != n * st_size(t->dtype))
        return error_set(err, "%s: tensor '%s': \"data_offsets\" [%llu, %llu] hold %llu bytes, its dtype and shape need %llu", path, name,
                         (unsigned long long)ab[0], (unsigned long long)ab[1], (unsigned long long)(ab[1] - ab[0]),
                         (unsigned long long)(n * st_size(t->dtype)));
    t->data = base + ab[0];
    t->nbytes = ab[1] - ab[0];
    return 0;
}

/* Maps one .safetensors file and adds its tensors. */
static int load_safetensors(Checkpoint *ck, const char *path, Error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len < 8) {
        close(fd);
        return error_set(err, "%s: not a safetensors file (too short)", path);
    }
    uint8_t *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return error_set(err, "%s: mmap failed: %s", path, strerror(errno));
    ck->files = xrealloc(ck->files, (size_t)(ck->n_files + 1) * sizeof *ck->files);
    ck->files[ck->n_files++] = (StFile){xstrdup(path), map, len};
    uint64_t hlen = read_u64le(map);
    if (hlen > len - 8) return error_set(err, "%s: header length %llu past the end of the file", path, (unsigned long long)hlen);
    Error jerr;
    JsonValue *h = json_parse((const char *)map + 8, hlen, &jerr);
    if (!h || h->type != JSON_OBJECT) {
        json_free(h);
        return error_set(err, "%s: bad safetensors header: %s", path, h ? "not an object" : jerr.msg);
    }
    const uint8_t *base = map + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    for (size_t i = 0; i < h->n; i++) {
        if (!strcmp(h->keys[i], "__metadata__")) continue;
        StTensor t = {0};
        if (st_entry(path, h->keys[i], &h->items[i], base, data_len, &t, err) != 0) {
            json_free(h);
            return -1;
        }
        t.name = xstrdup(h->keys[i]);
        t.file = ck->files[ck->n_files - 1].path;
        if (ck->n == ck->cap) ck->t = xrealloc(ck->t, (size_t)(ck->cap = ck->cap ? 2 * ck->cap : 256) * sizeof(StTensor));
        ck->t[ck->n++] = t;
    }
    json_free(h);
    return 0;
}

int load_checkpoint(Checkpoint *ck, const char *dir, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0, found = 0;
    while ((e = readdir(d)) && rc == 0) {
        size_t l = strlen(e->d_name);
        if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors")) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            rc = load_safetensors(ck, path, err);
            found++;
        }
    }
    closedir(d);
    if (rc == 0 && !found) rc = error_set(err, "%s: no .safetensors files", dir);
    return rc;
}

void checkpoint_free(Checkpoint *ck) {
    for (int i = 0; i < ck->n; i++) free(ck->t[i].name);
    for (int i = 0; i < ck->n_files; i++) {
        munmap(ck->files[i].map, ck->files[i].len);
        free(ck->files[i].path);
    }
    free(ck->t);
    free(ck->files);
    memset(ck, 0, sizeof *ck);
}

const StTensor *checkpoint_find(const Checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

float st_get(const StTensor *t, uint64_t i) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: return read_f32le(p + 4 * i);
    case ST_BF16: return bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case ST_F16: {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        int e = (h >> 10) & 31, m = h & 1023;
        float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
        return (h & 0x8000) ? -v : v;
    }
    case ST_U8: return p[i];
    }
    return 0;
}
