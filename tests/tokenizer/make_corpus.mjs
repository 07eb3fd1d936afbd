// Writes the tokenizer test corpus: hand-picked strings covering what tends
// to break BPE tokenizers, plus deterministic random mixtures of them, one per
// line with getp's escapes; and a ~1 MB text as a single escaped line.
// usage: node make_corpus.mjs CORPUS_OUT BIG_OUT
import fs from "node:fs";

const base = [
  // scripts
  "The quick brown fox jumps over the lazy dog.", "Über straße naïve café déjà vu", "Привет, как дела? Всё хорошо.",
  "Ελληνικά γράμματα και τόνοι", "日本語のテキストと漢字、カタカナ、ひらがな。", "中文文本：你好，世界！", "한국어 문장입니다. 안녕하세요",
  "العربية تكتب من اليمين إلى اليسار", "עברית עם ניקוד: שָׁלוֹם", "हिन्दी में लिखा गया वाक्य", "বাংলা ভাষা", "தமிழ் எழுத்துகள்",
  "ไทยไม่มีช่องว่างระหว่างคำ", "Tiếng Việt có nhiều dấu", "ქართული ანბანი", "Հայերեն տառեր", "አማርኛ ፊደል", "ᚠᚢᚦᚨᚱᚲ runes",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝓈𝒸𝓇𝒾𝓅𝓉", "Ωμέγα ΑΒΓ αβγ", "ﬁﬂ ligatures and ℌ𝔢𝔩𝔩𝔬",
  // emoji
  "😀😃😄😁", "👍🏽 👍🏿 👋🏻", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇯🇵🇺🇸🇩🇪", "❤️‍🔥 heart on fire", "emoji🙂inside🙃words",
  // combining marks
  "e\u0301 a\u0308 o\u0302", "Z\u0351\u0358a\u0353\u0339l\u0361g\u0336o", "n\u0303 vs ñ", "\u0915\u094d\u0937", "a\u0300\u0301\u0302\u0303\u0304",
  // code
  "int main(int argc, char **argv) { return 0; }", "for (i = 0; i < n; i++) x[i] += y[i] * 2;", "def f(x):\n    return x ** 2\n",
  "const re = /[a-z]+/gi; console.log(re.test('abc'));", "SELECT * FROM users WHERE id = 42;", "<div class=\"a\">text</div>",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "#include <stdio.h>\n#define MAX(a,b) ((a)>(b)?(a):(b))", "x => x.map(y => y * 2)",
  "fn main() { println!(\"{}\", 1 + 2); }", "$ ls -la | grep '\\.txt$'", "path/to/file.c:123:45: error: expected ';'",
  // numbers
  "1234567890", "3.14159265358979", "1,000,000 and 1.000.000", "123 4567 89012 345678", "0x1F 0b1010 1e-9 -42",
  "2024-01-15T10:30:00Z", "Phone: +1 (555) 123-4567", "99.9% of 1000000000000 digits", "١٢٣٤٥ ٦٧٨٩٠", "一二三 ４５６",
  // contractions, both cases
  "I'm you're he's she'd we'll they've it's", "I'M YOU'RE HE'S SHE'D WE'LL THEY'VE IT'S", "Don't DON'T don'T DoN't",
  "y'all'd've", "rock 'n' roll", "O'Neil's and McDonald's", "'s 'S 't 'T 're 'RE 've 'VE 'm 'M 'll 'LL 'd 'D",
  // whitespace
  "   leading spaces", "trailing spaces   ", "tabs\tbetween\twords", "multiple     internal     spaces", "\n\n\nnewlines\n\n",
  "mixed \t \n \r\n whitespace", " ", "\t", "\n", "                                                                ",
  "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", "word\u00a0nbsp\u3000ideographic\u2003em", "\u2028line sep\u2029para sep",
  // punctuation and symbols
  "Hello, world!!! ??? ...", "—–-‐ dashes «quotes» „German“ ‘single’", "©®™ §¶ †‡ •◦", "∀x∈ℝ: x² ≥ 0 ⇒ √x²=|x|",
  "$100 €50 £30 ¥1000 ₹500", "!!!!!!!!!!!!!!!!!!!!!!!", "....----____====", "a/b\\c|d", "<|notspecial|> <| |>",
  // special tokens (allowed)
  "<|start|>user<|message|>Hi<|end|>", "<|startoftext|>text<|endoftext|>", "<|channel|>analysis<|constrain|>json<|call|>",
  "<|return|><|endofprompt|><|reserved_200013|>", "a<|end|>b<|start|>c",
  // mixed case words
  "CamelCaseIdentifiers likeThis andThat", "HTTPServerError XMLHttpRequest", "ALLCAPS lowercase MiXeD", "iPhone eBay McDonald",
  "ǅungla ǈudevit Titlecase", "snake_case_name kebab-case-name", "URL https://example.com/path?q=1&r=2#frag",
  "email: someone@example.org", "C++ C# F# .NET Node.js", "über-long-hyphenated-compound-word",
];

let s = 12345;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
const pick = (a) => a[Math.floor(rand() * a.length)];
const esc = (t) => t.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\t/g, "\\t");

const lines = [...base];
const seps = [" ", "", "\n", "  ", "\t", ", ", "\n\n", "'s ", "123", " 😀 "];
while (lines.length < 420) {
  const k = 2 + Math.floor(rand() * 4);
  let t = "";
  for (let i = 0; i < k; i++) t += (i ? pick(seps) : "") + pick(base);
  // occasionally a slice that starts or ends mid-word
  if (rand() < 0.3) {
    const cps = Array.from(t);
    const a = Math.floor(rand() * cps.length / 2), b = a + 1 + Math.floor(rand() * (cps.length - a));
    t = cps.slice(a, b).join("");
  }
  if (t.replace(/\r/g, "").length && !t.endsWith("\r")) lines.push(t);
}
// \r on its own would be eaten as a line ending by line-based readers: keep it only inside lines
fs.writeFileSync(process.argv[2], lines.map(esc).join("\n") + "\n");

let big = "";
while (Buffer.byteLength(big) < 1 << 20) {
  const k = 5 + Math.floor(rand() * 20);
  for (let i = 0; i < k; i++) big += pick(base) + pick(seps);
  big += rand() < 0.5 ? "\n" : "\n\n";
}
fs.writeFileSync(process.argv[3], esc(big) + "\n");
console.error(`corpus: ${lines.length} strings; big text: ${Buffer.byteLength(big)} bytes`);
