/* json_check.h - checked reads of JSON values (src/json.h) for convert_hf's
 * readers of safetensors headers (tools/safetensors.c) and config.json
 * (tools/hf_config.c): both check a number's type and range before casting
 * it, and both quote a refused value in their error messages the same way. */
#ifndef GETP_TOOLS_JSON_CHECK_H
#define GETP_TOOLS_JSON_CHECK_H

#include <stddef.h>

#include "../src/json.h"

/* v as an error message shows it, in buf (n bytes; 64 is enough): a number
 * as its double in the shorter of 15 or 17 digits that reads back the same,
 * a string quoted, cut after n - 6 bytes ("...") and with unprintable bytes
 * as '?', other values by their type ("null", "an array", ...). Returns buf
 * or a constant string. */
const char *json_describe(const JsonValue *v, char *buf, size_t n);

/* v is a number that is a whole number in [lo, hi]. JSON's integers arrive
 * as doubles; this test comes before any cast (undefined out of range). */
int json_int_in(const JsonValue *v, double lo, double hi);

/* v is the JSON string lit exactly (a JSON string may hold NULs). */
int json_str_is(const JsonValue *v, const char *lit);

#endif
