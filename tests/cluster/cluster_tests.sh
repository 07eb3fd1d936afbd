# Cluster tests, sourced by tests/run_tests.sh (which defines pass/fail/check,
# expect_mpi_error, $B, $OUT, $M, $TOK, GETP, GETP_MPI, MPIRUN and the
# reference outputs ref_*). Needs root (network namespaces, Slurm daemons).
echo "== Slurm: a real single-node Slurm on localhost"
SL=$OUT/slurm
cleanup_cluster() {
    bash tests/cluster/slurm_local.sh stop "$SL" >/dev/null 2>&1 || true
    bash tests/cluster/netns_hosts.sh down 2 >/dev/null 2>&1 || true
}
trap cleanup_cluster EXIT
if ! bash tests/cluster/slurm_local.sh start "$SL" >"$OUT/slurm_start.log" 2>&1; then
    fail "local Slurm starts" "$(tail -n 5 "$OUT/slurm_start.log")"
else
    pass "local Slurm starts (slurmctld + slurmd, auth/none, 8 CPUs, 8 GPUs declared)"
    export SLURM_CONF=$SL/slurm.conf
    JOB_ARGS="-n 8 --ignore-eos -t 0.8 -p 0.9 -s 3 --tokenizer $TOK"
    timeout 120 sbatch --wait --output="$OUT/sb_node.log" \
        --export=ALL,MODEL="$M",REQUESTS="$OUT/n24.txt",OUTPUT="$OUT/sb_node.txt",REPORT="$OUT/sb_node.json",GETP_ARGS="$JOB_ARGS" \
        slurm/getp_node.sbatch >/dev/null 2>&1
    check "sbatch slurm/getp_node.sbatch (8 tasks, --gres=gpu:8, srun --mpi=pmix): identical to getp" \
        cmp -s "$OUT/ref_n24_sampled.txt" "$OUT/sb_node.txt"
    check "the sbatch run's report has 8 ranks" test "$(grep -c '"rank":' "$OUT/sb_node.json" 2>/dev/null)" -eq 8
    timeout 60 srun -n 2 --mpi=pmix "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/srun.txt" -n 8 --ignore-eos -t 0.8 -p 0.9 -s 3 >"$OUT/srun.log" 2>&1
    check "srun -n 2 --mpi=pmix getp_mpi: identical to getp" cmp -s "$OUT/ref_n24_sampled.txt" "$OUT/srun.txt"
    timeout 60 sbatch --wait --output="$OUT/sb_nomodel.log" --export=ALL,MODEL="$OUT/nomodel.bin",REQUESTS="$OUT/n24.txt" \
        slurm/getp_node.sbatch >/dev/null 2>&1
    rc=$?
    check "sbatch script fails early, clearly, when the model is missing" \
        bash -c "[ $rc -ne 0 ] && grep -q \"model file '$OUT/nomodel.bin' not found\" '$OUT/sb_nomodel.log'"
    timeout 60 sbatch --wait --output="$OUT/sb_noreq.log" --export=ALL,MODEL="$M",REQUESTS="$OUT/none.txt" \
        slurm/getp_node.sbatch >/dev/null 2>&1
    rc=$?
    check "sbatch script fails early, clearly, when the request file is missing" \
        bash -c "[ $rc -ne 0 ] && grep -q \"request file '$OUT/none.txt' not found\" '$OUT/sb_noreq.log'"
    expect_mpi_error "Slurm: a rank killed mid-run ends the job" "task 1|rank 1|StepId" "$OUT/keep.txt" -- \
        GETP_INJECT_FAULT=kill@1 timeout 20 srun -n 3 --mpi=pmix --kill-on-bad-exit=1 "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/keep.txt" -n 4
    expect_mpi_error "Slurm: a rank whose model load fails ends the job, naming the rank" "rank 2 \(.*\): .*injected model load failure" "$OUT/keep.txt" -- \
        GETP_INJECT_FAULT=load@2 timeout 20 srun -n 3 --mpi=pmix --kill-on-bad-exit=1 "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/keep.txt" -n 4
    GPU_COUNTS="1 2" NODE_COUNTS="" GETP_ARGS="$JOB_ARGS" MODEL="$M" REQUESTS="$OUT/n24.txt" \
        timeout 300 bash slurm/scaling_sweep.sh "$OUT/sweep" >"$OUT/sweep.log" 2>&1
    check "slurm/scaling_sweep.sh collects a report per run and tabulates them" \
        bash -c "[ -f '$OUT/sweep/gpus1.json' ] && [ -f '$OUT/sweep/gpus2.json' ] && grep -qE '^ +2 +1 ' '$OUT/sweep.log'"
    check "the sweep's outputs equal getp's" bash -c "cmp -s '$OUT/ref_n24_sampled.txt' '$OUT/sweep/gpus2.out'"
    bash tests/cluster/slurm_local.sh stop "$SL"
    check "the Slurm daemons stop by their pids" bash -c "! kill -0 \$(cat '$SL/slurmctld.pid') 2>/dev/null && ! kill -0 \$(cat '$SL/slurmd.pid') 2>/dev/null"
    unset SLURM_CONF
fi

echo "== emulated multi-node: two hosts in network namespaces, MPI over TCP"
if ! bash tests/cluster/netns_hosts.sh up 2 >"$OUT/netns.log" 2>&1; then
    fail "network namespaces for two hosts" "$(cat "$OUT/netns.log")"
else
    printf '10.231.0.1 slots=2\n10.231.0.2 slots=2\n' >"$OUT/hostfile"
    NET=(--hostfile "$OUT/hostfile" --mca plm_rsh_agent "$ROOT/tests/cluster/netns_agent.sh" --mca btl tcp,self,vader
         --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24)
    timeout 120 mpirun -np 4 "${NET[@]}" "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/mn.txt" -n 8 --ignore-eos -t 0.8 -p 0.9 -s 3 \
        --report "$OUT/mn.json" >"$OUT/mn.log" 2>&1
    check "4 ranks on 2 emulated hosts: identical to getp" cmp -s "$OUT/ref_n24_sampled.txt" "$OUT/mn.txt"
    check "ranks on different hosts see different node communicators (2 hosts x local ranks 0,1 of 2)" node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).ranks;
const hosts = {};
for (const x of r) (hosts[x.host] = hosts[x.host] || []).push(x.local_rank + "/" + x.local_size);
const keys = Object.keys(hosts);
if (keys.length !== 2) process.exit(1);
for (const h of keys) if (hosts[h].sort().join() !== "0/2,1/2") process.exit(1);
' "$OUT/mn.json"
    check "every rank on each host loaded its replica (the host-path design: one load per rank)" \
        node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])).ranks; process.exit(r.every(x => x.load_s > 0 && x.requests > 0) ? 0 : 1)' "$OUT/mn.json"
    expect_mpi_error "multi-node: a rank killed mid-run ends the job, naming the rank" "rank 3 .*signal 9" "$OUT/keep.txt" -- \
        GETP_INJECT_FAULT=kill@3 timeout 20 mpirun -np 4 "${NET[@]}" -x GETP_INJECT_FAULT "${GETP_MPI[@]}" -i "$OUT/n24.txt" -o "$OUT/keep.txt" -n 4
    bash tests/cluster/netns_hosts.sh down 2
fi

echo "== a request file that disappears after validation"
cp "$OUT/n24.txt" "$OUT/vanish.txt"
GETP_INJECT_FAULT=unlink-requests@0 timeout 60 "${MPIRUN[@]}" 3 "${GETP_MPI[@]}" -i "$OUT/vanish.txt" -o "$OUT/vanish_out.txt" \
    -n 8 --ignore-eos -t 0.8 -p 0.9 -s 3 >"$OUT/vanish.log" 2>&1
check "rank 0 scatters the validated prompts, so the run completes, identical to getp" \
    bash -c "[ ! -e '$OUT/vanish.txt' ] && cmp -s '$OUT/ref_n24_sampled.txt' '$OUT/vanish_out.txt'"
trap - EXIT
cleanup_cluster
