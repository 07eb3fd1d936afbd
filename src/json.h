/* json.h - a small JSON reader and string writer: enough for JSONL request
 * files, safetensors headers and Hugging Face config.json. Values are a tree
 * owned by the root; strings are unescaped UTF-8 with their length. */
#ifndef GETP_JSON_H
#define GETP_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "util.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonType type;
    double number;   /* JSON_NUMBER, JSON_BOOL (0/1) */
    char *string;    /* JSON_STRING (NUL-terminated, may contain NULs: see len) */
    size_t len;
    JsonValue *items; /* JSON_ARRAY / JSON_OBJECT values */
    char **keys;      /* JSON_OBJECT keys */
    size_t n;
};

/* Parses exactly one value from text[0..len) (surrounding whitespace allowed).
 * On error returns NULL with err saying what and at which byte. */
JsonValue *json_parse(const char *text, size_t len, Error *err);
void json_free(JsonValue *v);
const JsonValue *json_get(const JsonValue *obj, const char *key);
/* A number field as double; def if absent or not a number. */
double json_number(const JsonValue *obj, const char *key, double def);

/* Writes bytes as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void json_write_string(FILE *f, const char *s, size_t len);

/* Length of the valid UTF-8 prefix of s (== len when all of it is valid). */
size_t utf8_valid_prefix(const char *s, size_t len);

#endif
