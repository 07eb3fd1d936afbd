/* convert_hf - converts a Hugging Face gpt-oss checkpoint directory
 * (config.json + *.safetensors, dense or MXFP4 experts, as published for
 * openai/gpt-oss-20b and -120b) into a getp model file.
 *
 * MXFP4 expert blocks are copied as they are (the getp layout stores a
 * tensor's blocks, then its scales) unless --widen asks for dense experts.
 * Dense expert tensors are transposed from HF's [E, in, out] to getp's
 * [E, out, in]. Vectors are stored as F32.
 *
 * Every number read from config.json or a safetensors header is checked for
 * its type and range before it is cast (the bounds are in config_fields and
 * st_entry); a bad one is an error naming the file and the field. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
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

#include "../src/json.h"
#include "../src/model_writer.h"
#include "../src/output_file.h"

typedef enum { ST_F32, ST_BF16, ST_F16, ST_U8 } StDType;

typedef struct {
    char *name;
    StDType dtype;
    int ndim;
    uint64_t shape[4];
    const uint8_t *data;
    uint64_t nbytes;
    const char *file;
} StTensor;

/* A mapped .safetensors file; its tensors point into the mapping. */
typedef struct {
    char *path;
    uint8_t *map;
    size_t len;
} StFile;

typedef struct {
    StTensor *t;
    int n, cap;
    StFile *files;
    int n_files;
} Checkpoint;

static void checkpoint_free(Checkpoint *ck) {
    for (int i = 0; i < ck->n; i++) free(ck->t[i].name);
    for (int i = 0; i < ck->n_files; i++) {
        munmap(ck->files[i].map, ck->files[i].len);
        free(ck->files[i].path);
    }
    free(ck->t);
    free(ck->files);
    memset(ck, 0, sizeof *ck);
}

/* A JSON value as messages show it: numbers and (short) strings as written,
 * other values by their type. */
static const char *describe(const JsonValue *v, char *buf, size_t n) {
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return v->number != 0 ? "true" : "false";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    case JSON_NUMBER:
        /* the shortest of 15 or 17 digits that reads back as the same double */
        snprintf(buf, n, "%.15g", v->number);
        if (strtod(buf, NULL) != v->number) snprintf(buf, n, "%.17g", v->number);
        return buf;
    case JSON_STRING: {
        size_t k = 0, i = 0;
        buf[k++] = '"';
        for (; i < v->len && k + 5 < n; i++) buf[k++] = isprint((unsigned char)v->string[i]) ? v->string[i] : '?';
        if (i < v->len) buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
        buf[k++] = '"';
        buf[k] = 0;
        return buf;
    }
    }
    return "?";
}

/* JSON's integers arrive as doubles: v is a whole number in [lo, hi]. The
 * range test comes before any cast (which would be undefined out of range). */
static int json_int_in(const JsonValue *v, double lo, double hi) {
    return v->type == JSON_NUMBER && v->number >= lo && v->number <= hi && v->number == floor(v->number);
}

/* v is the JSON string lit exactly (a JSON string may hold NULs). */
static int json_str_is(const JsonValue *v, const char *lit) {
    return v->type == JSON_STRING && v->len == strlen(lit) && !memcmp(v->string, lit, v->len);
}

static const char *const dtype_names[] = {"F32", "BF16", "F16", "U8"};
static uint64_t st_size(StDType d) { return d == ST_F32 ? 4 : d == ST_U8 ? 1 : 2; }

static void shape_str(char *buf, size_t n, int ndim, const uint64_t *shape) {
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
        return error_set(err, "%s: tensor '%s' must be an object, got %s", path, name, describe(e, got, sizeof got));
    const JsonValue *dt = json_get(e, "dtype"), *shape = json_get(e, "shape"), *off = json_get(e, "data_offsets");
    int dtype = -1;
    for (int i = 0; dt && i < 4; i++)
        if (json_str_is(dt, dtype_names[i])) dtype = i;
    if (dtype < 0)
        return error_set(err, "%s: tensor '%s': \"dtype\" must be F32, BF16, F16 or U8, got %s", path, name,
                         dt ? describe(dt, got, sizeof got) : "nothing");
    t->dtype = (StDType)dtype;
    if (!shape || shape->type != JSON_ARRAY || shape->n > 4)
        return error_set(err, "%s: tensor '%s': \"shape\" must be an array of at most 4 integers, got %s", path, name,
                         shape ? describe(shape, got, sizeof got) : "nothing");
    t->ndim = (int)shape->n;
    int empty = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (!json_int_in(&shape->items[d], 0, ST_MAX_DIM))
            return error_set(err, "%s: tensor '%s': \"shape\"[%d] must be an integer in [0, %.0f], got %s", path, name, d, ST_MAX_DIM,
                             describe(&shape->items[d], got, sizeof got));
        t->shape[d] = (uint64_t)shape->items[d].number;
        empty |= t->shape[d] == 0;
    }
    /* the element count, bounded by what the data can hold so it cannot wrap */
    uint64_t n = empty ? 0 : 1, max_n = data_len / st_size(t->dtype);
    for (int d = 0; d < t->ndim && n; d++) {
        if (n > max_n / t->shape[d]) {
            char dims[128];
            shape_str(dims, sizeof dims, t->ndim, t->shape);
            return error_set(err, "%s: tensor '%s': \"shape\" [%s] needs more than the %llu bytes of data in the file", path, name, dims,
                             (unsigned long long)data_len);
        }
        n *= t->shape[d];
    }
    if (!off || off->type != JSON_ARRAY || off->n != 2)
        return error_set(err, "%s: tensor '%s': \"data_offsets\" must be an array of 2 integers, got %s", path, name,
                         off ? describe(off, got, sizeof got) : "nothing");
    uint64_t ab[2];
    for (int i = 0; i < 2; i++) {
        /* (double)data_len may round up past data_len: b <= data_len is checked again as an integer below */
        if (!json_int_in(&off->items[i], 0, (double)data_len))
            return error_set(err, "%s: tensor '%s': \"data_offsets\"[%d] must be an integer in [0, %llu], got %s", path, name, i,
                             (unsigned long long)data_len, describe(&off->items[i], got, sizeof got));
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

static const StTensor *find(const Checkpoint *ck, const char *name) {
    for (int i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

static float st_get(const StTensor *t, uint64_t i) {
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

/* ---- config.json ---- */

/* An object of config.json: the file, and the object's name as messages
 * show it before a key ("" at the top level, else e.g. "rope_scaling".). */
typedef struct {
    const char *path;
    const char *prefix;
    const JsonValue *obj;
} Section;

/* A present field: HF writes null for "not set", so null counts as absent. */
static const JsonValue *field(const Section *s, const char *key) {
    const JsonValue *v = json_get(s->obj, key);
    return v && v->type != JSON_NULL ? v : NULL;
}

#define REQUIRED (-1)

/* An integer field in [lo, hi] into *out; def when absent (REQUIRED: an
 * error). A present value of another type or out of range is an error. */
static int config_int(const Section *s, const char *key, uint32_t lo, uint32_t hi, int64_t def, uint32_t *out, Error *err) {
    const JsonValue *v = field(s, key);
    if (!v) {
        if (def == REQUIRED) return error_set(err, "%s: %s\"%s\" is missing", s->path, s->prefix, key);
        *out = (uint32_t)def;
        return 0;
    }
    char got[64];
    if (!json_int_in(v, lo, hi))
        return error_set(err, "%s: %s\"%s\" must be an integer in [%u, %u], got %s", s->path, s->prefix, key, lo, hi,
                         describe(v, got, sizeof got));
    *out = (uint32_t)v->number;
    return 0;
}

/* A real-valued field in [lo, hi] (bounds inside float's range) into *out;
 * def when absent. */
static int config_num(const Section *s, const char *key, double lo, double hi, double def, float *out, Error *err) {
    const JsonValue *v = field(s, key);
    char got[64];
    if (v && !(v->type == JSON_NUMBER && v->number >= lo && v->number <= hi))
        return error_set(err, "%s: %s\"%s\" must be a number in [%g, %g], got %s", s->path, s->prefix, key, lo, hi,
                         describe(v, got, sizeof got));
    *out = (float)(v ? v->number : def);
    return 0;
}

/* The config's fields into c. Integer bounds are the loader's
 * (model_config_validate in src/model.c), so that what converts also loads;
 * its rules across fields (multiples of 32, n_kv_heads dividing n_heads, ...)
 * are left to it. Real-valued bounds are generous sanity limits. */
static int config_fields(const char *path, const JsonValue *j, ModelConfig *c, Error *err) {
    char got[64];
    if (j->type != JSON_OBJECT) return error_set(err, "%s: must be a JSON object, got %s", path, describe(j, got, sizeof got));
    Section top = {path, "", j};
    const struct {
        const char *key;
        uint32_t lo, hi;
        uint32_t *dst;
    } ints[] = {{"vocab_size", 1, 1u << 24, &c->vocab_size},
                {"hidden_size", 1, 65536, &c->hidden},
                {"num_hidden_layers", 1, MODEL_MAX_LAYERS, &c->n_layers},
                {"num_attention_heads", 1, 1024, &c->n_heads},
                {"num_key_value_heads", 1, 1024, &c->n_kv_heads},
                {"head_dim", 1, 1024, &c->head_dim},
                {"num_local_experts", 1, 1024, &c->n_experts},
                {"intermediate_size", 1, 65536, &c->intermediate},
                {"max_position_embeddings", 1, 1u << 24, &c->max_context},
                /* 0 = none, allowed only without sliding layers (checked by the loader) */
                {"sliding_window", 0, 1u << 24, &c->sliding_window}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (config_int(&top, ints[i].key, ints[i].lo, ints[i].hi, REQUIRED, ints[i].dst, err) != 0) return -1;
    /* the transformers name, else the original gpt-oss one */
    const char *ept = field(&top, "num_experts_per_tok") || !field(&top, "experts_per_token") ? "num_experts_per_tok" : "experts_per_token";
    if (config_int(&top, ept, 1, 1024, REQUIRED, &c->experts_per_token, err) != 0) return -1;

    /* RoPE parameters: "rope_parameters" (transformers 5), else "rope_scaling";
     * either may be null or absent (plain RoPE, factor 1). */
    Section rope = {path, "", NULL};
    char rope_prefix[32];
    static const char *const rope_keys[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2 && !rope.obj; i++) {
        const JsonValue *r = field(&top, rope_keys[i]);
        if (r && r->type != JSON_OBJECT)
            return error_set(err, "%s: \"%s\" must be an object or null, got %s", path, rope_keys[i], describe(r, got, sizeof got));
        snprintf(rope_prefix, sizeof rope_prefix, "\"%s\".", rope_keys[i]);
        rope.prefix = rope_prefix;
        rope.obj = r;
    }
    /* rope_theta at the top level (transformers 4), else in the rope object */
    const Section *theta = field(&top, "rope_theta") || !field(&rope, "rope_theta") ? &top : &rope;
    if (config_num(theta, "rope_theta", 1, 1e9, 10000.0, &c->rope_theta, err) != 0 ||
        config_num(&rope, "factor", 1, 1024, 1.0, &c->rope_scaling_factor, err) != 0 ||
        config_num(&rope, "beta_fast", 0, 1e4, 32.0, &c->rope_beta_fast, err) != 0 ||
        config_num(&rope, "beta_slow", 0, 1e4, 1.0, &c->rope_beta_slow, err) != 0)
        return -1;
    const JsonValue *type = field(&rope, "rope_type");
    if (type && !json_str_is(type, "yarn") && !json_str_is(type, "default"))
        return error_set(err, "%s: %s\"rope_type\" must be \"yarn\" or \"default\", got %s", path, rope.prefix,
                         describe(type, got, sizeof got));
    if (type && json_str_is(type, "default")) c->rope_scaling_factor = 1.0f; /* transformers ignores the factor then */
    const JsonValue *truncate = field(&rope, "truncate");
    if (truncate && truncate->type != JSON_BOOL)
        return error_set(err, "%s: %s\"truncate\" must be true or false, got %s", path, rope.prefix, describe(truncate, got, sizeof got));
    if (truncate && truncate->number != 0 && c->rope_scaling_factor > 1)
        fprintf(stderr, "convert_hf: warning: rope \"truncate\": true is not what gpt-oss uses; getp does not truncate\n");
    /* YaRN's original context: gpt-oss's name, else the rope object's, else the whole context */
    const Section *orig = field(&top, "initial_context_length") || !field(&rope, "original_max_position_embeddings") ? &top : &rope;
    if (config_int(orig, orig == &top ? "initial_context_length" : "original_max_position_embeddings", 1, 1u << 24, c->max_context,
                   &c->initial_context, err) != 0 ||
        config_num(&top, "swiglu_limit", 0, 1e4, 7.0, &c->swiglu_limit, err) != 0 ||
        config_num(&top, "rms_norm_eps", 0, 1, 1e-5, &c->rms_eps, err) != 0)
        return -1;

    const JsonValue *types = field(&top, "layer_types");
    if (!types) {
        for (uint32_t l = 0; l < c->n_layers; l++) c->layer_sliding[l] = l % 2 == 0; /* gpt-oss: sliding first, alternating */
        return 0;
    }
    if (types->type != JSON_ARRAY)
        return error_set(err, "%s: \"layer_types\" must be an array of strings, got %s", path, describe(types, got, sizeof got));
    if (types->n != c->n_layers)
        return error_set(err, "%s: \"layer_types\" has %zu entries, \"num_hidden_layers\" is %u", path, types->n, c->n_layers);
    for (size_t l = 0; l < types->n; l++) {
        const JsonValue *t = &types->items[l];
        if (!json_str_is(t, "sliding_attention") && !json_str_is(t, "full_attention"))
            return error_set(err, "%s: \"layer_types\"[%zu] must be \"sliding_attention\" or \"full_attention\", got %s", path, l,
                             describe(t, got, sizeof got));
        c->layer_sliding[l] = json_str_is(t, "sliding_attention");
    }
    return 0;
}

/* model_open takes at most 2^40 elements a tensor (src/model.c); the
 * per-field bounds alone allow more (E x 2I x H up to 2^43). */
#define LOADER_MAX_ELEMS (1ull << 40)

static int read_config(const char *dir, ModelConfig *c, Error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    Error jerr;
    JsonValue *j = json_parse(text, len, &jerr);
    free(text);
    if (!j) return error_set(err, "%s: %s", path, jerr.msg);
    memset(c, 0, sizeof *c);
    int rc = config_fields(path, j, c, err);
    json_free(j);
    if (rc == 0 && model_config_validate(c, err) != 0) rc = error_prefix(err, "%s", path);
    if (rc == 0) {
        uint32_t n;
        TensorSpec *specs = layout_tensor_specs(c, &n);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            uint64_t elems = 1;
            for (uint32_t d = 0; d < specs[i].ndim; d++) elems *= specs[i].shape[d]; /* < 2^64: each factor is bounded above */
            if (elems > LOADER_MAX_ELEMS)
                rc = error_set(err, "%s: '%s' would hold %llu elements, more than the 2^40 the loader accepts", path, specs[i].name,
                               (unsigned long long)elems);
        }
        free(specs);
    }
    return rc;
}

/* ---- tensor mapping ---- */

typedef struct {
    Checkpoint ck;
    const char *dir;
    const ModelConfig *c;
} ConvCtx;

/* The HF name for a getp tensor name, and whether it is stored [E, in, out]. */
static int hf_name(const char *ours, char *out, size_t n) {
    int layer;
    char rest[64];
    if (!strcmp(ours, "embedding")) return snprintf(out, n, "model.embed_tokens.weight"), 0;
    if (!strcmp(ours, "norm")) return snprintf(out, n, "model.norm.weight"), 0;
    if (!strcmp(ours, "unembedding")) return snprintf(out, n, "lm_head.weight"), 0;
    if (sscanf(ours, "layers.%d.%63s", &layer, rest) != 2) return -1;
    static const char *const map[][2] = {
        {"attn_norm", "input_layernorm.weight"},
        {"attn.q.weight", "self_attn.q_proj.weight"},
        {"attn.q.bias", "self_attn.q_proj.bias"},
        {"attn.k.weight", "self_attn.k_proj.weight"},
        {"attn.k.bias", "self_attn.k_proj.bias"},
        {"attn.v.weight", "self_attn.v_proj.weight"},
        {"attn.v.bias", "self_attn.v_proj.bias"},
        {"attn.o.weight", "self_attn.o_proj.weight"},
        {"attn.o.bias", "self_attn.o_proj.bias"},
        {"attn.sinks", "self_attn.sinks"},
        {"mlp_norm", "post_attention_layernorm.weight"},
        {"router.weight", "mlp.router.weight"},
        {"router.bias", "mlp.router.bias"},
        {"experts.gate_up.weight", "mlp.experts.gate_up_proj"},
        {"experts.gate_up.bias", "mlp.experts.gate_up_proj_bias"},
        {"experts.down.weight", "mlp.experts.down_proj"},
        {"experts.down.bias", "mlp.experts.down_proj_bias"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(rest, map[i][0])) return snprintf(out, n, "model.layers.%d.%s", layer, map[i][1]), 0;
    return -1;
}

/* t is [want[0], ..., want[ndim-1]] with dtype U8 (u8) or a float dtype (!u8);
 * else an error naming t's file, its shape or dtype and what the config needs. */
static int check_shape(const StTensor *t, int ndim, const uint64_t *want, int u8, Error *err) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char have[128], need[128];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(need, sizeof need, ndim, want);
        return error_set(err, "%s: tensor '%s' is [%s], the config needs [%s]", t->file, t->name, have, need);
    }
    if ((t->dtype == ST_U8) != u8)
        return error_set(err, "%s: tensor '%s' has dtype %s, it must be %s", t->file, t->name, dtype_names[t->dtype],
                         u8 ? "U8" : "F32, BF16 or F16");
    return 0;
}

/* Where getp tensor `spec` comes from: an MXFP4 pair of blocks and scales,
 * or one tensor (dense experts are [E, in, out] in HF), its shape and dtype
 * checked against the config. */
typedef struct {
    const StTensor *t, *blk, *scl;
} Source;

static int locate(const ConvCtx *ctx, const TensorSpec *spec, Source *src, Error *err) {
    char name[160], blk_name[192], scl_name[192];
    memset(src, 0, sizeof *src);
    if (hf_name(spec->name, name, sizeof name) != 0) return error_set(err, "no HF name for '%s'", spec->name);
    if (spec->expert_matrix) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        snprintf(blk_name, sizeof blk_name, "%s_blocks", name);
        snprintf(scl_name, sizeof scl_name, "%s_scales", name);
        src->blk = find(&ctx->ck, blk_name);
        src->scl = find(&ctx->ck, scl_name);
        if (src->blk && src->scl) {
            const uint64_t blk_shape[4] = {E, out, in / 32, 16}, scl_shape[3] = {E, out, in / 32};
            if (check_shape(src->blk, 4, blk_shape, 1, err) != 0 || check_shape(src->scl, 3, scl_shape, 1, err) != 0) return -1;
            return 0;
        }
        src->blk = src->scl = NULL;
        src->t = find(&ctx->ck, name);
        if (!src->t) return error_set(err, "%s: the checkpoint has neither '%s' nor its MXFP4 '_blocks' and '_scales'", ctx->dir, name);
        const uint64_t hf_shape[3] = {E, in, out};
        return check_shape(src->t, 3, hf_shape, 0, err);
    }
    src->t = find(&ctx->ck, name);
    if (!src->t) return error_set(err, "%s: the checkpoint has no tensor '%s'", ctx->dir, name);
    return check_shape(src->t, (int)spec->ndim, spec->shape, 0, err);
}

/* Every tensor located and checked before model_write allocates and writes
 * any: a checkpoint that does not match its config fails here, at no cost. */
static int check_checkpoint(const ConvCtx *ctx, Error *err) {
    uint32_t n;
    TensorSpec *specs = layout_tensor_specs(ctx->c, &n);
    int rc = 0;
    Source src;
    for (uint32_t i = 0; i < n && rc == 0; i++) rc = locate(ctx, &specs[i], &src, err);
    free(specs);
    return rc;
}

static int fill_from_checkpoint(void *vctx, const TensorSpec *spec, DType dtype, uint8_t *buf, uint64_t nbytes, Error *err) {
    const ConvCtx *ctx = vctx;
    Source src;
    if (locate(ctx, spec, &src, err) != 0) return -1;
    uint64_t n = 1;
    for (uint32_t d = 0; d < spec->ndim; d++) n *= spec->shape[d];
    if (src.blk) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        if (dtype == DTYPE_MXFP4) { /* same bytes: all blocks, then all scales */
            memcpy(buf, src.blk->data, src.blk->nbytes);
            memcpy(buf + src.blk->nbytes, src.scl->data, src.scl->nbytes);
            return 0;
        }
        /* widen: decode through a temporary MXFP4 tensor view */
        uint8_t *packed = xmalloc(src.blk->nbytes + src.scl->nbytes);
        memcpy(packed, src.blk->data, src.blk->nbytes);
        memcpy(packed + src.blk->nbytes, src.scl->data, src.scl->nbytes);
        Tensor view = {.dtype = DTYPE_MXFP4, .ndim = 3, .shape = {E, out, in}, .data = packed};
        float *f = xmalloc(n * sizeof(float));
        for (uint64_t r = 0; r < E * out; r++) tensor_read_row(&view, r, f + r * in);
        encode_f32_as(dtype, f, n, in, buf);
        free(f);
        free(packed);
        return 0;
    }
    const StTensor *t = src.t;
    float *f = xmalloc(n * sizeof(float));
    if (spec->expert_matrix) {
        uint64_t E = spec->shape[0], out = spec->shape[1], in = spec->shape[2];
        for (uint64_t e = 0; e < E; e++)
            for (uint64_t i = 0; i < in; i++)
                for (uint64_t o = 0; o < out; o++) f[(e * out + o) * in + i] = st_get(t, (e * in + i) * out + o);
    } else {
        for (uint64_t i = 0; i < n; i++) f[i] = st_get(t, i);
    }
    encode_f32_as(dtype, f, n, spec->shape[spec->ndim - 1], buf);
    free(f);
    (void)nbytes;
    return 0;
}

static int load_checkpoint(Checkpoint *ck, const char *dir, Error *err) {
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

/* The output must not be one of the checkpoint's own files (config.json, a
 * shard): checked by file, as getp checks -o against its inputs. */
static int check_output_not_an_input(const char *dir, const char *out, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
    int n = 0, cap = 16, rc;
    OutputInput *in = xmalloc((size_t)cap * sizeof *in);
    char **paths = xmalloc((size_t)cap * sizeof *paths);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) in = xrealloc(in, (size_t)(cap *= 2) * sizeof *in), paths = xrealloc(paths, (size_t)cap * sizeof *paths);
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        paths[n] = xmalloc(len);
        snprintf(paths[n], len, "%s/%s", dir, e->d_name);
        in[n] = (OutputInput){"a file of the checkpoint", paths[n]};
        n++;
    }
    closedir(d);
    rc = output_check(out, in, n, err);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(in);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: convert_hf CHECKPOINT_DIR OUT.bin [--dtype keep|f32|bf16] [--widen]\n"
            "Converts a Hugging Face gpt-oss checkpoint (config.json + *.safetensors) to a getp model.\n"
            "  --dtype  dense matrices: keep the checkpoint's (default), or f32 / bf16\n"
            "  --widen  store MXFP4 experts dense (in the dense dtype) instead of as MXFP4\n");
}

int main(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *dtype_arg = "keep";
    int widen = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            dtype_arg = argv[++i];
        } else if (!strcmp(argv[i], "--widen")) {
            widen = 1;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else if (argv[i][0] != '-' && !out) {
            out = argv[i];
        } else {
            fprintf(stderr, "convert_hf: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir || !out) {
        usage(stderr);
        return 2;
    }
    int keep = !strcmp(dtype_arg, "keep");
    DType dense = !strcmp(dtype_arg, "f32") ? DTYPE_F32 : DTYPE_BF16;
    if (!keep && strcmp(dtype_arg, "f32") && strcmp(dtype_arg, "bf16")) {
        fprintf(stderr, "convert_hf: unknown --dtype '%s'\n", dtype_arg);
        return 2;
    }
    Error err;
    ModelConfig c;
    ConvCtx ctx = {{0}, dir, &c};
    DType experts = dense;
    int rc = check_output_not_an_input(dir, out, &err) != 0 || read_config(dir, &c, &err) != 0 || load_checkpoint(&ctx.ck, dir, &err) != 0 ||
                     check_checkpoint(&ctx, &err) != 0
                 ? -1
                 : 0;
    if (rc == 0) {
        const StTensor *emb = find(&ctx.ck, "model.embed_tokens.weight");
        if (keep) dense = emb->dtype == ST_F32 ? DTYPE_F32 : DTYPE_BF16; /* present: check_checkpoint found it */
        experts = find(&ctx.ck, "model.layers.0.mlp.experts.gate_up_proj_blocks") && !widen ? DTYPE_MXFP4 : dense;
        rc = model_write(out, &c, dense, experts, fill_from_checkpoint, &ctx, &err);
    }
    checkpoint_free(&ctx.ck);
    if (rc != 0) {
        fprintf(stderr, "convert_hf: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "convert_hf: wrote %s (%u layers, %u experts, dense %s, experts %s)\n", out, c.n_layers, c.n_experts,
            dtype_name(dense), dtype_name(experts));
    return 0;
}
