[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# The decode loop's scheduling through the command line (issue 23 items 4
# and 5): prompts chunked into calls beside decode rows (--step-tokens), more
# sequences than a call holds taking turns, and a paged KV cache smaller
# than --batch x --ctx (--kv-mem), where requests wait for room in order.
# None of it may change a completion; a request that can never fit fails
# the run with a message and no output file.
echo "== scheduler: chunked prefill, turns, paged KV cache"
SC=$OUT/scheduler
rm -rf "$SC" && mkdir -p "$SC"
for i in 1 2 3 4 5 6 7 8; do
    printf '{"prompt": "Story %d: once upon a time there was", "max_tokens": %d, "temperature": 1, "seed": %d}\n' "$i" $((4 + 3 * i)) "$i"
done >"$SC/req.jsonl"
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/base.jsonl" --batch 8 >/dev/null 2>&1
check "eight sampled requests run (exit 0)" test -s "$SC/base.jsonl"
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/s9.jsonl" --batch 8 --step-tokens 9 --report "$SC/s9.json" >/dev/null 2>&1
check "--step-tokens 9: prompts in chunks beside decode rows, the same output" cmp -s "$SC/base.jsonl" "$SC/s9.jsonl"
check "--step-tokens 9: the report counts the calls with both prompt and decode rows" node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(r.mixed_steps > 0 && r.steps > r.mixed_steps ? 0 : 1)' "$SC/s9.json"
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/s3.jsonl" --batch 8 --step-tokens 3 >/dev/null 2>&1
check "--step-tokens 3 with 8 sequences: they take turns, the same output" cmp -s "$SC/base.jsonl" "$SC/s3.jsonl"
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/bad_s.jsonl" --step-tokens 0 >/dev/null 2>"$SC/bad_s.err"
check "--step-tokens 0 is refused with a message" grep -q -- "--step-tokens" "$SC/bad_s.err"

# the tiny model keeps 1 KiB a position: 0.001 GiB holds 1024 positions,
# three of these requests' reservations (prompt + max_tokens) at a time
for i in 1 2 3 4 5 6; do
    printf '{"prompt": "Tale %d", "max_tokens": 330, "stop": ["e", "a", "o"], "temperature": 1, "seed": %d}\n' "$i" "$i"
done >"$SC/kv.jsonl"
"${GETP[@]}" -i "$SC/kv.jsonl" -o "$SC/kv_all.jsonl" --batch 6 >/dev/null 2>&1
"${GETP[@]}" -i "$SC/kv.jsonl" -o "$SC/kv_small.jsonl" --batch 6 --kv-mem 0.001 >"$SC/kv_small.log" 2>&1
check "--kv-mem 0.001 (1024 positions for 6 x 335): requests wait for room, the same output" cmp -s "$SC/kv_all.jsonl" "$SC/kv_small.jsonl"
check "the report's device line gives the KV cache's positions" grep -q "KV cache 0.00 GiB: 1024 positions" "$SC/kv_small.log"
"${GETP[@]}" -i "$SC/kv.jsonl" -o "$SC/kv_step1.jsonl" --batch 6 --kv-mem 0.001 --step-tokens 1 >/dev/null 2>&1
check "--kv-mem 0.001 --step-tokens 1: decoding keeps its row while a request waits for room, the same output" cmp -s "$SC/kv_all.jsonl" "$SC/kv_step1.jsonl"
printf '{"prompt": "x", "max_tokens": 2000}\n' >"$SC/big.jsonl"
"${GETP[@]}" -i "$SC/big.jsonl" -o "$SC/big.out" --kv-mem 0.001 >/dev/null 2>"$SC/big.err"
rc=$?
check "a request needing more positions than the KV cache holds: exit 1, the reason, no output file" \
    bash -c "[ $rc -eq 1 ] && grep -q 'needs 2000 positions of the KV cache (its prompt and max_tokens), more than the 1024 it holds' '$SC/big.err' && [ ! -e '$SC/big.out' ]"

# chats share their system message: at --batch 16 it is computed once (a
# slot of its own) and copied into every request; the output is --batch 1's,
# where there is no slot to spare and each request computes it
(echo 20; for i in 1 2 3 4 5; do printf 'What is 2 + 2?\nName a color.\nWhat is the capital of France?\nCount to three.\n'; done) >"$SC/chat.txt"
"${GETP[@]}" -i "$SC/chat.txt" -o "$SC/chat16.txt" -n 12 --chat --batch 16 >"$SC/chat16.log" 2>&1
"${GETP[@]}" -i "$SC/chat.txt" -o "$SC/chat1.txt" -n 12 --chat --batch 1 >"$SC/chat1.log" 2>&1
check "chats at --batch 16 (the system message copied from a slot of its own) write --batch 1's output" cmp -s "$SC/chat16.txt" "$SC/chat1.txt"
check "the report says how many prompt positions were copied, not computed, and that 15 sequences ran beside the prefix" \
    bash -c "grep -qE 'prefill: [0-9]+ tokens .*; [0-9]+ more copied from shared prompt prefixes' '$SC/chat16.log' && ! grep -q copied '$SC/chat1.log' && grep -q 'batch: 15,' '$SC/chat16.log'"

# without --ctx, each sequence's cache is what the requests need (the
# longest prompt plus max_tokens - 1): more sequences fit a GPU's KV cache
printf '{"prompt": "Hello there", "max_tokens": 50}\n{"prompt": "Hi", "max_tokens": 20}\n' >"$SC/ctx.jsonl"
"${GETP[@]}" -i "$SC/ctx.jsonl" -o "$SC/ctx_auto.jsonl" --report "$SC/ctx_auto.json" >/dev/null 2>&1
"${GETP[@]}" -i "$SC/ctx.jsonl" -o "$SC/ctx_300.jsonl" --ctx 300 --report "$SC/ctx_300.json" >/dev/null 2>&1
check "the context defaults to the longest prompt plus max_tokens - 1; --ctx 300 sets it; the output is the same" node -e '
const fs = require("fs"), first = JSON.parse(fs.readFileSync(process.argv[1], "utf8").split("\n")[0]);
const auto = JSON.parse(fs.readFileSync(process.argv[2], "utf8")), fixed = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
process.exit(auto.context === first.prompt_tokens + 49 && fixed.context === 300 ? 0 : 1)' "$SC/ctx_auto.jsonl" "$SC/ctx_auto.json" "$SC/ctx_300.json"
check "... and the outputs are the same" cmp -s "$SC/ctx_auto.jsonl" "$SC/ctx_300.jsonl"

# the order requests start in: the longest first (default) or the file's
# (--order file); the output is the same. The file lists its longest
# request last: at --batch 3 it then decodes alone at the end, in more calls.
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/longest.jsonl" --batch 3 --report "$SC/longest.json" >/dev/null 2>&1
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/file.jsonl" --batch 3 --order file --report "$SC/file.json" >/dev/null 2>&1
check "--order file and the default (longest first) write the same output" cmp -s "$SC/longest.jsonl" "$SC/file.jsonl"
check "longest first takes fewer calls than the file's order, whose longest request ends alone" node -e '
const fs = require("fs"), a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
process.exit(a.steps < b.steps ? 0 : 1)' "$SC/longest.json" "$SC/file.json"
"${GETP[@]}" -i "$SC/req.jsonl" -o "$SC/bad_o.jsonl" --order random >/dev/null 2>"$SC/bad_o.err"
check "--order random is refused with a message" bash -c "grep -q -- \"unknown --order 'random'\" '$SC/bad_o.err' && [ ! -e '$SC/bad_o.jsonl' ]"
# twelve equal requests at once: while the batch fills, prompts take all but
# an eighth of each call, so the requests end together and the calls stay
# full: 120 prompt and 180 decode rows need 19 calls of 16; decode rows
# first (the policy before) took 28, the last ones thin
for i in $(seq 10 21); do printf '{"prompt": "Story %d: once upon a time there was", "max_tokens": 16}\n' "$i"; done >"$SC/eq.jsonl"
"${GETP[@]}" -i "$SC/eq.jsonl" -o "$SC/eq_out.jsonl" --batch 12 --step-tokens 16 --ignore-eos --report "$SC/eq.json" >/dev/null 2>&1
check "twelve equal requests at once (--step-tokens 16): at most 24 calls for their 300 rows (19 at the least)" node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
process.exit(r.prompt_tokens + r.decode_tokens === 300 && r.steps <= 24 ? 0 : 1)' "$SC/eq.json"
