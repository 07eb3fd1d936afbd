/* json_check.c - see json_check.h. */
#include "json_check.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *json_describe(const JsonValue *v, char *buf, size_t n) {
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

int json_int_in(const JsonValue *v, double lo, double hi) {
    return v->type == JSON_NUMBER && v->number >= lo && v->number <= hi && v->number == floor(v->number);
}

int json_str_is(const JsonValue *v, const char *lit) {
    return v->type == JSON_STRING && v->len == strlen(lit) && !memcmp(v->string, lit, v->len);
}
