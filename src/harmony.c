#include "harmony.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const ROLE_NAMES[] = {"system", "developer", "user", "assistant"};
static const char *const EFFORT_NAMES[] = {"low", "medium", "high"};

int harmony_role_parse(const char *name, HarmonyRole *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, ROLE_NAMES[i])) {
            *out = (HarmonyRole)i;
            return 0;
        }
    return -1;
}

int harmony_effort_parse(const char *name, HarmonyEffort *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, EFFORT_NAMES[i])) {
            *out = (HarmonyEffort)i;
            return 0;
        }
    return -1;
}

const char *harmony_effort_name(HarmonyEffort e) { return EFFORT_NAMES[e]; }

/* A growable byte string. */
typedef struct {
    char *s;
    size_t len, cap;
} Bytes;

static void bytes_put(Bytes *b, const void *p, size_t len) {
    if (b->len + len + 1 > b->cap) b->s = xrealloc(b->s, b->cap = 2 * (b->len + len + 1));
    memcpy(b->s + b->len, p, len);
    b->len += len;
    b->s[b->len] = 0;
}

static void bytes_puts(Bytes *b, const char *s) { bytes_put(b, s, strlen(s)); }

/* ---- rendering ---- */

/* Where the rendering goes, and how many ids it may still add. */
typedef struct {
    const Tokenizer *tok;
    int **ids;
    int *n, *cap;
    int start, max;
    Error *err;
} RenderOut;

static int put_token(RenderOut *o, int id) {
    if (*o->n - o->start >= o->max) return 1;
    if (*o->n == *o->cap) *o->ids = xrealloc(*o->ids, (size_t)(*o->cap = *o->cap ? 2 * *o->cap : 256) * sizeof(int));
    (*o->ids)[(*o->n)++] = id;
    return 0;
}

/* Text is always ordinary text here: a "<|end|>" in it is not the token. */
static int put_text(RenderOut *o, const char *s, size_t len) {
    return tokenizer_encode_limited(o->tok, s, len, 0, o->max - (*o->n - o->start), o->ids, o->n, o->cap, o->err);
}

/* <|start|>ROLE[<|channel|>CHANNEL]<|message|>TEXT<|end|> */
static int put_message(RenderOut *o, const char *role, const char *channel, const char *text, size_t len) {
    int rc = put_token(o, TOKEN_START);
    if (rc == 0) rc = put_text(o, role, strlen(role));
    if (rc == 0 && channel) rc = put_token(o, TOKEN_CHANNEL);
    if (rc == 0 && channel) rc = put_text(o, channel, strlen(channel));
    if (rc == 0) rc = put_token(o, TOKEN_MESSAGE);
    if (rc == 0) rc = put_text(o, text, len);
    if (rc == 0) rc = put_token(o, TOKEN_END);
    return rc;
}

/* The system message's text, laid out as openai/harmony's SystemContent
 * renders its defaults (src/encoding.rs there): sections joined by a blank
 * line, the first of them lines joined by "\n". */
static void system_text(const HarmonySystem *sys, Bytes *b) {
    bytes_puts(b, "You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06");
    if (sys->date) {
        bytes_puts(b, "\nCurrent date: ");
        bytes_puts(b, sys->date);
    }
    bytes_puts(b, "\n\nReasoning: ");
    bytes_puts(b, harmony_effort_name(sys->effort));
    bytes_puts(b, "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.");
}

/* The developer message's text; 0 when there is none. */
static int developer_text(const HarmonySystem *sys, const HarmonyTurn *turns, int n_turns, Bytes *b) {
    int found = 0;
    for (int i = 0; i < n_turns; i++) {
        if (turns[i].role != HARMONY_SYSTEM && turns[i].role != HARMONY_DEVELOPER) continue;
        bytes_puts(b, found ? "\n\n" : "# Instructions\n\n");
        bytes_put(b, turns[i].content, turns[i].content_len);
        found = 1;
    }
    if (!found && sys->instructions) {
        bytes_puts(b, "# Instructions\n\n");
        bytes_puts(b, sys->instructions);
        found = 1;
    }
    return found;
}

int harmony_render(const Tokenizer *tok, const HarmonySystem *sys, const HarmonyTurn *turns, int n_turns, int max_tokens,
                   int **ids, int *n, int *cap, Error *err) {
    RenderOut o = {tok, ids, n, cap, *n, max_tokens, err};
    Bytes text = {0};
    system_text(sys, &text);
    int rc = put_message(&o, "system", NULL, text.s, text.len);
    text.len = 0;
    if (rc == 0 && developer_text(sys, turns, n_turns, &text)) rc = put_message(&o, "developer", NULL, text.s, text.len);
    free(text.s);
    for (int i = 0; i < n_turns && rc == 0; i++) {
        const HarmonyTurn *t = &turns[i];
        /* an earlier answer goes back as its final channel only, as the model saw it (analysis is dropped) */
        if (t->role == HARMONY_USER) rc = put_message(&o, "user", NULL, t->content, t->content_len);
        else if (t->role == HARMONY_ASSISTANT) rc = put_message(&o, "assistant", "final", t->content, t->content_len);
    }
    if (rc == 0) rc = put_token(&o, TOKEN_START);
    if (rc == 0) rc = put_text(&o, "assistant", 9);
    if (rc != 0) *n = o.start;
    return rc;
}

/* ---- parsing ---- */

static int is_special(int id) { return id >= TOKEN_STARTOFTEXT; }

/* The parser's state between tokens. */
typedef struct {
    const Tokenizer *tok;
    HarmonyCompletion *out;
    int in_content;   /* after <|message|> */
    int saw_start;    /* this header began with <|start|> (so its first text is a role) */
    int saw_channel;  /* this header has <|channel|> */
    Bytes header;     /* the header's text before <|channel|> */
    Bytes channel;    /* the text after <|channel|> */
    Bytes content;
} Parser;

/* The channel's name: the first word after <|channel|> ("commentary
 * to=functions.f" names "commentary"). */
static char *channel_name(const Bytes *b) {
    size_t i = 0, len = b->len;
    while (i < len && (b->s[i] == ' ' || b->s[i] == '\n')) i++;
    size_t end = i;
    while (end < len && b->s[end] != ' ' && b->s[end] != '\n') end++;
    char *name = xmalloc(end - i + 1);
    if (end > i) memcpy(name, b->s + i, end - i);
    name[end - i] = 0;
    return name;
}

static void emit(Parser *p, int complete) {
    HarmonyCompletion *c = p->out;
    c->items = xrealloc(c->items, (size_t)(c->n + 1) * sizeof *c->items);
    HarmonyMessage *m = &c->items[c->n++];
    m->channel = channel_name(&p->channel);
    if (!p->in_content && !p->saw_start && !p->saw_channel) {
        /* text with no header at all: it is the message (a model that skipped the harmony header) */
        m->content = p->header.s;
        m->content_len = p->header.len;
        p->header = (Bytes){0};
    } else {
        m->content = p->content.s;
        m->content_len = p->content.len;
        p->content = (Bytes){0};
    }
    if (!m->content) m->content = xstrdup("");
    m->complete = complete;
    p->in_content = p->saw_start = p->saw_channel = 0;
    p->header.len = p->channel.len = p->content.len = 0;
}

/* Whether the header so far holds anything worth a message at its end. */
static int header_pending(const Parser *p) { return p->saw_channel || (!p->saw_start && p->header.len > 0); }

static void parse_special(Parser *p, int id) {
    if (id == TOKEN_END || id == TOKEN_RETURN || id == TOKEN_CALL) {
        if (p->in_content || header_pending(p)) emit(p, 1);
        p->in_content = p->saw_start = p->saw_channel = 0;
        p->header.len = p->channel.len = 0;
    } else if (id == TOKEN_START) {
        if (p->in_content || header_pending(p)) emit(p, 0); /* <|end|> was missing */
        p->saw_start = 1;
        p->saw_channel = 0;
        p->header.len = p->channel.len = 0;
    } else if (id == TOKEN_CHANNEL) {
        if (p->in_content) {
            emit(p, 0); /* a new header without <|end|><|start|> */
            p->saw_start = 1;
        }
        p->saw_channel = 1;
        p->channel.len = 0;
    } else if (id == TOKEN_MESSAGE && !p->in_content) {
        p->in_content = 1;
    }
    /* any other special token (<|constrain|>, a reserved id) carries no text of the message */
}

void harmony_parse_completion(const Tokenizer *tok, const int *ids, int n, HarmonyCompletion *out) {
    memset(out, 0, sizeof *out);
    Parser p = {.tok = tok, .out = out};
    for (int i = 0; i < n; i++) {
        if (is_special(ids[i])) {
            parse_special(&p, ids[i]);
            continue;
        }
        size_t len = 0;
        const uint8_t *b = tokenizer_token_bytes(tok, ids[i], &len);
        if (!b) continue; /* an id the tokenizer lacks (a model with a larger vocabulary) */
        Bytes *to = p.in_content ? &p.content : p.saw_channel ? &p.channel : &p.header;
        bytes_put(to, b, len);
    }
    if (p.in_content || header_pending(&p)) emit(&p, 0);
    free(p.header.s);
    free(p.channel.s);
    free(p.content.s);
}

void harmony_completion_free(HarmonyCompletion *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->items[i].channel);
        free(c->items[i].content);
    }
    free(c->items);
    memset(c, 0, sizeof *c);
}

char *harmony_channel_text(const HarmonyCompletion *c, const char *channel, int final_or_none, size_t *len) {
    Bytes b = {0};
    int found = 0;
    for (int i = 0; i < c->n; i++) {
        const HarmonyMessage *m = &c->items[i];
        if (strcmp(m->channel, channel) != 0 && !(final_or_none && m->channel[0] == 0)) continue;
        bytes_put(&b, m->content, m->content_len);
        found = 1;
    }
    if (found && !b.s) b.s = xstrdup("");
    *len = b.len;
    return found ? b.s : NULL;
}
