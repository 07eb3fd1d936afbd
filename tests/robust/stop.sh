[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# "stop" strings (issue 24 item 4, in part): matched on a completion's text
# across token boundaries, the text cut where the first one begins, the
# tokens wholly before it kept, finish_reason "stop"; the same under getp_mpi
# and in the Batch API format. Generation ends as soon as the stop string is
# settled (src/stop_match.h), on every rank.
echo "== stop strings"
ST=$OUT/stop
rm -rf "$ST" && mkdir -p "$ST"
printf '{"prompt": "Hello, world!", "max_tokens": 40, "id": "a"}\n{"prompt": "The capital of France is", "max_tokens": 40, "id": "b"}\n' >"$ST/plain.jsonl"
"${GETP[@]}" -i "$ST/plain.jsonl" -o "$ST/plain.out.jsonl" -n 40 >/dev/null 2>&1
# a stop string for each request: the first run of 3+ ASCII letters after the 5th character of its completion
node -e '
const fs = require("fs");
const outs = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const reqs = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
reqs.forEach((r, i) => { const m = outs[i].text.slice(5).match(/[A-Za-z]{3,}/); r.stop = m ? [m[0], "\u0001never"] : null; });
fs.writeFileSync(process.argv[3], reqs.map(r => JSON.stringify(r)).join("\n") + "\n");
' "$ST/plain.out.jsonl" "$ST/plain.jsonl" "$ST/stop.jsonl"
"${GETP[@]}" -i "$ST/stop.jsonl" -o "$ST/stop.out.jsonl" -n 40 --report "$ST/stop.report.json" >/dev/null 2>&1
"${GETP[@]}" -i "$ST/plain.jsonl" -o "$ST/plain2.out.jsonl" -n 40 --report "$ST/plain.report.json" >/dev/null 2>&1
decode_tokens() { node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(r.ranks ? r.ranks.reduce((s, x) => s + x.decode_tokens, 0) : r.decode_tokens)' "$1"; }
check "stop: generation ends once the stop string is settled (fewer decode steps than the run without stop)" \
    test "$(decode_tokens "$ST/stop.report.json")" -lt "$(( $(decode_tokens "$ST/plain.report.json") / 2 ))"
check "stop: the text ends before the first stop string, the tokens wholly before it kept, finish_reason stop" node -e '
const fs = require("fs");
const read = f => fs.readFileSync(f, "utf8").trim().split("\n").map(JSON.parse);
const plain = read(process.argv[1]), stopped = read(process.argv[2]), reqs = read(process.argv[3]);
let cut = 0;
reqs.forEach((r, i) => {
  const p = plain[i], s = stopped[i];
  if (!r.stop) { if (s.text !== p.text) process.exit(1); return; }
  const at = p.text.indexOf(r.stop[0]);
  if (s.text !== p.text.slice(0, at) || s.finish_reason !== "stop" || s.completion_tokens !== s.tokens.length) process.exit(2);
  if (JSON.stringify(s.tokens) !== JSON.stringify(p.tokens.slice(0, s.tokens.length)) || s.tokens.length >= p.tokens.length) process.exit(3);
  cut++;
});
if (cut === 0) process.exit(4);
' "$ST/plain.out.jsonl" "$ST/stop.out.jsonl" "$ST/stop.jsonl"
if [ -x "$B/getp_mpi" ] && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    timeout 60 mpirun --oversubscribe -np 2 "$B/getp_mpi" "$M" --tokenizer "$TOK" -i "$ST/stop.jsonl" -o "$ST/stop_mpi.out.jsonl" -n 40 \
        --report "$ST/stop_mpi.report.json" >/dev/null 2>&1
    check "stop: getp_mpi -np 2 writes getp's output" cmp -s "$ST/stop.out.jsonl" "$ST/stop_mpi.out.jsonl"
    check "stop: getp_mpi's ranks end the requests early too (their stop strings travel with them)" \
        test "$(decode_tokens "$ST/stop_mpi.report.json")" -eq "$(decode_tokens "$ST/stop.report.json")"
fi
# the Batch API format takes "stop" too
node -e '
const fs = require("fs");
const r = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse)[0];
const line = {custom_id: "s1", method: "POST", url: "/v1/completions", body: {prompt: r.prompt, max_tokens: 40, stop: r.stop}};
fs.writeFileSync(process.argv[2], JSON.stringify(line) + "\n");
' "$ST/stop.jsonl" "$ST/batch.jsonl"
"${GETP[@]}" -i "$ST/batch.jsonl" -o "$ST/batch.out.jsonl" -n 40 >/dev/null 2>&1
check "stop: a Batch API completion line stops there too" node -e '
const fs = require("fs");
const o = JSON.parse(fs.readFileSync(process.argv[1], "utf8").trim());
const s = JSON.parse(fs.readFileSync(process.argv[2], "utf8").trim().split("\n")[0]);
const c = o.response.body.choices[0];
if (c.text !== s.text || c.finish_reason !== "stop") process.exit(1);
' "$ST/batch.out.jsonl" "$ST/stop.out.jsonl"
printf '{"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}\n' >"$ST/five.jsonl"
expect_error "stop: more than 4 strings are refused" 1 "five.jsonl:1: \"stop\" must be a string or an array of 1 to 4 strings" "$ST/never" -- \
    "${GETP[@]}" -i "$ST/five.jsonl" -o "$ST/never"
printf '{"prompt": "x", "stop": ""}\n' >"$ST/empty.jsonl"
expect_error "stop: an empty string is refused" 1 "empty.jsonl:1: \"stop\" must hold non-empty text strings" "$ST/never" -- \
    "${GETP[@]}" -i "$ST/empty.jsonl" -o "$ST/never"
printf '{"prompt": "x", "stop": 5}\n' >"$ST/number.jsonl"
expect_error "stop: a number is refused" 1 "number.jsonl:1: \"stop\" must be a string" "$ST/never" -- "${GETP[@]}" -i "$ST/number.jsonl" -o "$ST/never"
