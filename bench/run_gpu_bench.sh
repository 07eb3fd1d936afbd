#!/usr/bin/env bash
# GPU benchmark (issue 4), run on the GPU machine from the repository root:
# getp's GPU backend on the gpt-oss-20b shape in BF16 (--dummy-weights: random
# weights made on the GPU), prompt 64, 256 new tokens, batch 1 and 256
# concurrent requests, then HF transformers generate() on the same shape.
# Prints a table last; bench/RESULTS.md records it with the machine.
# usage: bench/run_gpu_bench.sh [HF_NEW_TOKENS]   (HF is slow; default 64)
set -uo pipefail
cd "$(dirname "$0")/.."
HF_NEW=${1:-64}
OUT=${OUT:-/tmp}
B=build
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader | sed 's/^/gpu: /'
run() { echo "+ $*" >&2; "$@" 2>&1 | tee -a "$OUT/bench.log" | grep -E '^(model=|hf )' ; }
G1=$(run $B/bench_gpu --dummy 20b --batch 1 --requests 4 --prompt 64 --new 256)
G256=$(run $B/bench_gpu --dummy 20b --batch 256 --requests 256 --prompt 64 --new 256)
H1=$(PYTHONUNBUFFERED=1 run python3 bench/hf_generate.py 1 64 "$HF_NEW")
H256=$(PYTHONUNBUFFERED=1 run python3 bench/hf_generate.py 256 64 "$HF_NEW")
echo "$G1"; echo "$G256"; echo "$H1"; echo "$H256"
val() { sed -nE "s/.*$1=([0-9.]+).*/\1/p" <<<"$2"; }
roof=$(val roofline_b1_tok_s "$G1")
printf '\n%-26s %12s %12s %10s\n' run "decode tok/s" "vs roofline" "getp/HF"
for b in 1 256; do
    g=$(eval val decode_tok_s \"\$G$b\"); h=$(eval val decode_tok_s \"\$H$b\")
    printf '%-26s %12s %11s%% %10s\n' "getp 20b bf16 batch $b" "$g" "$(awk -v a="$g" -v r="$roof" 'BEGIN{printf "%.0f", 100*a/r}')" \
        "$(awk -v a="$g" -v b="$h" 'BEGIN{if (b > 0) printf "%.1fx", a/b; else print "-"}')"
    printf '%-26s %12s\n' "HF generate batch $b" "$h"
done
echo "batch-1 roofline: $roof tok/s ($(val step_bytes_GB "$G1") GB per step at $(val copy_bw_GBs "$G1") GB/s copy bandwidth)"
