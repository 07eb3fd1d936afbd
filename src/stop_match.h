/* stop_match.h - a completion's stop strings (a request's "stop") found in
 * its text while it grows, so that generation ends as soon as the output is
 * settled instead of running on to max_tokens.
 *
 * The output is defined on the whole text (app_decode_text): it ends where
 * the earliest-starting occurrence of any stop string begins. While the
 * text grows, that start s is final once s + L <= its length (L the longest
 * stop string): any occurrence still incomplete at the end began after
 * length - L. So ending generation there gives the output a full run gives. */
#ifndef GETP_STOP_MATCH_H
#define GETP_STOP_MATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;
    size_t len, cap;
    long first; /* the earliest start found so far; -1: none */
} StopMatch;

/* Where the earliest of stop[0..n_stop) begins in text[0..len), or -1. */
long stop_first(const char *const *stop, int n_stop, const char *text, size_t len);

void stop_match_init(StopMatch *m);
void stop_match_free(StopMatch *m);
/* Empties the text for a new completion, keeping the buffer. */
void stop_match_reset(StopMatch *m);
/* Appends a token's bytes; returns 1 when the text's first stop string is settled. */
int stop_match_append(StopMatch *m, const char *const *stop, int n_stop, const uint8_t *bytes, size_t n);

#endif
