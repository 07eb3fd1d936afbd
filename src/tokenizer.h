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
void tokenizer_free(Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);

/* Token ids of len bytes of valid UTF-8 text, appended to *ids (a malloc'd
 * array of *n ids with room for *cap; the function grows it). */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int **ids, int *n, int *cap,
                     Error *err);

/* The bytes of one token (special tokens decode to their text). NULL for an
 * id outside the vocabulary. Bytes of a single token need not be valid UTF-8;
 * a sequence's concatenation is. */
const uint8_t *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len);

#endif
