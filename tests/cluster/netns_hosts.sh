#!/usr/bin/env bash
# Emulated cluster nodes on one machine: host i (1..N) is the network
# namespace getp-node<i> with address 10.231.0.<i> on a bridge (getpbr0,
# 10.231.0.254 on this side), joined by a veth pair. Open MPI reaches the
# hosts by address through netns_agent.sh.
#   netns_hosts.sh up N      (N at most 8)
#   netns_hosts.sh down N
set -euo pipefail
cmd=$1 n=$2
case $cmd in
up)
    ip link add getpbr0 type bridge
    ip addr add 10.231.0.254/24 dev getpbr0
    ip link set getpbr0 up
    for i in $(seq 1 "$n"); do
        ip netns add "getp-node$i"
        ip link add "getpv$i" type veth peer name eth0 netns "getp-node$i"
        ip link set "getpv$i" master getpbr0 up
        ip -n "getp-node$i" addr add "10.231.0.$i/24" dev eth0
        ip -n "getp-node$i" link set eth0 up
        ip -n "getp-node$i" link set lo up
    done
    ;;
down)
    for i in $(seq 1 "$n"); do
        ip netns del "getp-node$i" 2>/dev/null || true
        ip link del "getpv$i" 2>/dev/null || true
    done
    ip link del getpbr0 2>/dev/null || true
    ;;
*) echo "usage: netns_hosts.sh up|down N" >&2; exit 2 ;;
esac
