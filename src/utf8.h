/* utf8.h - UTF-8 as every text getp reads must be: the shortest encoding,
 * no surrogates, nothing above U+10FFFF. */
#ifndef GETP_UTF8_H
#define GETP_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t utf8_seq(const unsigned char *s, size_t len);
/* Length of the valid UTF-8 prefix of s (== len when all of it is valid). */
size_t utf8_valid_prefix(const char *s, size_t len);
/* Appends code point cp to the growing buffer *buf (*n bytes, room for *cap). */
void utf8_append(char **buf, size_t *n, size_t *cap, uint32_t cp);

#endif
