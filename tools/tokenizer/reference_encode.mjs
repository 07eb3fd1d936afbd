// The tokenizer oracle: js-tiktoken's o200k_base with the harmony special
// tokens, special tokens allowed. Reads lines (with getp's escapes \n \t \\)
// from the file given, prints each line's token ids space-separated, the
// same output as `getp MODEL -m tokenize -i FILE`.
import fs from "node:fs";
import { Tiktoken } from "js-tiktoken/lite";
import ranks from "js-tiktoken/ranks/o200k_base";
import { harmonySpecialTokens } from "./harmony.mjs";

const nRanks = ranks.bpe_ranks.split("\n").filter(Boolean).reduce((n, line) => n + line.split(" ").length - 2, 0);
const enc = new Tiktoken({ ...ranks, special_tokens: harmonySpecialTokens(nRanks) });
const unescape = (s) => s.replace(/\\(.)/g, (_, c) => ({ n: "\n", t: "\t", "\\": "\\" })[c]);
const text = fs.readFileSync(process.argv[2], "utf8");
const lines = text.split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const out = lines.map((l) => enc.encode(unescape(l), "all").join(" "));
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
