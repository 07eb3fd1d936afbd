[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# Sampling options end to end (issue 24 item 4): top_k, min_p, logprobs and
# n choices through getp's JSONL and command line. The checks hold whatever
# the model: top_k 1 and min_p 1 are greedy; a token drawn under top_k 5 at
# temperature 1 is among the 5 likeliest that its own logprobs list; under
# min_p 0.5 it is at least half as likely as the likeliest; choice 0 of n
# is the request's one completion; outputs do not depend on --batch or on
# the rank count.
echo "== sampling: top_k, min_p, logprobs, n"
SA=$OUT/sampling
rm -rf "$SA" && mkdir -p "$SA"
P='"prompt": "The quick brown fox"'
"${GETP[@]}" -i <(printf '{%s}\n' "$P") -o "$SA/greedy.jsonl" -n 12 >/dev/null 2>&1
"${GETP[@]}" -i <(printf '{%s, "temperature": 1, "top_k": 1, "seed": 3}\n{%s, "temperature": 1, "min_p": 1, "seed": 4}\n' "$P" "$P") \
    -o "$SA/narrow.jsonl" -n 12 >/dev/null 2>&1
tokens_of() { node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) console.log(JSON.stringify(JSON.parse(l).tokens))' "$1"; }
check "top_k 1 at temperature 1 gives the greedy tokens" test "$(tokens_of "$SA/greedy.jsonl")" = "$(tokens_of "$SA/narrow.jsonl" | sed -n 1p)"
check "min_p 1 at temperature 1 gives the greedy tokens" test "$(tokens_of "$SA/greedy.jsonl")" = "$(tokens_of "$SA/narrow.jsonl" | sed -n 2p)"

cat >"$SA/req.jsonl" <<REQ
{$P, "temperature": 1, "top_k": 5, "logprobs": true, "top_logprobs": 5, "seed": 11, "id": "k5"}
{$P, "temperature": 1, "min_p": 0.5, "logprobs": true, "top_logprobs": 1, "seed": 12, "id": "m"}
{$P, "logprobs": true, "top_logprobs": 20, "id": "greedy"}
{$P, "temperature": 1, "n": 3, "seed": 13, "logprobs": true, "id": "three"}
{$P, "n": 2, "id": "greedy2"}
REQ
"${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/out.jsonl" -n 10 --batch 8 >/dev/null 2>"$SA/err"
check "a JSONL file with top_k, min_p, logprobs and n runs (exit 0)" test $? -eq 0
line() { sed -n "$1p" "$SA/out.jsonl"; }
check "top_k 5: every token drawn is among the 5 likeliest its logprobs list" node -e '
const o = JSON.parse(process.argv[1]);
const ok = o.logprobs.length === o.tokens.length && o.logprobs.every((e, t) => e.id === o.tokens[t] && e.top_logprobs.length === 5 &&
  e.top_logprobs.some(x => x.id === e.id && x.logprob === e.logprob) && e.top_logprobs.every((x, i, a) => i === 0 || a[i - 1].logprob >= x.logprob));
process.exit(ok && o.tokens.length > 0 ? 0 : 1)' "$(line 1)"
check "min_p 0.5: every token drawn is at least half as likely as the likeliest" node -e '
const o = JSON.parse(process.argv[1]);
process.exit(o.logprobs.every(e => e.logprob >= e.top_logprobs[0].logprob + Math.log(0.5) - 1e-5) ? 0 : 1)' "$(line 2)"
check "logprobs of greedy tokens: the token is the likeliest, 20 alternatives whose probabilities sum to at most 1" node -e '
const o = JSON.parse(process.argv[1]);
const ok = o.logprobs.every(e => e.top_logprobs.length === 20 && e.top_logprobs[0].id === e.id && e.top_logprobs[0].logprob === e.logprob &&
  e.top_logprobs.reduce((s, x) => s + Math.exp(x.logprob), 0) <= 1 + 1e-6 && typeof e.token === "string");
process.exit(ok ? 0 : 1)' "$(line 3)"
"${GETP[@]}" -i <(sed -n 4p "$SA/req.jsonl") -o "$SA/three.jsonl" -n 10 >/dev/null 2>&1
"${GETP[@]}" -i <(sed -n 4p "$SA/req.jsonl" | sed 's/"n": 3, //') -o "$SA/one.jsonl" -n 10 >/dev/null 2>&1
check "n 3: three choices, choice 0 the same as the request with n 1 (the same stream)" node -e '
const three = JSON.parse(process.argv[1]), one = JSON.parse(process.argv[2]);
const c = three.choices;
process.exit(c.length === 3 && c.every((x, i) => x.index === i) && JSON.stringify(c[0].tokens) === JSON.stringify(one.tokens) &&
  JSON.stringify(c[1].tokens) !== JSON.stringify(c[2].tokens) && c.every(x => x.logprobs.length === x.tokens.length) ? 0 : 1)' "$(cat "$SA/three.jsonl")" "$(cat "$SA/one.jsonl")"
check "n 2 at temperature 0: both choices are the greedy completion" node -e '
const o = JSON.parse(process.argv[1]), g = JSON.parse(process.argv[2]);
process.exit(o.choices.length === 2 && o.choices.every(c => JSON.stringify(c.tokens) === JSON.stringify(g.tokens.slice(0, 10))) ? 0 : 1)' \
    "$(line 5)" "$(head -1 "$SA/greedy.jsonl")"
"${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/out_b1.jsonl" -n 10 --batch 1 >/dev/null 2>&1
check "the same output at --batch 1 as at --batch 8 (choices then share no prompt)" cmp -s "$SA/out.jsonl" "$SA/out_b1.jsonl"
"${GETP[@]}" -i <(printf '2\nHello\nWorld\n') -o "$SA/choices.txt" -n 4 -t 1 --choices 3 >/dev/null 2>&1
check "--choices 3 with a plain request file: one output line per choice" test "$(wc -l <"$SA/choices.txt")" -eq 6
"${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/cli.jsonl" -n 4 --top-k 3 --min-p 0.01 --logprobs 2 >/dev/null 2>&1
check "--top-k, --min-p and --logprobs set the defaults a request leaves out" node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
process.exit(l[4].choices[0].logprobs && l[4].choices[0].logprobs.every(e => e.top_logprobs.length === 2) && l[0].logprobs[0].top_logprobs.length === 5 ? 0 : 1)' "$SA/cli.jsonl"
if [ -x "$B/getp_mpi" ] && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    timeout 90 mpirun --oversubscribe -np 3 "$B/getp_mpi" "$M" --tokenizer "$TOK" -i "$SA/req.jsonl" -o "$SA/mpi.jsonl" -n 10 --batch 8 >/dev/null 2>&1
    check "getp_mpi -np 3 writes getp's output (choices, logprobs)" cmp -s "$SA/out.jsonl" "$SA/mpi.jsonl"
    printf '{"prompt": "Hi", "n": 4, "temperature": 1}\n' >"$SA/n4.jsonl"
    timeout 60 mpirun --oversubscribe -np 2 "$B/getp_mpi" "$M" --tokenizer "$TOK" -i "$SA/n4.jsonl" \
        -o "$SA/mpi4.jsonl" -n 3 --schedule cyclic --report "$SA/mpi4.json" >/dev/null 2>&1
    check "getp_mpi: a request's choices stay on one rank (its prompt computed once), even under --schedule cyclic" node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).ranks.map(x => x.requests).sort();
process.exit(JSON.stringify(r) === "[0,4]" ? 0 : 1)' "$SA/mpi4.json"
fi

bad() { # bad NAME JSON_FIELDS MESSAGE
    printf '{"prompt": "x", %s}\n' "$2" >"$SA/bad.jsonl"
    expect_error "$1" 1 "bad.jsonl:1: $3" "$SA/never" -- "${GETP[@]}" -i "$SA/bad.jsonl" -o "$SA/never"
}
bad "top_k must be a non-negative integer" '"top_k": -1' '"top_k" must be an integer in \[0, 1000000000\], got -1'
bad "min_p must be in [0, 1]" '"min_p": 2' '"min_p" must be a number in \[0, 1\], got 2'
bad "n 0 is refused" '"n": 0' '"n" must be an integer in \[1, 128\], got 0'
bad "n over 128 is refused" '"n": 129' '"n" must be an integer in \[1, 128\], got 129'
bad "top_logprobs over 20 is refused" '"logprobs": true, "top_logprobs": 21' '"top_logprobs" must be an integer in \[0, 20\], got 21'
bad "top_logprobs needs logprobs true" '"top_logprobs": 2' '"top_logprobs" needs "logprobs": true'
bad "logprobs must be true or false in getp's JSONL" '"logprobs": 3' '"logprobs" must be true or false, got a number'
expect_error "--logprobs over 20 is refused" 2 "--logprobs" "$SA/never" -- "${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/never" --logprobs 21
expect_error "--choices 0 is refused" 2 "--choices" "$SA/never" -- "${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/never" --choices 0

# --timings (issue 24 item 6): each completion's first-token and finish times, opt-in
"${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/timed.jsonl" -n 10 --batch 8 --timings >/dev/null 2>&1
check "--timings: every completion (each choice too) has 0 < first_token_s <= finish_s; without it, none" node -e '
const fs = require("fs");
const l = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const all = l.flatMap(o => o.choices || [o]);
const plain = fs.readFileSync(process.argv[2], "utf8");
process.exit(all.length === 8 && all.every(c => c.first_token_s > 0 && c.first_token_s <= c.finish_s) && !plain.includes("first_token_s") ? 0 : 1)' \
    "$SA/timed.jsonl" "$SA/out.jsonl"
check "--timings adds only the two times: the rest of each line is the output without it" node -e '
const fs = require("fs");
const strip = t => t.replace(/,"first_token_s":[0-9.]+,"finish_s":[0-9.]+/g, "");
process.exit(strip(fs.readFileSync(process.argv[1], "utf8")) === fs.readFileSync(process.argv[2], "utf8") ? 0 : 1)' "$SA/timed.jsonl" "$SA/out.jsonl"

# the report counts the file's requests and, with choices, the completions; each prompt once
"${GETP[@]}" -i "$SA/req.jsonl" -o "$SA/rep.jsonl" -n 10 --batch 8 --report "$SA/rep.json" >"$SA/rep.txt" 2>&1
check "--report with choices: requests 5, completions 8, generated and prompt tokens those of the output" node -e '
const fs = require("fs");
const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const out = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const gen = out.flatMap(o => o.choices || [o]).reduce((a, c) => a + c.tokens.length, 0), prompt = out.reduce((a, o) => a + o.prompt_tokens, 0);
process.exit(r.requests === 5 && r.completions === 8 && r.generated_tokens === gen && r.prompt_tokens === prompt ? 0 : 1)' "$SA/rep.json" "$SA/rep.jsonl"
check "the text report says requests: 5 (8 completions)" grep -q "requests: 5 (8 completions)" "$SA/rep.txt"
