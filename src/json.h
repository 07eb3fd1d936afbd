/* json.h - a small JSON reader and string writer: enough for JSONL request
 * files, safetensors headers and Hugging Face config.json. Values are a tree
 * owned by the root; strings are unescaped UTF-8 with their length.
 *
 * The reader is strict RFC 8259: numbers in JSON's exact grammar (no leading
 * zeros, '+', '.5', '1.', hex, NaN or Infinity), strings of valid UTF-8 with
 * no raw control characters and no lone surrogates (\ud800 alone is an
 * error), no duplicate keys in an object, and at most JSON_MAX_DEPTH levels
 * of nesting (so that hostile input cannot overflow the stack). */
#ifndef GETP_JSON_H
#define GETP_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "utf8.h"
#include "util.h"

#define JSON_MAX_DEPTH 256

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonType type;
    double number; /* JSON_NUMBER (nearest double), JSON_BOOL (0/1) */
    /* JSON_STRING: the unescaped bytes; JSON_NUMBER: the number's text exactly
     * as written (for exact integers and for echoing it back). NUL-terminated,
     * len bytes (a string may contain NULs). */
    char *string;
    size_t len;
    JsonValue *items; /* JSON_ARRAY / JSON_OBJECT values */
    char **keys;      /* JSON_OBJECT keys (NUL-terminated, may contain NULs: see key_lens) */
    size_t *key_lens;
    size_t n;
};

/* Parses exactly one value from text[0..len) (surrounding whitespace allowed).
 * On error returns NULL with err saying what and at which byte. */
JsonValue *json_parse(const char *text, size_t len, Error *err);
void json_free(JsonValue *v);
/* The member whose key is exactly key (compared with lengths, so a key with an
 * embedded NUL never matches); NULL if absent or obj is not an object. */
const JsonValue *json_get(const JsonValue *obj, const char *key);
/* A number field as double; def if absent or not a number. */
double json_number(const JsonValue *obj, const char *key, double def);

/* The exact value of a JSON_NUMBER, from its text rather than the double
 * (which rounds integers above 2^53): sign and magnitude when it is an
 * integer (5, -0, 5.0 and 1e3 are; 0.5 is not) whose magnitude fits 64 bits.
 * A value that is not a number is JSON_INT_NOT_INTEGER. */
typedef enum { JSON_INT_OK, JSON_INT_NOT_INTEGER, JSON_INT_TOO_LARGE } JsonIntStatus;
JsonIntStatus json_integer(const JsonValue *v, int *negative, uint64_t *magnitude);

/* Writes bytes as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void json_write_string(FILE *f, const char *s, size_t len);


#endif
