#!/usr/bin/env bash
# Scaling sweep: the same request file on 1, 2, 4, 8 GPUs of one node, then on
# 2, 4, ... nodes; collects every run's JSON report in OUTDIR and draws the
# scaling plot (bench/plot_scaling.py). Submits with `sbatch --wait`, one run
# after another, so it can itself run from a login node or inside a job.
#   MODEL=m.bin REQUESTS=r.txt slurm/scaling_sweep.sh [OUTDIR]
# Parameters (environment):
#   MODEL, REQUESTS  required
#   GPU_COUNTS       GPUs per single-node run     (default "1 2 4 8")
#   NODE_COUNTS      node counts, 8 GPUs each      (default "2 4")
#   GPUS_PER_NODE    (default 8)
#   GETP_ARGS        passed to every run
#   SBATCH_ARGS      more sbatch options (partition, account, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-sweep}
fail() { echo "scaling_sweep: error: $*" >&2; exit 1; }
[ -n "${MODEL:-}" ] && [ -f "$MODEL" ] || fail "MODEL '${MODEL:-}' not found"
[ -n "${REQUESTS:-}" ] && [ -f "$REQUESTS" ] || fail "REQUESTS '${REQUESTS:-}' not found"
command -v sbatch >/dev/null || fail "sbatch not found: run this where Slurm is available"
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
mkdir -p "$OUTDIR"
run() { # NAME NODES TASKS_PER_NODE
    local name=$1 nodes=$2 tasks=$3
    echo "scaling_sweep: $name ($nodes node(s) x $tasks GPU(s))"
    # shellcheck disable=SC2086
    sbatch --wait --quiet -N "$nodes" --ntasks-per-node="$tasks" --gres=gpu:"$tasks" ${SBATCH_ARGS:-} \
        --output="$OUTDIR/$name.log" \
        --export=ALL,MODEL="$MODEL",REQUESTS="$REQUESTS",OUTPUT="$OUTDIR/$name.out",REPORT="$OUTDIR/$name.json" \
        slurm/getp_multinode.sbatch || fail "run $name failed; see $OUTDIR/$name.log"
}
for g in ${GPU_COUNTS-1 2 4 8}; do run "gpus$g" 1 "$g"; done
for n in ${NODE_COUNTS-2 4}; do run "nodes$n" "$n" "$GPUS_PER_NODE"; done
python3 bench/plot_scaling.py "$OUTDIR/scaling.png" "$OUTDIR"/*.json
