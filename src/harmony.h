/* harmony.h - the harmony chat format that gpt-oss was trained on
 * (openai/harmony, docs/format.md there): rendering a conversation into the
 * prompt for the assistant's next turn, and splitting a completion into its
 * messages by channel.
 *
 * Rendering is token for token what openai/harmony's
 * render_conversation_for_completion gives for a system message with getp's
 * settings, an optional developer message and the conversation's turns: the
 * special tokens are their ids, and every piece of text (role names, channel
 * names, the system and developer text, message content) is encoded on its
 * own as ordinary text, so a user's "<|end|>" stays text. */
#ifndef GETP_HARMONY_H
#define GETP_HARMONY_H

#include <stddef.h>

#include "tokenizer.h"
#include "util.h"

typedef enum { HARMONY_SYSTEM, HARMONY_DEVELOPER, HARMONY_USER, HARMONY_ASSISTANT } HarmonyRole;
typedef enum { HARMONY_EFFORT_LOW, HARMONY_EFFORT_MEDIUM, HARMONY_EFFORT_HIGH } HarmonyEffort;

/* One message of a chat request. */
typedef struct {
    HarmonyRole role;
    char *content; /* UTF-8, NUL-terminated, content_len bytes */
    size_t content_len;
} HarmonyTurn;

/* What goes into the system and developer messages. */
typedef struct {
    HarmonyEffort effort;
    const char *date;         /* "Current date: DATE"; NULL: no such line */
    const char *instructions; /* the developer message's "# Instructions"; NULL: no developer message */
} HarmonySystem;

/* Name <-> value ("system", "low", ...). The parsers return 0, or -1 for a
 * name that is none of them. */
int harmony_role_parse(const char *name, HarmonyRole *out);
int harmony_effort_parse(const char *name, HarmonyEffort *out);
const char *harmony_effort_name(HarmonyEffort e);

/* Appends to *ids (grown as tokenizer_encode grows it) the rendering for
 * completion:
 *   the system message: identity, "Knowledge cutoff: 2024-06", the date,
 *     "Reasoning: EFFORT", the valid-channels line;
 *   the developer message "# Instructions\n\nTEXT", where TEXT is the
 *     contents of the turns with role system or developer (joined by a blank
 *     line) or, when there are none, sys->instructions;
 *   each user turn, and each assistant turn as its final channel;
 *   then <|start|>assistant.
 * Returns 0; 1 when it would append more than max_tokens ids (*n is then back
 * to its value on entry); -1 with err set on text that is not UTF-8. */
int harmony_render(const Tokenizer *tok, const HarmonySystem *sys, const HarmonyTurn *turns, int n_turns, int max_tokens,
                   int **ids, int *n, int *cap, Error *err);

/* One message of a completion. */
typedef struct {
    char *channel; /* "analysis", "commentary", "final", ...; "" when it had no header */
    char *content; /* its text, NUL-terminated (special tokens inside are left out) */
    size_t content_len;
    int complete; /* ended by <|end|>, <|return|> or <|call|>; 0: the output stopped inside it */
} HarmonyMessage;

typedef struct {
    HarmonyMessage *items;
    int n;
} HarmonyCompletion;

/* Splits the generated ids of an assistant turn (which starts right after
 * the prompt's "<|start|>assistant") into messages. It never fails: output
 * cut off by max_tokens ends in an incomplete message; text with no
 * <|channel|>/<|message|> header before it is one message with channel "";
 * a header that names no channel gives channel "". */
void harmony_parse_completion(const Tokenizer *tok, const int *ids, int n, HarmonyCompletion *out);
void harmony_completion_free(HarmonyCompletion *c);

/* The contents of the messages on channel, concatenated in order, as a new
 * string (*len bytes); with final_or_none, messages with channel "" count
 * too. NULL when no message is on it. */
char *harmony_channel_text(const HarmonyCompletion *c, const char *channel, int final_or_none, size_t *len);

#endif
