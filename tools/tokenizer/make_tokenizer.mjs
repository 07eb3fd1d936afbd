// Converts js-tiktoken's o200k_base ranks into getp's tokenizer file
// (docs/tokenizer-format.md). Usage: node make_tokenizer.mjs OUT.tok
import fs from "node:fs";
import ranks from "js-tiktoken/ranks/o200k_base";
import { VOCAB_SIZE, harmonySpecialTokens } from "./harmony.mjs";

// JavaScript's \s and PCRE2's (with UCP) differ on U+0085 and U+FEFF, so the
// pattern getp compiles spells out JavaScript's set explicitly.
const JS_SPACE = "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";
function toPcre2(pat) {
  let out = "", inClass = false;
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === "\\") {
      const n = pat[i + 1];
      if (n === "s") out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
      else if (n === "S") {
        if (inClass) throw new Error("\\S inside a character class is not supported");
        out += `[^${JS_SPACE}]`;
      } else out += c + n;
      i++;
    } else {
      if (c === "[" && !inClass) inClass = true;
      else if (c === "]" && inClass) inClass = false;
      out += c;
    }
  }
  return out;
}

const out = process.argv[2];
if (!out) {
  console.error("usage: node make_tokenizer.mjs OUT.tok");
  process.exit(2);
}
const tokens = [];
for (const line of ranks.bpe_ranks.split("\n").filter(Boolean)) {
  const [, offsetStr, ...items] = line.split(" ");
  const offset = Number.parseInt(offsetStr, 10);
  items.forEach((b64, i) => (tokens[offset + i] = Buffer.from(b64, "base64")));
}
for (let i = 0; i < tokens.length; i++) if (!tokens[i]) throw new Error(`rank ${i} missing: ranks are not dense`);
const nRanks = tokens.length;
const special = harmonySpecialTokens(nRanks);
const pattern = Buffer.from(toPcre2(ranks.pat_str), "utf8");

const parts = [];
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
parts.push(Buffer.from("GETPTOKN"), u32(1), u32(VOCAB_SIZE), u32(nRanks), u32(Object.keys(special).length), u32(pattern.length), pattern);
for (const t of tokens) parts.push(u16(t.length), t);
for (const [text, id] of Object.entries(special)) {
  const b = Buffer.from(text, "utf8");
  parts.push(u32(id), u16(b.length), b);
}
fs.writeFileSync(out + ".tmp", Buffer.concat(parts));
fs.renameSync(out + ".tmp", out);
console.error(`wrote ${out}: ${nRanks} ranks, ${Object.keys(special).length} special tokens, vocab ${VOCAB_SIZE}`);
