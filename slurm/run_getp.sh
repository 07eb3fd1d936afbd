#!/usr/bin/env bash
# The body shared by getp_node.sbatch and getp_multinode.sbatch: checks the
# inputs, then starts one getp_mpi rank per task with srun (PMIx, cores bound
# per task). Parameters come from the environment:
#   MODEL      model file (required)
#   REQUESTS   request file (required)
#   OUTPUT     output file               (default: getp_output_$SLURM_JOB_ID.txt)
#   REPORT     per-rank JSON report      (default: getp_report_$SLURM_JOB_ID.json)
#   GETP_ARGS  more getp_mpi options, e.g. "-n 256 --batch 64"
#   GETP_MPI   the getp_mpi binary       (default: build/getp_mpi in the submit directory)
#   SRUN_ARGS  more srun options         (default: --cpu-bind=cores)
set -euo pipefail
name=${SLURM_JOB_NAME:-getp}
cd "${SLURM_SUBMIT_DIR:-.}"
fail() { echo "$name: error: $*" >&2; exit 1; }
[ -n "${MODEL:-}" ] || fail "MODEL is not set (sbatch --export=ALL,MODEL=path/to/model.bin,REQUESTS=requests.txt ...)"
[ -n "${REQUESTS:-}" ] || fail "REQUESTS is not set"
[ -f "$MODEL" ] && [ -r "$MODEL" ] || fail "model file '$MODEL' not found or not readable"
[ -f "$REQUESTS" ] && [ -r "$REQUESTS" ] || fail "request file '$REQUESTS' not found or not readable"
GETP_MPI=${GETP_MPI:-build/getp_mpi}
[ -x "$GETP_MPI" ] || fail "getp_mpi binary '$GETP_MPI' not found (run make, or set GETP_MPI)"
OUTPUT=${OUTPUT:-getp_output_${SLURM_JOB_ID:-local}.txt}
REPORT=${REPORT:-getp_report_${SLURM_JOB_ID:-local}.json}
echo "$name: $SLURM_JOB_NUM_NODES node(s), $SLURM_NTASKS tasks, model $MODEL, requests $REQUESTS -> $OUTPUT"
# shellcheck disable=SC2086  # GETP_ARGS and SRUN_ARGS are word lists on purpose
srun --mpi=pmix --kill-on-bad-exit=1 ${SRUN_ARGS---cpu-bind=cores} \
    "$GETP_MPI" "$MODEL" -m getp -i "$REQUESTS" -o "$OUTPUT" --report "$REPORT" ${GETP_ARGS:-}
