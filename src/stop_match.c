#define _GNU_SOURCE /* memmem */
#include "stop_match.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

long stop_first(const char *const *stop, int n_stop, const char *text, size_t len) {
    long at = -1;
    for (int k = 0; k < n_stop; k++) {
        const char *hit = memmem(text, len, stop[k], strlen(stop[k]));
        if (hit && (at < 0 || hit - text < at)) at = hit - text;
    }
    return at;
}

void stop_match_init(StopMatch *m) {
    memset(m, 0, sizeof *m);
    m->first = -1;
}

void stop_match_free(StopMatch *m) {
    free(m->text);
    stop_match_init(m);
}

void stop_match_reset(StopMatch *m) {
    m->len = 0;
    m->first = -1;
}

int stop_match_append(StopMatch *m, const char *const *stop, int n_stop, const uint8_t *bytes, size_t n) {
    if (m->len + n + 1 > m->cap) m->text = xrealloc(m->text, m->cap = 2 * (m->len + n + 1));
    memcpy(m->text + m->len, bytes, n);
    size_t old = m->len, longest = 0;
    m->len += n;
    for (int k = 0; k < n_stop; k++) {
        size_t sl = strlen(stop[k]);
        if (sl > longest) longest = sl;
        /* only occurrences that end in the new bytes are new */
        size_t from = old + 1 > sl ? old + 1 - sl : 0;
        const char *hit = memmem(m->text + from, m->len - from, stop[k], sl);
        if (hit && (m->first < 0 || hit - m->text < m->first)) m->first = hit - m->text;
    }
    return m->first >= 0 && (size_t)m->first + longest <= m->len;
}
