/* tokenizer.h - o200k_harmony: byte-level BPE with o200k_base's ranks and the
 * harmony special tokens, read from getp's tokenizer file
 * (docs/tokenizer-format.md; made by tools/tokenizer/make_tokenizer.mjs).
 *
 * Encoding splits text with the o200k pre-tokenization regex (PCRE2, UTF +
 * UCP, JIT) and merges each piece by lowest rank, exactly as tiktoken does.
 * With allow_special, the text of a special token ("<|start|>") becomes that
 * token; otherwise it is encoded as ordinary text. A loaded tokenizer is
 * read-only and may be shared by threads. */
#ifndef GETP_TOKENIZER_H
#define GETP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct Tokenizer Tokenizer;

/* Harmony token ids used by the decode loop. */
enum {
    TOKEN_STARTOFTEXT = 199998,
    TOKEN_ENDOFTEXT = 199999,
    TOKEN_RETURN = 200002,
    TOKEN_CONSTRAIN = 200003,
    TOKEN_CHANNEL = 200005,
    TOKEN_START = 200006,
    TOKEN_END = 200007,
    TOKEN_MESSAGE = 200008,
    TOKEN_CALL = 200012,
    TOKEN_ENDOFPROMPT = 200018,
};

Tokenizer *tokenizer_load(const char *path, Error *err);
/* The same from the file's bytes (path names it in messages). */
Tokenizer *tokenizer_load_buffer(const char *buf, size_t len, const char *path, Error *err);
void tokenizer_free(Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);

/* Token ids of len bytes of UTF-8 text, appended to *ids (a malloc'd array
 * of *n ids with room for *cap; the function grows it, and it may start out
 * NULL/0/0). Returns 0, or -1 with err set: for text that is not valid UTF-8
 * the message is "invalid UTF-8 at byte N", N counted from 0 within text
 * (the caller adds where the text came from). NUL bytes are ordinary text. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int **ids, int *n, int *cap,
                     Error *err);

/* tokenizer_encode with a limit on the tokens this call appends (those
 * already in *ids do not count), so that a too-long prompt is refused early:
 *   0   the text is at most max_tokens tokens, appended as tokenizer_encode
 *       would;
 *   1   it is more than max_tokens tokens; err is not set;
 *  -1   an error, as tokenizer_encode's (max_tokens < 0 is one).
 * On 1 and -1, *n is back to its value on entry (*ids and *cap may have
 * changed). It returns 1 as soon as it knows: after the UTF-8 check (one pass
 * over the text), the text is split and merged only up to the point where the
 * limit is passed, and a single piece of the split longer than max_tokens
 * times the longest token is refused without merging it. So the work is
 * about that of max_tokens tokens: at 4096, a 10 MB line is refused in
 * milliseconds (a tenth of a second for the worst, a 512 KB piece that must
 * be merged). tokenizer_encode is this with max_tokens INT_MAX. */
int tokenizer_encode_limited(const Tokenizer *t, const char *text, size_t len, int allow_special, int max_tokens, int **ids,
                             int *n, int *cap, Error *err);

/* The merge step alone on one piece of the pre-tokenization split (any bytes,
 * no regex, no special tokens), appended like tokenizer_encode: for tests
 * that compare it with a reference merge on pieces the split never makes. */
int tokenizer_encode_piece(const Tokenizer *t, const uint8_t *piece, size_t len, int **ids, int *n, int *cap, Error *err);

/* The bytes of one token (special tokens decode to their text). NULL for an
 * id outside the vocabulary. Bytes of a single token need not be valid UTF-8;
 * a sequence's concatenation is. */
const uint8_t *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len);

#endif
