/* fuzz_requests.c - fuzzing request files (tests/fuzz/fuzz.h): requests_read
 * on mutated plain-text and JSONL files, and what an accepted file must hold
 * (valid UTF-8 prompts of the right length, fields in range, lines in order). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

static const Seed PLAIN_REQUEST_SEEDS[] = {
    SEED("6\nHello, world!\nThe capital of France is\nA much longer prompt that runs well past the sliding window of the tiny "
         "model, so that the window matters.\\nIt has two lines.\n\xe7\x9f\xad\xe3\x81\x84\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n"
         "def fib(n):\\n\\treturn n if n < 2 else fib(n-1) + fib(n-2)\n1 2 3 4 5 6 7 8 9 10\n"),
    SEED("1\nA single request\n"),
    SEED("3\r\nfirst\r\nsecond \\\\ backslash\r\nthird\\ttab\r\n"),
    SEED("2\nemoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and <|start|> text\n\n"),
    SEED("  4\t\na\nb\nc\nd"),
};

static const Seed JSONL_REQUEST_SEEDS[] = {
    SEED("{\"prompt\": \"Hello, world!\", \"id\": \"a\"}\n"
         "{\"prompt\": \"The same prompt\", \"seed\": 1, \"temperature\": 1.0, \"id\": \"s1\"}\n"
         "{\"prompt\": \"No tokens please\", \"max_tokens\": 0}\n\n"
         "{\"prompt\": \"Special <|start|> text and emoji \xf0\x9f\x91\x8d\", \"max_tokens\": 3, \"id\": 7}\n"),
    SEED("{\"prompt\": \"x\", \"max_tokens\": 1000000000, \"temperature\": 100, \"top_p\": 1, \"seed\": 18000000000000000000, "
         "\"id\": \"big\"}\n"),
    SEED("{\"prompt\": \"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\", \"id\": 1.5e300}\n  \t\n"
         "{\"prompt\": \"\", \"seed\": null, \"top_p\": 0.5}\r\n"),
    SEED("{\"prompt\":\"nested\",\"id\":{\"a\":[1,2,{\"b\":null}]},\"extra\":[true,false,-0.0,1e-5]}\n"),
    SEED("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"2+2?\"}, "
         "{\"role\": \"assistant\", \"content\": \"4\"}, {\"role\": \"user\", \"content\": \"<|end|>\"}], \"reasoning_effort\": \"low\"}\n"),
};

static const char *const REQUEST_DICT[] = {
    "\\n", "\\t", "\\\\", "\\q", "\\", "\n", "\r\n", "\r", "{", "}", "[", "]", "\"", ":", ",", "\"prompt\"", "\"max_tokens\"",
    "\"temperature\"", "\"top_p\"", "\"seed\"", "\"id\"", "null", "true", "1e999", "-1", "-0", "0.5", "1e9", "1000000001",
    "18446744073709551615", "1.8e19", "1.9e19", "100000000", "100000001", "2147483648", "\\u0000", "\\ud800", "\\udc00",
    "\\ud83d\\ude00", "\\u00", "\xff", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80", "\xc0\x80", "\x00", " ", "\t", "0", "1",
    "\"messages\"", "\"role\"", "\"content\"", "\"user\"", "\"system\"", "\"developer\"", "\"assistant\"", "\"tool\"",
    "\"reasoning_effort\"", "\"high\"",
};

void gen_requests(const Fuzz *fz, Rng *r, Input *in) {
    (void)fz;
    int jsonl = rng_chance(r, 2);
    MutateCfg cfg = {REQUEST_DICT, sizeof REQUEST_DICT / sizeof *REQUEST_DICT,
                     jsonl ? JSONL_REQUEST_SEEDS : PLAIN_REQUEST_SEEDS,
                     jsonl ? sizeof JSONL_REQUEST_SEEDS / sizeof *JSONL_REQUEST_SEEDS : sizeof PLAIN_REQUEST_SEEDS / sizeof *PLAIN_REQUEST_SEEDS,
                     1 << 16, 1 << 13};
    make_mutant(&in->bytes, r, &cfg);
    /* now and then the other reader gets the file */
    in->jsonl = rng_chance(r, 16) ? !jsonl : jsonl;
}

Verdict check_requests(const char *path) {
    RequestSet rs;
    Error err;
    err.msg[0] = 0;
    if (requests_read(path, &rs, &err) != 0) {
        if (!names_the_file(&err, path)) {
            fprintf(stderr, "fuzz: %s: the error does not start with the file name: '%s'\n", g_label, err.msg);
            return VERDICT_WRONG;
        }
        if (rs.items || rs.n) {
            fprintf(stderr, "fuzz: %s: a failed read left requests behind\n", g_label);
            return VERDICT_WRONG;
        }
        return VERDICT_REJECTED;
    }
    const char *why = NULL;
    if (rs.n <= 0 || !rs.items) why = "no requests";
    for (int i = 0; i < rs.n && !why; i++) {
        const Request *q = &rs.items[i];
        /* a request is a prompt or a chat's messages, each text exactly as long as said and valid UTF-8 */
        const char *text = q->prompt;
        size_t text_len = q->prompt_len;
        if (!q->prompt && q->n_messages > 0) text = q->messages[0].content, text_len = q->messages[0].content_len;
        for (int k = 0; k < q->n_messages && !why; k++)
            if (!q->messages[k].content || strlen(q->messages[k].content) != q->messages[k].content_len ||
                utf8_valid_prefix(q->messages[k].content, q->messages[k].content_len) != q->messages[k].content_len ||
                q->messages[k].role > HARMONY_ASSISTANT)
                why = "a message's content or role is wrong";
        if (why) break;
        if ((q->prompt != NULL) == (q->n_messages > 0)) why = "a request has both a prompt and messages, or neither";
        else if (q->reasoning_effort < -1 || q->reasoning_effort > HARMONY_EFFORT_HIGH) why = "reasoning_effort out of range";
        else if (!text || strlen(text) != text_len) why = "a prompt's length is wrong (or it holds a NUL)";
        else if (utf8_valid_prefix(text, text_len) != text_len) why = "a prompt is not valid UTF-8";
        else if (q->line < 1 || (i > 0 && q->line <= rs.items[i - 1].line)) why = "line numbers are not increasing";
        else if (!rs.jsonl && q->line != i + 2) why = "a plain-text prompt has the wrong line number";
        else if (q->max_tokens < -1 || q->max_tokens > 1000000000) why = "max_tokens out of range";
        else if (!(q->temperature == -1.0f || (q->temperature >= 0 && q->temperature <= 100))) why = "temperature out of range";
        else if (!(q->top_p == -1.0f || (q->top_p >= 0 && q->top_p <= 1))) why = "top_p out of range";
        else if (q->id && strlen(q->id) > (1u << 20)) why = "an absurd id";
    }
    if (why) fprintf(stderr, "fuzz: %s: requests_read accepted the file but %s\n", g_label, why);
    requests_free(&rs);
    return why ? VERDICT_WRONG : VERDICT_ACCEPTED;
}
