#include "logprobs_out.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* A float as JSON: the shortest text that reads back as the same float; a
 * log-probability can be -inf (a logit of -inf), which JSON cannot say. */
static void write_float(FILE *f, float v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

static const uint8_t *token_bytes(const Tokenizer *tok, int id, size_t *len) {
    const uint8_t *b = tokenizer_token_bytes(tok, id, len);
    if (!b) *len = 0; /* an id the tokenizer lacks */
    return b ? b : (const uint8_t *)"";
}

static void write_token_text(FILE *f, const Tokenizer *tok, int id) {
    size_t len;
    const uint8_t *b = token_bytes(tok, id, &len);
    json_write_string(f, (const char *)b, len);
}

static void write_token_bytes(FILE *f, const Tokenizer *tok, int id) {
    size_t len;
    const uint8_t *b = token_bytes(tok, id, &len);
    fputc('[', f);
    for (size_t i = 0; i < len; i++) fprintf(f, i ? ",%u" : "%u", b[i]);
    fputc(']', f);
}

void logprobs_write_getp(FILE *f, const Tokenizer *tok, const RequestResult *r) {
    fputc('[', f);
    for (int t = 0; t < r->n_tokens; t++) {
        const TokenLogprobs *lp = &r->logprobs[t];
        fprintf(f, "%s{\"id\":%d,\"token\":", t ? "," : "", r->tokens[t]);
        write_token_text(f, tok, r->tokens[t]);
        fputs(",\"logprob\":", f);
        write_float(f, lp->logprob);
        fputs(",\"top_logprobs\":[", f);
        for (int k = 0; k < lp->n_top; k++) {
            fprintf(f, "%s{\"id\":%d,\"token\":", k ? "," : "", lp->top_id[k]);
            write_token_text(f, tok, lp->top_id[k]);
            fputs(",\"logprob\":", f);
            write_float(f, lp->top_logprob[k]);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputc(']', f);
}

/* {"token", "logprob", "bytes"} without the closing brace */
static void write_chat_entry(FILE *f, const Tokenizer *tok, int id, float logprob) {
    fputs("{\"token\":", f);
    write_token_text(f, tok, id);
    fputs(",\"logprob\":", f);
    write_float(f, logprob);
    fputs(",\"bytes\":", f);
    write_token_bytes(f, tok, id);
}

void logprobs_write_chat(FILE *f, const Tokenizer *tok, const RequestResult *r) {
    fputs("{\"content\":[", f);
    for (int t = 0; t < r->n_tokens; t++) {
        const TokenLogprobs *lp = &r->logprobs[t];
        if (t) fputc(',', f);
        write_chat_entry(f, tok, r->tokens[t], lp->logprob);
        fputs(",\"top_logprobs\":[", f);
        for (int k = 0; k < lp->n_top; k++) {
            if (k) fputc(',', f);
            write_chat_entry(f, tok, lp->top_id[k], lp->top_logprob[k]);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputs("],\"refusal\":null}", f);
}

void logprobs_write_completions(FILE *f, const Tokenizer *tok, const RequestResult *r) {
    fputs("{\"tokens\":[", f);
    for (int t = 0; t < r->n_tokens; t++) {
        if (t) fputc(',', f);
        write_token_text(f, tok, r->tokens[t]);
    }
    fputs("],\"token_logprobs\":[", f);
    for (int t = 0; t < r->n_tokens; t++) {
        if (t) fputc(',', f);
        write_float(f, r->logprobs[t].logprob);
    }
    fputs("],\"top_logprobs\":[", f);
    for (int t = 0; t < r->n_tokens; t++) {
        const TokenLogprobs *lp = &r->logprobs[t];
        fputs(t ? ",{" : "{", f);
        /* an object keyed by the token's text as written: two ids written
         * alike (U+FFFD for parts of characters) keep the first, the likelier */
        char *keys[SAMPLE_MAX_TOP_LOGPROBS];
        int n_keys = 0;
        for (int k = 0; k < lp->n_top; k++) {
            size_t size;
            char *key = NULL;
            FILE *m = open_memstream(&key, &size);
            if (!m) continue;
            write_token_text(m, tok, lp->top_id[k]);
            fclose(m);
            int dup = 0;
            for (int j = 0; j < n_keys && !dup; j++) dup = !strcmp(keys[j], key);
            if (dup) {
                free(key);
                continue;
            }
            fprintf(f, "%s%s:", n_keys ? "," : "", key);
            write_float(f, lp->top_logprob[k]);
            keys[n_keys++] = key;
        }
        for (int j = 0; j < n_keys; j++) free(keys[j]);
        fputc('}', f);
    }
    fputs("],\"text_offset\":[", f);
    size_t offset = 0;
    for (int t = 0; t < r->n_tokens; t++) {
        size_t len;
        token_bytes(tok, r->tokens[t], &len);
        fprintf(f, t ? ",%zu" : "%zu", offset);
        offset += len;
    }
    fputs("]}", f);
}
