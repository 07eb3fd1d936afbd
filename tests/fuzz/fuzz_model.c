/* fuzz_model.c - fuzzing model files (tests/fuzz/fuzz.h): model_open on the
 * seed models' header and tensor directory mutated field by field, and on
 * truncated or extended files; an accepted file's tensors must lie inside it,
 * after the directory, not sharing bytes, and be readable. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

void gen_model(const Fuzz *fz, Rng *r, Input *in) {
    const ModelSeed *ms = &fz->models[rng_below(r, (size_t)fz->n_model_paths)];
    buf_set(&in->bytes, ms->head, ms->head_len);
    uint8_t *h = in->bytes.p;
    size_t hl = ms->head_len, dir = LAYOUT_FIXED_HEADER;
    in->file_len = ms->file_len;
    size_t n = 1 + rng_below(r, 1 + rng_below(r, 4));
    for (size_t k = 0; k < n; k++) {
        /* a random directory entry, and a field in it */
        size_t entry = dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors);
        switch (rng_below(r, 10)) {
        case 0: /* flip a bit anywhere in the header region */
            h[rng_below(r, hl)] ^= (uint8_t)(1u << rng_below(r, 8));
            break;
        case 1: /* an interesting byte anywhere */
            h[rng_below(r, hl)] = INTERESTING_BYTES[rng_below(r, N_INTERESTING_BYTES)];
            break;
        case 2: { /* a header u32 field (version, count, config) set to an edge value */
            static const uint32_t vals[] = {0, 1, 2, 3, 31, 32, 33, 64, 255, 256, 257, 4096, 65536, 65537, 100000, 100001,
                                            1u << 24, (1u << 24) + 1, 0x7fffffffu, 0x80000000u, 0xffffffffu};
            size_t field = 8 + 4 * rng_below(r, 14);
            uint32_t v = rng_chance(r, 3) ? read_u32le(h + field) + (uint32_t)rng_below(r, 3) - 1u : vals[rng_below(r, sizeof vals / sizeof *vals)];
            put_u32(h + field, v);
            break;
        }
        case 3: { /* a config float set to an edge value */
            static const uint32_t bits[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x7f800000u, 0xff800000u,
                                            0x7fc00000u, 0x00000001u, 0x7f7fffffu, 0x3f000000u, 0x42000000u};
            put_u32(h + 64 + 4 * rng_below(r, 6), bits[rng_below(r, sizeof bits / sizeof *bits)]);
            break;
        }
        case 4: /* a layer's sliding flag */
            h[88 + rng_below(r, MODEL_MAX_LAYERS)] = (uint8_t)rng_below(r, 3);
            break;
        case 5: { /* an entry's dtype or rank */
            static const uint32_t vals[] = {0, 1, 2, 3, 4, 5, 0xffffffffu};
            put_u32(h + entry + 64 + 4 * rng_below(r, 2), vals[rng_below(r, sizeof vals / sizeof *vals)]);
            break;
        }
        case 6: { /* an entry's shape, offset or byte size set to an edge value */
            size_t field = entry + 72 + 8 * rng_below(r, 6);
            uint64_t old = read_u64le(h + field), fl = ms->file_len;
            uint64_t vals[] = {0, 1, 2, 32, 4096, 8192, old + 4096, old - 4096, old * 2, old + 1, fl, fl - 4096, fl + 4096,
                               1ull << 32, (1ull << 32) + 1, 1ull << 40, 1ull << 63, ~0ull, ~0ull - 4095,
                               read_u64le(h + dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors) + 104)};
            put_u64(h + field, vals[rng_below(r, sizeof vals / sizeof *vals)]);
            break;
        }
        case 7: { /* one entry copied over another: duplicate names, shared data */
            size_t other = dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors);
            if (rng_chance(r, 2)) memcpy(h + entry, h + other, LAYOUT_DIR_ENTRY);
            else memcpy(h + entry + 104, h + other + 104, 16); /* only the data range */
            break;
        }
        case 8: /* a name without its NUL, or emptied */
            if (rng_chance(r, 2)) memset(h + entry, 'A', MODEL_NAME_LEN);
            else h[entry] = 0;
            break;
        case 9: { /* splice: a range taken from another seed's header region */
            const ModelSeed *o = &fz->models[rng_below(r, (size_t)fz->n_model_paths)];
            size_t lim = o->head_len < hl ? o->head_len : hl, a = rng_below(r, lim), m = 1 + rng_below(r, lim - a);
            memcpy(h + a, o->head + a, m);
            break;
        }
        }
    }
    /* one in five is truncated (or extended) */
    if (rng_chance(r, 5)) {
        size_t fl = ms->file_len;
        switch (rng_below(r, 4)) {
        case 0: in->file_len = rng_below(r, hl + 1); break;
        case 1: in->file_len = rng_below(r, fl + 1); break;
        case 2: in->file_len = fl - 1 - rng_below(r, 4096); break;
        case 3: in->file_len = fl + rng_below(r, 8192); break;
        }
    }
}

Verdict check_model(const char *path) {
    Model m;
    Error err;
    err.msg[0] = 0;
    if (model_open(&m, path, &err) != 0) {
        if (!names_the_file(&err, path)) {
            fprintf(stderr, "fuzz: %s: the error does not start with the file name: '%s'\n", g_label, err.msg);
            return VERDICT_WRONG;
        }
        return VERDICT_REJECTED;
    }
    /* the tensors the forward pass reads: inside the file, after the
     * directory, and not sharing bytes (docs/model-format.md) */
    const ModelWeights *w = &m.weights;
    uint32_t n_used = 3 + 17 * m.config.n_layers, k = 0;
    const Tensor **used = xcalloc(n_used, sizeof *used);
    used[k++] = w->embedding;
    used[k++] = w->final_norm;
    used[k++] = w->unembedding;
    for (uint32_t l = 0; l < m.config.n_layers; l++) {
        const LayerWeights *L = &w->layers[l];
        const Tensor *t[] = {L->attn_norm, L->wq, L->bq, L->wk, L->bk, L->wv, L->bv, L->wo, L->bo,
                             L->sinks, L->mlp_norm, L->router_w, L->router_b, L->gate_up_w, L->gate_up_b, L->down_w, L->down_b};
        for (size_t j = 0; j < sizeof t / sizeof *t; j++) used[k++] = t[j];
    }
    uint64_t dir_end = (uint64_t)LAYOUT_FIXED_HEADER + (uint64_t)m.n_tensors * LAYOUT_DIR_ENTRY;
    char why[512] = "";
    for (uint32_t i = 0; i < n_used && !why[0]; i++) {
        const Tensor *t = used[i];
        if (!t) snprintf(why, sizeof why, "a weight slot is empty");
        else if (t->offset < dir_end)
            snprintf(why, sizeof why, "tensor '%s' data at %llu overlaps the header and directory (%llu bytes)", t->name,
                     (unsigned long long)t->offset, (unsigned long long)dir_end);
        else if (t->offset > m.map_len || t->nbytes > m.map_len - t->offset)
            snprintf(why, sizeof why, "tensor '%s' runs past the end of the file", t->name);
        for (uint32_t j = 0; j < i && !why[0]; j++) {
            const Tensor *u = used[j];
            if (u != t && t->offset < u->offset + u->nbytes && u->offset < t->offset + t->nbytes)
                snprintf(why, sizeof why, "tensors '%s' [%llu, +%llu) and '%s' [%llu, +%llu) share bytes", u->name,
                         (unsigned long long)u->offset, (unsigned long long)u->nbytes, t->name, (unsigned long long)t->offset,
                         (unsigned long long)t->nbytes);
        }
    }
    /* read each tensor's first and last row, as the forward pass would */
    for (uint32_t i = 0; i < n_used && !why[0]; i++) {
        const Tensor *t = used[i];
        uint64_t row = tensor_row_len(t), rows = tensor_n_elems(t) / row;
        float *out = xmalloc(row * sizeof(float));
        tensor_read_row(t, 0, out);
        tensor_read_row(t, rows - 1, out);
        free(out);
    }
    free(used);
    model_close(&m);
    if (why[0]) {
        fprintf(stderr, "fuzz: %s: model_open accepted the file but %s\n", g_label, why);
        return VERDICT_WRONG;
    }
    return VERDICT_ACCEPTED;
}

void load_model_seed(ModelSeed *ms, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("%s: %s (make it with gen_model %s --preset tiny)", path, strerror(errno), path);
    struct stat st;
    uint8_t fixed[LAYOUT_FIXED_HEADER];
    if (fstat(fd, &st) != 0 || pread(fd, fixed, sizeof fixed, 0) != (ssize_t)sizeof fixed) die("%s: cannot read the header", path);
    ms->n_tensors = read_u32le(fixed + 12);
    if (ms->n_tensors == 0 || ms->n_tensors > 100000) die("%s: not a model file", path);
    ms->head_len = LAYOUT_FIXED_HEADER + (size_t)ms->n_tensors * LAYOUT_DIR_ENTRY;
    ms->file_len = (size_t)st.st_size;
    ms->head = xmalloc(ms->head_len);
    if (pread(fd, ms->head, ms->head_len, 0) != (ssize_t)ms->head_len) die("%s: cannot read the directory", path);
    close(fd);
}
