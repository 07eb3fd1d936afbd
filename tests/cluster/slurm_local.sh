#!/usr/bin/env bash
# A single-node Slurm on localhost for the tests (Debian's slurm-wlm):
# slurmctld + slurmd run as root with AuthType=auth/none, the node declares 8
# CPUs and 8 count-only GPUs (SlurmdParameters=config_overrides lets it
# claim more than the machine has), PMIx is the default MPI plugin.
#   slurm_local.sh start DIR   writes DIR/slurm.conf, starts both daemons, waits until the node is idle
#   slurm_local.sh stop DIR    stops them by their pids
# Afterwards use SLURM_CONF=DIR/slurm.conf with sbatch/srun/squeue.
set -euo pipefail
cmd=$1 dir=$(realpath -m "$2")
case $cmd in
start)
    mkdir -p "$dir/state" "$dir/spool"
    node=$(hostname -s)
    cat >"$dir/slurm.conf" <<CONF
ClusterName=getptest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ReturnToService=2
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 Gres=gpu:8 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    # Slurm drops GPUs without device files; plain files stand in for them
    for i in 0 1 2 3 4 5 6 7; do : >"$dir/fakegpu$i"; done
    printf "AutoDetect=off\nNodeName=%s Name=gpu File=%s/fakegpu[0-7]\n" "$node" "$dir" >"$dir/gres.conf"
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -f "$dir/slurm.conf"
    slurmd -c -f "$dir/slurm.conf" -N "$node"
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1)
        [ "$state" = idle ] && exit 0
        sleep 0.5
    done
    echo "slurm_local: the node did not become idle (state '${state:-none}'); logs in $dir" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    exit 1
    ;;
stop)
    for d in slurmd slurmctld; do
        [ -f "$dir/$d.pid" ] && kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
    done
    for _ in $(seq 1 20); do
        alive=0
        for d in slurmd slurmctld; do [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && exit 0
        sleep 0.5
    done
    for d in slurmd slurmctld; do [ -f "$dir/$d.pid" ] && kill -9 "$(cat "$dir/$d.pid")" 2>/dev/null || true; done
    ;;
*) echo "usage: slurm_local.sh start|stop DIR" >&2; exit 2 ;;
esac
