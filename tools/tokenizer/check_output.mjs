// Independent check of a getp JSONL output against its request file, using
// js-tiktoken: prompt_tokens is the length of the prompt's encoding, "text"
// is the decoding of "tokens", ids are the requests' ids (same type and value)
// in request order.
// usage: node check_output.mjs REQUESTS.jsonl OUTPUT.jsonl   (exit 1 on a mismatch)
import fs from "node:fs";
import { Tiktoken } from "js-tiktoken/lite";
import ranks from "js-tiktoken/ranks/o200k_base";
import { harmonySpecialTokens } from "./harmony.mjs";

const nRanks = ranks.bpe_ranks.split("\n").filter(Boolean).reduce((n, line) => n + line.split(" ").length - 2, 0);
const enc = new Tiktoken({ ...ranks, special_tokens: harmonySpecialTokens(nRanks) });
const reqs = fs.readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const outs = fs.readFileSync(process.argv[3], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const errors = [];
if (reqs.length !== outs.length) errors.push(`${outs.length} outputs for ${reqs.length} requests`);
let checkedText = 0;
outs.forEach((o, i) => {
  const r = reqs[i];
  if (!r) return;
  // the id comes back as the request wrote it: a number as a number (7, not
  // "7"), a string as the same string; none (or null) gives the index
  const want = r.id ?? i;
  if (typeof o.id !== typeof want || !Object.is(o.id, want))
    errors.push(`line ${i + 1}: id ${JSON.stringify(o.id)}, expected ${JSON.stringify(want)}`);
  const n = enc.encode(r.prompt, "all").length;
  if (o.prompt_tokens !== n) errors.push(`line ${i + 1}: prompt_tokens ${o.prompt_tokens}, js-tiktoken says ${n}`);
  if (o.completion_tokens !== o.tokens.length) errors.push(`line ${i + 1}: completion_tokens does not match tokens`);
  const text = enc.decode(o.tokens);
  if (!text.includes("\ufffd")) {
    checkedText++;
    if (text !== o.text) errors.push(`line ${i + 1}: text differs from the decoding of its tokens`);
  }
});
if (errors.length) {
  console.log(errors.slice(0, 10).join("\n"));
  process.exit(1);
}
console.log(`ok: ${outs.length} outputs, ${checkedText} texts compared`);
