#!/usr/bin/env bash
# CPU benchmark: getp's decode throughput on the tiny and mid presets at batch
# 1 and 16, beside the machine's copy bandwidth and each model's batch-1
# roofline (bandwidth / bytes read per token). Prints a table;
# bench/results_table.py --commit C turns it into bench/RESULTS.md rows.
# usage: bench/bench_cpu.sh [NEW_TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-32}
make -s all build/cpu_roofline
mkdir -p data
for p in tiny mid; do [ -f data/bench_$p.bin ] || build/gen_model data/bench_$p.bin --preset $p; done
printf '8\n' >data/bench_req.txt
for i in 1 2 3 4 5 6 7 8; do echo "Benchmark prompt number $i: tell me a long story about the sea." >>data/bench_req.txt; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-6s %-6s %12s %14s %14s\n' model batch "decode tok/s" "overall tok/s" "roofline b=1"
for p in tiny mid; do
    roof=$(build/cpu_roofline data/bench_$p.bin | sed -E 's/.*roofline ([0-9.]+) tok\/s/\1/')
    for b in 1 16; do
        out=$(build/getp data/bench_$p.bin -m getp -i data/bench_req.txt -o data/bench_out.txt -n "$N" --ignore-eos --batch $b --no-progress)
        dec=$(sed -nE 's/^decode: .*\(([0-9.]+) tok\/s\)/\1/p' <<<"$out")
        tps=$(sed -nE 's/^achieved throughput TPS \(tok\/s\): ([0-9.]+)/\1/p' <<<"$out")
        printf '%-6s %-6s %12s %14s %14s\n' $p $b "$dec" "$tps" "$roof"
    done
done
build/cpu_roofline data/bench_tiny.bin | sed 's/^/bandwidth: /'
