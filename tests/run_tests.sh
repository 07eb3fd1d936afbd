#!/usr/bin/env bash
# The getp test suite (CPU only; GPU tests are `make test-gpu`). Run through
# `make test` (which builds everything and the tokenizer file first).
# Ends with "N passed, N failed"; exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
rm -rf "$ROOT/tests/out"
GETP_SUITE=1
source tests/lib.sh
echo "== unit tests"
node tests/tokenizer/make_corpus.mjs "$OUT/corpus.txt" "$OUT/big.txt"
run_c unit "$B/test_unit" "$TOK" "$OUT/corpus.txt"
run_c harmony "$B/test_harmony" "$TOK"
run_c json "$B/test_json"
run_c sampling "$B/test_sampling"
run_c mapping_guard "$B/test_mapping_guard"
run_c kv_pages "$B/test_kv_pages"

echo "== tokenizer against js-tiktoken"
node tools/tokenizer/reference_encode.mjs "$OUT/corpus.txt" >"$OUT/corpus.ref"
"$B/getp" -m tokenize -i "$OUT/corpus.txt" --tokenizer "$TOK" >"$OUT/corpus.ours"
check "tokenizer: $(wc -l <"$OUT/corpus.txt") corpus strings token-for-token equal to js-tiktoken" cmp -s "$OUT/corpus.ref" "$OUT/corpus.ours"
node tools/tokenizer/reference_encode.mjs "$OUT/big.txt" >"$OUT/big.ref"
"$B/getp" -m tokenize -i "$OUT/big.txt" --tokenizer "$TOK" >"$OUT/big.ours"
check "tokenizer: 1 MB text ($(wc -w <"$OUT/big.ref") tokens) equal to js-tiktoken" cmp -s "$OUT/big.ref" "$OUT/big.ours"

echo "== forward pass against HF transformers"
for f in f32 mxfp4; do
    "$B/convert_hf" tests/fixtures/hf_$f "$OUT/hf_$f.bin" 2>/dev/null || fail "convert_hf hf_$f"
    run_c "forward_$f" "$B/test_forward" "$OUT/hf_$f.bin" tests/fixtures/hf_$f 1e-4
done
"$B/convert_hf" tests/fixtures/hf_mxfp4 "$OUT/hf_mxfp4_wide.bin" --widen 2>/dev/null
run_c forward_mxfp4_widened "$B/test_forward" "$OUT/hf_mxfp4_wide.bin" tests/fixtures/hf_mxfp4 1e-4
# --precision bf16 against HF with the experts' activations rounded alike
# (tests/hf/make_fixtures.py --bf16-experts), within 1e-2 and the same greedy
# tokens: an f32 difference of 1e-7 can tip one rounding by 2^-8 and every
# later one with it, so 1e-4 cannot be counted on (measured: F32 7.2e-7,
# MXFP4 3.8e-3). On the F32 fixture the rounding tips a near-tied router:
# the exact path is 0.31 from HF's bf16 logits there, its greedy tokens
# others, so the check bites (on the MXFP4 one it would pass, 8.9e-3).
for f in f32 mxfp4; do
    run_c "forward_${f}_bf16" "$B/test_forward" "$OUT/hf_$f.bin" tests/fixtures/hf_$f 1e-2 bf16
done
AS=$OUT/hf_f32_as_bf16
mkdir -p "$AS" && cp tests/fixtures/hf_f32/prompt.txt "$AS/" &&
    cp tests/fixtures/hf_f32/logits_bf16_experts.f32 "$AS/logits.f32" && cp tests/fixtures/hf_f32/greedy_bf16_experts.txt "$AS/greedy.txt"
"$B/test_forward" "$OUT/hf_f32.bin" "$AS" 1e-2 >"$OUT/sensitivity_bf16.log" 2>&1
check "the bf16 oracle detects the exact path ($(grep -o 'worst relative error [^ ]*' "$OUT/sensitivity_bf16.log"))" grep -q "^FAIL logits" "$OUT/sensitivity_bf16.log"
# the oracle must be able to fail: bf16 weights are off by far more than 1e-4
"$B/convert_hf" tests/fixtures/hf_f32 "$OUT/hf_f32_bf16.bin" --dtype bf16 2>/dev/null
if "$B/test_forward" "$OUT/hf_f32_bf16.bin" tests/fixtures/hf_f32 1e-4 >"$OUT/sensitivity.log" 2>&1; then
    fail "forward oracle detects bf16-rounded weights" "it passed"
else
    pass "forward oracle detects bf16-rounded weights ($(grep -o 'worst relative error [^ ]*' "$OUT/sensitivity.log"))"
fi

echo "== getp on the tiny model"
M=$OUT/tiny.bin
"$B/gen_model" "$M" --preset tiny
# the decode loop pipelined (the next step enqueued before the tokens come back) against one call at a time
run_c generate "$B/test_generate" "$M"
GETP=("$B/getp" "$M" --tokenizer "$TOK")
cat >"$OUT/req.txt" <<'REQ'
6
Hello, world!
The capital of France is
A much longer prompt that runs well past the sliding window of the tiny model, so that the window matters.\nIt has two lines.
短い日本語のプロンプト
def fib(n):\n\treturn n if n < 2 else fib(n-1) + fib(n-2)
1 2 3 4 5 6 7 8 9 10
REQ
"${GETP[@]}" -m getp -i "$OUT/req.txt" -o "$OUT/greedy.txt" -n 12 >"$OUT/greedy.log" 2>&1
check "getp writes one line per request" test "$(wc -l <"$OUT/greedy.txt")" -eq 6
check "getp reports throughput" grep -q "achieved throughput TPS (tok/s):" "$OUT/greedy.log"
"${GETP[@]}" -m getp -i "$OUT/req.txt" -o "$OUT/progress.txt" -n 12 --progress 2>"$OUT/progress.log" >/dev/null
check "--progress: the line ends with every request done, its share, elapsed time, ETA and tok/s, drawn once at the end" \
    bash -c "tr '\r' '\n' <'$OUT/progress.log' | grep -c '^\[getp\] 6/6 requests (100.0%), [0-9]* s, ETA 0 s, [0-9.]* tok/s' | grep -qx 1"
"${GETP[@]}" -m getp -i "$OUT/req.txt" -o "$OUT/greedy2.txt" -n 12 --batch 1 >/dev/null 2>&1
check "greedy output is deterministic and independent of --batch" cmp -s "$OUT/greedy.txt" "$OUT/greedy2.txt"
for b in 1 3 16; do
    "${GETP[@]}" -m getp -i "$OUT/req.txt" -o "$OUT/sampled_b$b.txt" -n 16 -t 0.9 -p 0.95 -s 7 --batch $b >/dev/null 2>&1
done
check "sampled output (seeded) is the same at --batch 1, 3 and 16" \
    bash -c "cmp -s '$OUT/sampled_b1.txt' '$OUT/sampled_b3.txt' && cmp -s '$OUT/sampled_b1.txt' '$OUT/sampled_b16.txt'"
"${GETP[@]}" -m getp -i "$OUT/req.txt" -o "$OUT/sampled_s8.txt" -n 16 -t 0.9 -p 0.95 -s 8 >/dev/null 2>&1
check "a different seed gives different samples" bash -c "! cmp -s '$OUT/sampled_b1.txt' '$OUT/sampled_s8.txt'"
first=$("${GETP[@]}" -m generate -i "Hello, world!" -n 12 2>/dev/null | head -c -1 | sed -e 's/\\/\\\\/g' -e 's/\t/\\t/g' | awk 'NR>1{printf "\\n"} {printf "%s", $0}')
check "-m generate gives the same completion as the batch run" test "$first" = "$(head -n 1 "$OUT/greedy.txt")"

cat >"$OUT/req.jsonl" <<'REQ'
{"prompt": "Hello, world!", "id": "a"}
{"prompt": "The same prompt", "seed": 1, "temperature": 1.0, "id": "s1"}
{"prompt": "The same prompt", "seed": 1, "temperature": 1.0, "id": "s1b"}
{"prompt": "The same prompt", "seed": 2, "temperature": 1.0, "id": "s2"}
{"prompt": "No tokens please", "max_tokens": 0}

{"prompt": "Special <|start|> text and emoji 👍🏽", "max_tokens": 3, "id": 7}
REQ
"${GETP[@]}" -m getp -i "$OUT/req.jsonl" -o "$OUT/out.jsonl" -n 10 >/dev/null 2>&1
check "JSONL output checks out against js-tiktoken (ids, prompt_tokens, text)" node tools/tokenizer/check_output.mjs "$OUT/req.jsonl" "$OUT/out.jsonl"
"${GETP[@]}" -m getp -i "$OUT/req.jsonl" -o "$OUT/out_rep.jsonl" -n 10 --report "$OUT/getp_report.json" >/dev/null 2>&1
check "getp --report: a JSON report whose token counts are the output's" node -e '
const fs = require("fs");
const rep = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const out = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
for (const k of ["backend", "requests", "batch", "context", "load_s", "prefill_tokens", "decode_tokens", "generated_tokens", "prompt_tokens",
                 "generate_s", "tok_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s"]) if (!(k in rep)) process.exit(1);
const gen = out.reduce((a, o) => a + o.tokens.length, 0), prompt = out.reduce((a, o) => a + o.prompt_tokens, 0);
if (rep.generated_tokens !== gen || rep.prompt_tokens !== prompt || rep.requests !== out.length) process.exit(1);
' "$OUT/getp_report.json" "$OUT/out_rep.jsonl"
# --precision bf16: the report says so, and the experts' rounding moves the
# logprobs (its arithmetic is checked against HF's in forward_*_bf16 above)
"${GETP[@]}" -m getp -i "$OUT/req.jsonl" -o "$OUT/out_exact.jsonl" -n 10 --logprobs 2 >/dev/null 2>&1
"${GETP[@]}" -m getp -i "$OUT/req.jsonl" -o "$OUT/out_bf16.jsonl" -n 10 --logprobs 2 --precision bf16 >"$OUT/bf16.log" 2>&1
check "getp --precision bf16 runs and its report names it" grep -q "device: cpu.*; experts' activations bf16" "$OUT/bf16.log"
check "getp --precision bf16 moves the logprobs (exact and bf16 outputs differ)" bash -c "! cmp -s '$OUT/out_exact.jsonl' '$OUT/out_bf16.jsonl'"
tok_of() { sed -n "${2}p" "$1" | grep -o '"tokens":\[[^]]*\]'; }
sed 's/"seed": 2,/"seed": 3,/' "$OUT/req.jsonl" >"$OUT/req_seed.jsonl"
"${GETP[@]}" -m getp -i "$OUT/req_seed.jsonl" -o "$OUT/out_seed.jsonl" -n 10 >/dev/null 2>&1
check "a request's seed changes its own tokens" test "$(tok_of "$OUT/out.jsonl" 4)" != "$(tok_of "$OUT/out_seed.jsonl" 4)"
check "a request's seed leaves the other requests alone" \
    bash -c "diff <(sed 4d '$OUT/out.jsonl') <(sed 4d '$OUT/out_seed.jsonl') >/dev/null"
check "same prompt and seed at different request indices draw different streams" test "$(tok_of "$OUT/out.jsonl" 2)" != "$(tok_of "$OUT/out.jsonl" 3)"
check "max_tokens 0 gives an empty completion" grep -q '"id":4,"prompt_tokens":[0-9]*,"completion_tokens":0,"finish_reason":"length"' "$OUT/out.jsonl"
check "max_tokens 3 is respected" grep -q '"id":7,.*"completion_tokens":3,' "$OUT/out.jsonl"
# context limit: prompt of P tokens in a context of 12 stops with finish_reason "context" after 12 - P + 1 tokens
echo '{"prompt": "one two three four"}' >"$OUT/ctx.jsonl"
"${GETP[@]}" -m getp -i "$OUT/ctx.jsonl" -o "$OUT/ctx_out.jsonl" -n 100 --ctx 12 --ignore-eos >/dev/null 2>&1
P=$(grep -o '"prompt_tokens":[0-9]*' "$OUT/ctx_out.jsonl" | cut -d: -f2)
check "the context limit stops generation (finish_reason context)" \
    grep -q "\"completion_tokens\":$((12 - P + 1)),\"finish_reason\":\"context\"" "$OUT/ctx_out.jsonl"
"${GETP[@]}" -m getp -i "$OUT/ctx.jsonl" -o "$OUT/chat_out.jsonl" -n 1 --chat >/dev/null 2>&1
C=$(grep -o '"prompt_tokens":[0-9]*' "$OUT/chat_out.jsonl" | cut -d: -f2)
printf '%s\n' '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-01-01\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|><|start|>user<|message|>one two three four<|end|><|start|>assistant' >"$OUT/chat_expected.txt"
check "--chat renders the harmony system message and the user turn ($C tokens, js-tiktoken's count of the rendering)" \
    test "$C" -eq "$(node tools/tokenizer/reference_encode.mjs "$OUT/chat_expected.txt" | wc -w)"

# Each file in tests/robust/ is one area's bad-input and safety tests.
for f in tests/robust/*.sh; do
    [ -e "$f" ] && source "$f"
done

# The CPU programs again under AddressSanitizer and UBSan (leaks checked):
# the bad-input tests above and a bounded fuzz of every input format.
source tests/run_sanitize.sh

echo "== GPU backend builds (nothing here runs them: make test-gpu does, on a GPU machine)"
rm -rf "$B/hip_amd"
make -s hip-amd >"$OUT/hip_amd.log" 2>&1
check "the AMD build (hipcc --offload-arch=gfx90a, -Werror) compiles the HIP backend" \
    bash -c "[ \$(ls '$B'/hip_amd/*.o | wc -l) -eq \$(ls hip/*.hip | grep -vc bench_support) ] && for f in forward weights; do strings '$B'/hip_amd/\$f.o | grep -q 'amdgcn-amd-amdhsa--gfx90a' || exit 1; done"
if command -v nvcc >/dev/null; then
    make -s -j"$(nproc)" hip-objects >"$OUT/hip_nvidia.log" 2>&1
    check "the NVIDIA build (nvcc sm_90a through hip/hip_compat.h, -Werror) compiles the HIP backend" test -s "$B/hip/forward.o"
    # the programs make test-gpu runs, linked: their C (test_gpu's checks, the GPU CLI) is compiled against today's headers
    make -s -j"$(nproc)" gpu-programs >"$OUT/hip_programs.log" 2>&1
    check "make test-gpu's programs build (test_gpu, getp_gpu, bench_gpu, getp_mpi_gpu)" \
        bash -c "for p in test_gpu getp_gpu bench_gpu getp_mpi_gpu; do [ -x '$B'/\$p ] && [ '$B'/\$p -nt '$B'/libgetp.a ] || { tail -n 20 '$OUT/hip_programs.log'; exit 1; }; done"
fi

echo "== the GPU backend on the CPU emulator (hip/emu): make test-gpu's checks on small models"
# its kernels and host code compiled by g++, each block's threads as fibers:
# logits against the CPU backend, batch invariance, sampling, pipelined
# calls, copy_prefix and the getp_gpu CLI (tests/run_gpu_tests.sh)
if make -s -j"$(nproc)" emu >"$OUT/emu_build.log" 2>&1; then
    pass "the GPU backend builds for the CPU emulator (g++ -DGETP_EMU, -Werror)"
    while IFS= read -r line; do
        case "$line" in
        PASS\ *) pass "emu: ${line#PASS }" ;;
        FAIL\ *) fail "emu: ${line#FAIL }" ;;
        esac
    done < <(GPU_TESTS=emu GPU_BIN="$B/emu" GPU_JOBS="$(nproc)" timeout 2400 bash tests/run_gpu_tests.sh 2>&1 | tee "$OUT/emu_tests.log")
    check "the emulator's GPU tests ran to their end" grep -q "^[0-9]* passed, [0-9]* failed$" "$OUT/emu_tests.log"
    # the same kernels with AddressSanitizer and UBSan (make emu-san, in
    # build/san): an out-of-bounds access to device or shared memory fails
    # where it happens (compute-sanitizer's memcheck, on the CPU)
    # (also the persistent experts kernel and the experts' tile list: their
    # own indexing; the three runs side by side)
    if make -s emu-san >"$OUT/emu_san_build.log" 2>&1; then
        SAN_RUNS=("hip_unit_tests" "test_gpu tests/out/emu/tiny4k.bin 1e-4" "GETP_PERSISTENT_MOE=1 GETP_EXPERT_TILES=0 test_gpu tests/out/emu/tiny4k.bin 1e-4")
        for i in "${!SAN_RUNS[@]}"; do
            (
                read -r -a words <<<"${SAN_RUNS[$i]}"
                vars=() && while [[ "${words[0]}" == *=* ]]; do vars+=("${words[0]}") && words=("${words[@]:1}"); done
                env ASAN_OPTIONS=detect_leaks=0 "${vars[@]}" timeout 1200 "$B/san/emu/${words[0]}" "${words[@]:1}" >"$OUT/emu_san_$i.log" 2>&1
                echo "exit $?" >>"$OUT/emu_san_$i.log"
            ) &
        done
        wait
        for i in "${!SAN_RUNS[@]}"; do
            t=${SAN_RUNS[$i]} log="$OUT/emu_san_$i.log"
            tag=$([[ "$t" == GETP_* ]] && echo " [${t% test_gpu*}]")
            relay_results "emu+asan$tag" "$log"
            rc=$(sed -n 's/^exit //p' "$log")
            [ "$rc" = 0 ] || fail "emu+asan: $t" "exited with $rc: $(grep -m1 -A3 'ERROR\|runtime error' "$log")"
        done
    else
        fail "the emulator builds with the sanitizers" "$(tail -n 5 "$OUT/emu_san_build.log")"
    fi
    # the decode-sized path with the knobs of make emu-knobs (EMU_KNOBS: no
    # weight ring, as the AMD build), which the default
    # emulator build (the ring, as NVIDIA's) leaves out: the kernels'
    # bit-for-bit checks and one MXFP4 model's (hidden 128: its expert
    # blocks load into registers) logits, greedy tokens and batch invariance
    if make -s -j"$(nproc)" emu-knobs >"$OUT/emu_knobs_build.log" 2>&1; then
        for t in hip_unit_tests "test_gpu $OUT/emu/h128_mxfp4e.bin 1e-4"; do
            read -r -a words <<<"$t"
            timeout 900 "$B/knobs/emu/${words[0]}" "${words[@]:1}" >"$OUT/emu_knobs.log" 2>&1
            rc=$?
            relay_results "emu, knobs" "$OUT/emu_knobs.log"
            [ "$rc" = 0 ] || fail "emu, knobs: ${words[0]}" "exited with $rc: $(tail -n 3 "$OUT/emu_knobs.log")"
        done
    else
        fail "the emulator builds with the knobs of make emu-knobs" "$(tail -n 5 "$OUT/emu_knobs_build.log")"
    fi
else
    fail "the GPU backend builds for the CPU emulator" "$(tail -n 5 "$OUT/emu_build.log")"
fi

echo "== getp_mpi on the CPU backend: byte-identical to getp"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe -np)
GETP_MPI=("$B/getp_mpi" "$M" --tokenizer "$TOK")
printf '1\nA single request\n' >"$OUT/n1.txt"
printf '4\nfirst\nsecond prompt\nthird prompt is longer\nfourth\n' >"$OUT/n4.txt"
{ echo 24; for i in $(seq 1 24); do echo "Request number $i: $(printf 'x%.0s' $(seq 1 $((i % 7 * 5))))"; done; } >"$OUT/n24.txt"
{ for i in $(seq 0 9); do
    printf '{"prompt": "%s", "max_tokens": %d}\n' "$(printf 'long prompt words %.0s' $(seq 1 $((i * i % 23 + 1))))" $(((i * 7) % 29 + 1))
  done; } >"$OUT/uneven.jsonl"
for f in n1.txt n4.txt n24.txt uneven.jsonl; do
    ext=${f##*.}
    for mode in greedy sampled; do
        opts=(-n 8 --ignore-eos); [ $mode = sampled ] && opts+=(-t 0.8 -p 0.9 -s 3)
        "${GETP[@]}" -m getp -i "$OUT/$f" -o "$OUT/ref_${f%.*}_$mode.$ext" "${opts[@]}" >/dev/null 2>&1
        for k in 1 2 3 4; do
            timeout 120 "${MPIRUN[@]}" $k "${GETP_MPI[@]}" -i "$OUT/$f" -o "$OUT/mpi_${f%.*}_${mode}_$k.$ext" "${opts[@]}" >"$OUT/mpi_${f%.*}_${mode}_$k.log" 2>&1
            check "getp_mpi -np $k, $f, $mode: identical to getp" cmp -s "$OUT/ref_${f%.*}_$mode.$ext" "$OUT/mpi_${f%.*}_${mode}_$k.$ext"
        done
    done
done
for sch in block cyclic; do
    timeout 120 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/mpi_$sch.txt" -n 8 --ignore-eos -t 0.8 -p 0.9 -s 3 --schedule $sch >/dev/null 2>&1
    check "getp_mpi --schedule $sch: identical to getp" cmp -s "$OUT/ref_n24_sampled.txt" "$OUT/mpi_$sch.txt"
done
check "balanced schedule: the uneven file's work is spread (no rank has more than twice the mean decode tokens)" \
    awk '/^[0-9]+ / {d[$1]=$9; s+=$9; n++} END {for (r in d) if (d[r] > 2*s/n) exit 1}' "$OUT/mpi_uneven_greedy_4.log"

echo "== getp_mpi report"
timeout 120 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/uneven.jsonl" -o "$OUT/rep_out.jsonl" -n 8 --report "$OUT/report.json" >"$OUT/rep.log" 2>&1
check "the JSON report has every field, and its tokens sum to the output's tokens" node -e '
const fs = require("fs");
const rep = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const out = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const fields = ["rank","host","device","binding","requests","load_s","prefill_tokens","prefill_s","decode_tokens","decode_s","generated_tokens","generate_s","tok_per_s","gather_wait_s"];
if (rep.ranks.length !== 3) process.exit(1);
for (const r of rep.ranks) for (const f of fields) if (!(f in r)) { console.log("missing " + f); process.exit(1); }
const gen = rep.ranks.reduce((a, r) => a + r.generated_tokens, 0);
const toks = out.reduce((a, o) => a + o.tokens.length, 0);
const reqs = rep.ranks.reduce((a, r) => a + r.requests, 0);
const prompt = out.reduce((a, o) => a + o.prompt_tokens, 0);
const pre = rep.ranks.reduce((a, r) => a + r.prefill_tokens, 0);
if (gen !== toks || gen !== rep.total_generated_tokens || reqs !== out.length || pre !== prompt) { console.log({gen, toks, reqs, pre, prompt}); process.exit(1); }
if (!(rep.imbalance >= 1)) process.exit(1);
' "$OUT/report.json" "$OUT/rep_out.jsonl"
check "the text report has a row per rank, the imbalance and the throughput" \
    bash -c "grep -cE '^[0-9]+ ' '$OUT/rep.log' | grep -qx 3 && grep -q 'imbalance' '$OUT/rep.log' && grep -q 'achieved throughput TPS' '$OUT/rep.log'"

echo "== getp_mpi failures: every rank ends, in seconds, one message, no output file"
printf '3\none\ntwo\n' >"$OUT/count.txt"   # declares 3, has 2
printf 'OLD\n' >"$OUT/keep.txt"              # an earlier output that failures must keep
expect_mpi_error() { # NAME REGEX OUTFILE -- ENV... -- ARGS
    local name=$1 regex=$2 outfile=$3; shift 4
    local start end err rc before="" after=""
    [ -e "$outfile" ] && before=$(md5sum <"$outfile")
    start=$(date +%s%N)
    err=$(env "$@" 2>&1 >/dev/null)
    rc=$?
    end=$(date +%s%N)
    [ -e "$outfile" ] && after=$(md5sum <"$outfile")
    local ms=$(((end - start) / 1000000))
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then fail "$name" "exit code $rc"
    elif [ "$ms" -gt 10000 ]; then fail "$name" "took $ms ms"
    elif ! grep -Eq -- "$regex" <<<"$err"; then fail "$name" "message does not match /$regex/: $err"
    elif [ "$before" != "$after" ] || ls "$outfile".tmp.* "$(dirname -- "$outfile")"/*~????????.tmp.* >/dev/null 2>&1; then fail "$name" "output file touched"
    else pass "$name (exit $rc in $ms ms)"; fi
}
expect_mpi_error "getp_mpi: invalid input stops every rank" "getp_mpi: error: .*count.txt:3: the first line declares 3" "$OUT/never.txt" -- \
    timeout 20 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/count.txt" -o "$OUT/never.txt"
check "getp_mpi: invalid input gives exactly one message" test "$(timeout 20 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/count.txt" -o "$OUT/never.txt" 2>&1 | grep -c 'getp_mpi: error')" -eq 1
expect_mpi_error "getp_mpi: a rank whose model load fails ends the job, naming the rank" "rank 2 \(.*\): .*injected model load failure" "$OUT/keep.txt" -- \
    GETP_INJECT_FAULT=load@2 timeout 20 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/keep.txt" -n 4
expect_mpi_error "getp_mpi: a rank killed mid-run ends the job, naming the rank" "rank 1 .*signal 9" "$OUT/keep.txt" -- \
    GETP_INJECT_FAULT=kill@1 timeout 20 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/keep.txt" -n 4
expect_mpi_error "getp_mpi: a missing model fails on rank 0 before the scatter" "nomodel.bin: cannot open model" "$OUT/never.txt" -- \
    timeout 20 "${MPIRUN[@]}" 2 "$B/getp_mpi" "$OUT/nomodel.bin" --tokenizer "$TOK" -i "$OUT/n4.txt" -o "$OUT/never.txt"

if [ "$(id -u)" -eq 0 ] && command -v slurmctld >/dev/null && command -v ip >/dev/null; then
    source tests/cluster/cluster_tests.sh
else
    fail "cluster tests" "need root, slurm-wlm and iproute2 (scripts/setup.sh installs them)"
fi

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
