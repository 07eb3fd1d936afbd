/* fuzz_convert.c - the convert kind (tests/fuzz/fuzz.h): --emit DIR writes
 * mutated checkpoint I into DIR (config.json or model.safetensors mutated,
 * the other a link to the fixture), which tests/run_sanitize.sh hands to the
 * convert_hf process. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

void emit_convert(const Fuzz *fz, long index) {
    Rng r = rng_for(fz, index);
    int which = (int)(index & 1); /* hf_f32, hf_mxfp4 */
    const Buf *config = &fz->fixture_config[which], *st = &fz->fixture_st[which];
    uint64_t hlen = read_u64le(st->p);
    Seed own[2] = {{(const char *)config->p, config->len}, {(const char *)st->p + 8, (size_t)hlen}};
    Buf out = {0};
    char path[4096], target[4096];
    const char *names[2] = {"config.json", "model.safetensors"};
    int mutated[2] = {0, 0};
    /* mostly well-formed JSON with values at their edges (what the
     * converter does with them is the point); now and then anything */
    size_t what = rng_below(&r, 10);
    if (what < 5) { /* config.json */
        MutateCfg cfg = {JSON_DICT, N_JSON_DICT, &own[0], 1, 1 << 16, 1 << 10};
        if (what < 4) {
            buf_set(&out, own[0].text, own[0].len);
            mutate_values(&out, &r);
        } else {
            make_mutant(&out, &r, &cfg);
        }
        snprintf(path, sizeof path, "%s/config.json", fz->emit);
        unlink(path);
        write_file_or_die(path, out.p, out.len, out.len);
        mutated[0] = 1;
    } else { /* the safetensors header (its length prefix kept right, mostly) or the file's length */
        Buf hdr = {0};
        MutateCfg cfg = {JSON_DICT, N_JSON_DICT, &own[1], 1, 1 << 16, 1 << 10};
        size_t file_len = st->len;
        buf_set(&hdr, own[1].text, own[1].len);
        if (what < 8) mutate_values(&hdr, &r);
        else if (what == 8) make_mutant(&hdr, &r, &cfg);
        else file_len = 8 + hlen + rng_below(&r, st->len - 8 - hlen);
        uint8_t len8[8];
        put_u64(len8, rng_chance(&r, 10) ? (uint64_t)rng_next(&r) >> rng_below(&r, 64) : (uint64_t)hdr.len);
        buf_set(&out, len8, 8);
        buf_insert(&out, 8, hdr.p, hdr.len);
        buf_insert(&out, out.len, st->p + 8 + hlen, st->len - 8 - hlen);
        if (file_len - (8 + hlen) + 8 + hdr.len < out.len) out.len = file_len - (8 + hlen) + 8 + hdr.len;
        snprintf(path, sizeof path, "%s/model.safetensors", fz->emit);
        unlink(path);
        write_file_or_die(path, out.p, out.len, out.len);
        buf_free(&hdr);
        mutated[1] = 1;
    }
    /* the file left alone is a link to the fixture */
    for (int f = 0; f < 2; f++) {
        if (mutated[f]) continue;
        snprintf(path, sizeof path, "%s/%s", fz->emit, names[f]);
        char *dir = realpath(fz->fixtures, NULL);
        if (!dir) die("%s: %s", fz->fixtures, strerror(errno));
        snprintf(target, sizeof target, "%s/hf_%s/%s", dir, which ? "mxfp4" : "f32", names[f]);
        free(dir);
        unlink(path);
        if (symlink(target, path) != 0) die("%s: symlink: %s", path, strerror(errno));
    }
    buf_free(&out);
}
