#!/usr/bin/env bash
# Open MPI's rsh launcher agent for the hosts of netns_hosts.sh:
# `netns_agent.sh 10.231.0.I COMMAND...` runs COMMAND inside host I's network
# namespace, in a UTS namespace of its own whose hostname is node<I>, as ssh
# would on a real node.
i=${1##*.}; shift
exec ip netns exec "getp-node$i" unshare --uts sh -c "hostname node$i; exec $*"
