#!/usr/bin/env bash
# Installs what getp needs on Debian/Ubuntu (compiler, PCRE2, Node.js for the
# tokenizer data and its oracle, Open MPI and hwloc for getp_mpi, hipcc to
# check that the AMD GPU build compiles), then builds
# the programs and the tokenizer file. Safe to run again: it installs only
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in build-essential pkg-config libpcre2-dev openmpi-bin libopenmpi-dev libhwloc-dev slurm-wlm iproute2 util-linux hipcc; do
    have_pkg "$p" || need+=("$p")
done
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "setup: installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

make -s tokenizer
make -s -j"$(nproc)" all
echo "setup: built build/getp, build/gen_model, build/convert_hf and data/o200k_harmony.tok"
