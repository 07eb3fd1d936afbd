#!/usr/bin/env bash
# GPU benchmark (issue 4), run on the GPU machine from the repository root:
# getp's GPU backend on the gpt-oss-20b shape in BF16 (--dummy-weights: random
# weights made on the GPU), prompt 64, 256 new tokens, at batch 1, 64 and 256
# concurrent requests; then HF transformers generate() on the same shape and
# batches (HF is slow, so it makes HF_NEW tokens; its decode rate is per step
# and does not depend much on that). Prints a table last;
# bench/results_table.py --commit C turns it into bench/RESULTS.md rows.
# usage: bench/run_gpu_bench.sh [HF_NEW_TOKENS]   (default 32)
set -uo pipefail
cd "$(dirname "$0")/.."
HF_NEW=${1:-32}
OUT=${OUT:-/tmp}
B=build
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader | sed 's/^/gpu: /'
run() { echo "+ $*" >&2; "$@" >>"$OUT/bench.log" 2>&1; tail -n 3 "$OUT/bench.log" | grep -E '^(model=|hf )' | tail -n 1; }
declare -A G H
for b in 1 64 256; do G[$b]=$(run $B/bench_gpu --dummy 20b --batch $b --requests $((b > 4 ? b : 4)) --prompt 64 --new 256); done
for b in 1 64 256; do H[$b]=$(PYTHONUNBUFFERED=1 run python3 bench/hf_generate.py $b 64 "$HF_NEW"); done
for b in 1 64 256; do echo "${G[$b]}"; echo "${H[$b]:-hf batch=$b failed (see bench.log: out of memory?)}"; done
val() { sed -nE "s/.*$1=([0-9.]+).*/\1/p" <<<"$2"; }
roof=$(val roofline_b1_tok_s "${G[1]}")
printf '\n%-10s %14s %15s %18s %10s\n' batch "getp decode" "getp overall" "HF generate decode" "getp/HF"
for b in 1 64 256; do
    g=$(val decode_tok_s "${G[$b]}"); o=$(val overall_tok_s "${G[$b]}"); h=$(val decode_tok_s "${H[$b]:-}")
    printf '%-10s %14s %15s %18s %10s\n' $b "$g" "$o" "${h:-failed}" "$(awk -v a="$g" -v b="$h" 'BEGIN{if (b > 0) printf "%.1fx", a/b; else print "-"}')"
done
echo "batch-1 roofline: $roof tok/s ($(val step_bytes_GB "${G[1]}") GB per step at $(val copy_bw_GBs "${G[1]}") GB/s measured copy bandwidth); batch 1 reaches $(awk -v a="$(val decode_tok_s "${G[1]}")" -v r="$roof" 'BEGIN{printf "%.0f", 100*a/r}')% of it"
