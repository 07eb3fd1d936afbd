/* util.h - small helpers shared by every module: error reporting, checked
 * allocation, little-endian access, timing.
 *
 * Errors: functions that can fail take an `Error *` and return -1 after
 * filling it with one human-readable line (file, line and reason where they
 * are known). Nothing in the core prints or exits on its own; the programs
 * (getp, tools) decide what to do with the message. */
#ifndef GETP_UTIL_H
#define GETP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char msg[1024];
} Error;

/* Formats msg into err (if non-NULL) and returns -1, so that callers can write
 * `return error_set(err, "...")`. */
int error_set(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts "PREFIX: " (formatted) in front of err's message and returns -1:
 * `return error_prefix(err, "%s:%d", path, line)`. */
int error_prefix(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that aborts with a message on failure: running out of host memory
 * for bookkeeping is not a recoverable condition for a batch job. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Monotonic wall clock in seconds. */
double now_seconds(void);

/* memcpy split over the OpenMP threads: reading a large mapped file (page
 * faults and all) into a staging buffer goes several times faster on the
 * cores a rank is bound to than on one. */
void memcpy_parallel(void *dst, const void *src, size_t n);

static inline uint32_t read_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t read_u64le(const uint8_t *p) {
    return (uint64_t)read_u32le(p) | (uint64_t)read_u32le(p + 4) << 32;
}
/* A float's bits and back (bisection on floats, floats sent as ints). */
static inline uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float read_f32le(const uint8_t *p) { return bits_to_float(read_u32le(p)); }

/* bf16 <-> f32. bf16 is the top half of an f32; rounding to nearest even. */
static inline float bf16_to_f32(uint16_t h) { return bits_to_float((uint32_t)h << 16); }
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = float_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* What a file that is not a regular file is, for messages: "a directory",
 * "a FIFO", "a socket", "a character device", "a block device", ... */
const char *file_kind_name(unsigned mode);

/* Reads a whole file ("-": standard input) into a NUL-terminated buffer.
 * Returns NULL and sets err. */
char *read_file(const char *path, size_t *len_out, Error *err);

#endif
