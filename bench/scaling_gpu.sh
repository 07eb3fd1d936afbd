#!/usr/bin/env bash
# Replicas and data-parallel scaling on the GPUs of one node (issue 7), run
# on the GPU machine from the repository root after
#   make all build/getp_mpi_gpu
# Writes a gpt-oss-20b-shape model file (MXFP4 experts, as published: ~13 GB)
# unless MODEL names one, reads it once so it is in the page cache, then runs
# getp_mpi_gpu on 1 GPU and on all GPUs (peer-fed, host-fed, and with peer
# access refused on rank 1), checks the outputs are byte-identical, and draws
# bench/plot_scaling.py's plot. Prints a table last.
# usage: bench/scaling_gpu.sh [N_REQUESTS] [NEW_TOKENS]
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-512}
NEW=${2:-128}
OUT=${OUT:-/tmp/getp_scaling}
mkdir -p "$OUT"
# tmpfs when it has room: writing 13 GB there is quick, and it is page cache
if [ -z "${MODEL:-}" ]; then
    MODEL=/tmp/getp_20b_mxfp4.bin
    [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 20000000 ] 2>/dev/null && MODEL=/dev/shm/getp_20b_mxfp4.bin
fi
LIMIT=${LIMIT:-300} # seconds per run: a hang shows as exit 124, not a stuck job
NGPU=$(nvidia-smi -L | wc -l)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | sed 's/^/gpu: /'
nvidia-smi topo -m 2>/dev/null | head -n $((NGPU + 1)) | sed 's/^/topo: /'
if [ ! -f "$MODEL" ]; then
    t=$(date +%s.%N)
    build/gen_model "$MODEL" --preset 20b --dtype bf16 --experts mxfp4 || exit 1
    echo "gen_model: $(du -h "$MODEL" | cut -f1) in $(awk -v a="$t" -v b="$(date +%s.%N)" "BEGIN{printf \"%.1f\", b - a}") s"
fi
cat "$MODEL" >/dev/null # into the page cache: the load figures are from memory, as the issue asks
{ echo "$N"; for i in $(seq 1 "$N"); do echo "Request $i: write about $(printf 'topic%.0s ' $(seq 1 $((i % 9 + 3))))and the number $i."; done; } >"$OUT/req.txt"
run() { # run NAME NP LOAD [env...]
    local name=$1 np=$2 load=$3; shift 3
    env "$@" timeout -k 10 "$LIMIT" mpirun --bind-to none -np "$np" -x GETP_INJECT_FAULT build/getp_mpi_gpu "$MODEL" -i "$OUT/req.txt" -o "$OUT/out_$name.txt" \
        -n "$NEW" --ignore-eos --batch 256 --ctx 512 --load "$load" --no-progress --report "$OUT/rep_$name.json" >"$OUT/log_$name.txt" 2>&1
    echo "run $name: exit $?"
}
run gpu1 1 host GETP_INJECT_FAULT=
run gpus_peer "$NGPU" auto GETP_INJECT_FAULT=
run gpus_host "$NGPU" host GETP_INJECT_FAULT=
run gpus_refused "$NGPU" auto GETP_INJECT_FAULT=refuse-peer@1
for n in gpus_peer gpus_host gpus_refused; do
    if cmp -s "$OUT/out_gpu1.txt" "$OUT/out_$n.txt"; then echo "PASS $n output byte-identical to 1 GPU"; else echo "FAIL $n output differs from 1 GPU"; fi
done
grep -q "peer refused" "$OUT/log_gpus_refused.txt" && echo "PASS refused peer access falls back to the host path and says so" ||
    echo "FAIL no fallback reported"
# pinning the mapped file in place (GETP_LOAD_PIN=1) hung on these machines
# once: probe it on the 1-GPU run with a short limit, after everything else
if [ "${PIN_PROBE:-1}" = 1 ]; then
    LIMIT=60 run gpu1_pinned 1 host GETP_INJECT_FAULT= GETP_LOAD_PIN=1
    grep -E "^rank 0" "$OUT/log_gpu1_pinned.txt" | head -2
fi
python3 bench/plot_scaling.py "$OUT/scaling.png" "$OUT/rep_gpu1.json" "$OUT/rep_gpus_peer.json" "$OUT/rep_gpus_host.json" || true
for n in gpu1 gpus_peer gpus_host gpus_refused; do
    echo "== $n"
    grep -E "^(rank |load|[0-9]+ )" "$OUT/log_$n.txt"
    grep -E "^achieved|^ranks:" "$OUT/log_$n.txt"
    python3 -c "import json,sys; r=json.load(open('$OUT/rep_$n.json')); print('generation tok/s %.1f' % r['generation_tok_per_s'])" 2>/dev/null
done
