// batch_output_check.mjs OUTPUT INPUT - checks that OUTPUT is an OpenAI Batch
// API output file answering the Batch API request file INPUT: one line per
// non-blank input line, in input order (custom_id matching), each of the form
// (docs/request-format.md, "OpenAI Batch API"):
//   {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}
//   {"id", "custom_id", "response": null, "error": {"code", "message"}}
// Prints one line per problem and exits 1 if there is any; prints
// "ok: N lines, A answered, E errors" otherwise.
import { readFileSync } from "node:fs";

const [outPath, inPath] = process.argv.slice(2);
const problems = [];
const bad = (where, what) => problems.push(`${outPath}:${where}: ${what}`);
const isInt = (x) => Number.isInteger(x) && x >= 0;
const isStrOrNull = (x) => x === null || typeof x === "string";
const sameKeys = (o, keys) => o && typeof o === "object" && !Array.isArray(o) && Object.keys(o).sort().join() === [...keys].sort().join();

// A choice's logprobs: null unless the request asked; the chat API's
// {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal}
// or the completions API's {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
function checkLogprobs(where, lp, chat, req) {
    const asked = chat ? req.logprobs === true : Number.isInteger(req.logprobs);
    if (!asked) return lp === null || bad(where, "logprobs must be null when not asked for");
    const top = chat ? req.top_logprobs || 0 : req.logprobs;
    const entry = (e, withTop) => sameKeys(e, withTop ? ["token", "logprob", "bytes", "top_logprobs"] : ["token", "logprob", "bytes"]) &&
        typeof e.token === "string" && typeof e.logprob === "number" && e.logprob <= 0 && Array.isArray(e.bytes) && e.bytes.every(isInt);
    if (chat) {
        if (!sameKeys(lp, ["content", "refusal"]) || !Array.isArray(lp.content)) return bad(where, "chat logprobs must be {content, refusal}");
        lp.content.forEach((e, t) => {
            if (!entry(e, true) || e.top_logprobs.length !== top || !e.top_logprobs.every((x) => entry(x, false)))
                bad(where, `logprobs.content[${t}] must be {token, logprob, bytes, top_logprobs: ${top} of {token, logprob, bytes}}`);
        });
        return;
    }
    if (!sameKeys(lp, ["tokens", "token_logprobs", "top_logprobs", "text_offset"])) return bad(where, "completions logprobs keys");
    const n = lp.tokens.length;
    if (lp.token_logprobs.length !== n || lp.top_logprobs.length !== n || lp.text_offset.length !== n) bad(where, "logprobs arrays differ in length");
    if (!lp.top_logprobs.every((o) => Object.keys(o).length >= 1 && Object.keys(o).length <= top)) bad(where, `top_logprobs must hold 1 to ${top} tokens`);
    if (!lp.text_offset.every((x, i) => isInt(x) && (i === 0 || x >= lp.text_offset[i - 1]))) bad(where, "text_offset must be non-decreasing");
}

function checkBody(where, body, req) {
    const chat = req.url !== "/v1/completions", b = req.body || {}, n = b.n || 1;
    if (!sameKeys(body, ["id", "object", "choices", "usage"])) return bad(where, "body keys must be id, object, choices, usage");
    if (typeof body.id !== "string") bad(where, "body.id must be a string");
    if (body.object !== (chat ? "chat.completion" : "text_completion")) bad(where, `body.object ${body.object} for ${req.url}`);
    if (!Array.isArray(body.choices) || body.choices.length !== n) return bad(where, `body.choices must hold ${n} choice(s)`);
    body.choices.forEach((c, i) => {
        if (!sameKeys(c, ["index", chat ? "message" : "text", "finish_reason", "logprobs"])) bad(where, "choice keys");
        if (c.index !== i) bad(where, `choice.index must be ${i}`);
        if (!["stop", "length"].includes(c.finish_reason)) bad(where, `finish_reason ${c.finish_reason}`);
        checkLogprobs(where, c.logprobs, chat, b);
        if (chat) {
            const m = c.message;
            if (!sameKeys(m, ["role", "content", "reasoning_content"])) bad(where, "message keys must be role, content, reasoning_content");
            else if (m.role !== "assistant" || !isStrOrNull(m.content) || !isStrOrNull(m.reasoning_content)) bad(where, "message types");
        } else if (typeof c.text !== "string") bad(where, "choice.text must be a string");
    });
    const u = body.usage;
    if (!sameKeys(u, ["prompt_tokens", "completion_tokens", "total_tokens"]) || !isInt(u.prompt_tokens) || !isInt(u.completion_tokens) ||
        u.total_tokens !== u.prompt_tokens + u.completion_tokens)
        bad(where, "usage must be {prompt_tokens, completion_tokens, total_tokens = their sum}");
}

const inputs = readFileSync(inPath, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => {
    try { return JSON.parse(l); } catch { return null; }
});
const lines = readFileSync(outPath, "utf8").split("\n");
if (lines.pop() !== "") bad(lines.length, "the file must end with a newline");
if (lines.length !== inputs.length) bad(0, `${lines.length} lines for ${inputs.length} requests`);
let answered = 0, errors = 0;
lines.forEach((text, i) => {
    const where = i + 1;
    let o;
    try { o = JSON.parse(text); } catch (e) { return bad(where, `not JSON: ${e.message}`); }
    if (!sameKeys(o, ["id", "custom_id", "response", "error"])) return bad(where, "keys must be id, custom_id, response, error");
    if (typeof o.id !== "string" || !isStrOrNull(o.custom_id)) bad(where, "id must be a string, custom_id a string or null");
    const want = inputs[i] && typeof inputs[i].custom_id === "string" ? inputs[i].custom_id : null;
    if (o.custom_id !== want) bad(where, `custom_id ${o.custom_id}, the input's line says ${want}`);
    if ((o.response === null) === (o.error === null)) return bad(where, "exactly one of response and error must be null");
    if (o.error !== null) {
        errors++;
        if (!sameKeys(o.error, ["code", "message"]) || typeof o.error.code !== "string" || typeof o.error.message !== "string")
            bad(where, "error must be {code: string, message: string}");
        return;
    }
    answered++;
    const r = o.response;
    if (!sameKeys(r, ["status_code", "request_id", "body"]) || r.status_code !== 200 || typeof r.request_id !== "string")
        return bad(where, "response must be {status_code: 200, request_id: string, body}");
    checkBody(where, r.body, inputs[i] || {});
});
for (const p of problems) console.log(p);
if (problems.length) process.exit(1);
console.log(`ok: ${lines.length} lines, ${answered} answered, ${errors} errors`);
