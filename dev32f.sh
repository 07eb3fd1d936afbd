#!/usr/bin/env bash
set -u
export PCRE2_CFLAGS=-I$PWD/.carry/pcre2 PCRE2_LIBS=-l:libpcre2-8.so.0
OUT=${OUT:-/tmp}; T0=$(date +%s)
NF=$(make -s -f Makefile -f - print-nvcc-flags <<<'print-nvcc-flags: ; @echo $(NVCC_FLAGS)')
MK=(make -s -j16 PCRE2_CFLAGS="$PCRE2_CFLAGS" PCRE2_LIBS="$PCRE2_LIBS")
ls .carry/base31/build/bench_gpu build_bp2/bench_gpu
"${MK[@]}" B=build_ew1 NVCC_FLAGS="$NF -DONE_TILE_EXPERT_WARPS=1" build_ew1/bench_gpu > $OUT/build_ew1.log 2>&1 & P1=$!
"${MK[@]}" block-trace > $OUT/build_trace.log 2>&1 & P2=$!
wait $P1; wait $P2; echo "built $(( $(date +%s) - T0 )) s"
declare -A BIN=([base]=.carry/base31/build/bench_gpu [ew1]=build_ew1/bench_gpu)
declare -A R
IFS=';' read -r -a cfgs <<<"20b:mxfp4 1 2;120b:mxfp4 1 2;20b:mxfp4 8 8"
for round in 1 2; do order="base ew1"; [ $round = 2 ] && order="ew1 base"
  for cfg in "${cfgs[@]}"; do read -r m b r <<<"$cfg"; for v in $order; do
    d=$(timeout 60 ${BIN[$v]} --dummy $m --batch $b --requests $r --prompt 64 --new 128 2>&1 | tail -n 1 | grep -oE 'decode_tok_s=[0-9.]+' | cut -d= -f2)
    R["$m b$b $v"]="${R["$m b$b $v"]:-} ${d:-ERR}"; done; done; done
for k in "${!R[@]}"; do echo "$k:${R[$k]}"; done | sort -V
for fr in 0 1; do GETP_FUSED_ROPE=$fr GETP_BLOCK_TRACE=50 GETP_BLOCK_TRACE_OUT=$OUT/bt_fr$fr.csv build/trace/bench_gpu --dummy 20b:mxfp4 --batch 1 --requests 1 --prompt 64 --new 64 > $OUT/bt$fr.log 2>&1
  echo "== block trace fr=$fr"; python3 bench/block_trace.py $OUT/bt_fr$fr.csv 2>&1 | tail -n 17; done
echo "total $(( $(date +%s) - T0 )) s"
