#!/usr/bin/env bash
# GPU tests (make test-gpu; run on a GPU machine through the device tool):
# the HIP backend against the CPU reference on the tiny model (BF16 +
# MXFP4), models with F32, BF16 and MXFP4 experts in both device layouts
# (tiled, row-major), the HF fixtures (F32, MXFP4), and compute-sanitizer
# memcheck.
# GPU_TESTS=emu GPU_BIN=build/emu (make test-emu, in CI): the same checks
# through the CPU emulator of hip/emu/, on models of the same layouts with
# a 4096-token vocabulary (test_gpu) and the tiny model (the CLI checks);
# no MPI replicas, no memcheck.
set -u
cd "$(dirname "$0")/.."
B=build BIN=${GPU_BIN:-build} OUT=tests/out
EMU=0
if [ "${GPU_TESTS:-}" = emu ]; then EMU=1 OUT=tests/out/emu; fi
mkdir -p $OUT
PASSED=0 FAILED=0
count() { p=$(grep -c '^PASS' "$1"); f=$(grep -c '^FAIL' "$1"); PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); cat "$1"; }
# count_tagged LOG TAG: the same, each check named with [TAG] (a run of the checks under a variant)
count_tagged() { sed "s/^\(PASS\|FAIL\|NOTE\) /\1 [$2] /" "$1" >"$1.tagged"; count "$1.tagged"; }
$B/gen_model $OUT/tiny_gpu.bin --preset tiny
if [ $EMU = 1 ]; then
    V="--vocab 4096"
    $B/gen_model $OUT/tiny4k.bin --preset tiny $V
    $B/gen_model $OUT/tiny4k_f32.bin --preset tiny --dtype f32 --experts f32 $V
    # BF16 experts tiled (rows of whole chunks) and row-major (hidden 96);
    # MXFP4 gate_up tiled (hidden 128), its down row-major
    $B/gen_model $OUT/tiny4k_bf16e.bin --preset tiny --experts bf16 $V
    $B/gen_model $OUT/h96_bf16e.bin --preset tiny --hidden 96 --experts bf16 $V
    $B/gen_model $OUT/h128_mxfp4e.bin --preset tiny --hidden 128 $V
    # gate_up's k of 4.5 chunks (rows of 18 words: row-major, so through the
    # weight ring): the one-tile loop's later groups and the ring's refill
    # (the models above have one group)
    $B/gen_model $OUT/h576_mxfp4e.bin --preset tiny --hidden 576 $V
    # heads of 64 values, gpt-oss's (tiny's are 16): the fused q/k/v finish's thread roles
    $B/gen_model $OUT/h128_hd64.bin --preset tiny --hidden 128 --head-dim 64 $V
    MODELS="tiny4k tiny4k_f32 tiny4k_bf16e h96_bf16e h128_mxfp4e h576_mxfp4e hf_f32 hf_mxfp4"
else
    $B/gen_model $OUT/tiny_gpu_f32.bin --preset tiny --dtype f32 --experts f32
    # the gpt-oss-20b layer shape (8 query heads per kv head, head_dim 64, 32 experts), 2 layers, small vocab
    $B/gen_model $OUT/g20_2l.bin --preset 20b --layers 2 --vocab 4096
    # BF16 experts (the other models have MXFP4 or F32 ones)
    $B/gen_model $OUT/mid_bf16e.bin --preset mid --layers 2 --vocab 4096 --experts bf16
    # expert weights tiled on the GPU (rows of whole chunks: mid's 1024 columns,
    # MXFP4 and BF16, tiny's F32) and left row-major (hidden 96: BF16 gate_up
    # rows of 1.5 chunks; tiny's and g20's MXFP4 rows)
    $B/gen_model $OUT/mid_mxfp4e.bin --preset mid --layers 2 --vocab 4096
    $B/gen_model $OUT/h96_bf16e.bin --preset tiny --hidden 96 --experts bf16
    MODELS="tiny_gpu tiny_gpu_f32 hf_f32 hf_mxfp4 g20_2l mid_bf16e mid_mxfp4e h96_bf16e"
fi
# the building blocks (hip/unit_tests.hip): MXFP4 decoding, the mma layout, warp collectives
if ! $BIN/hip_unit_tests >$OUT/hip_unit_tests.log 2>&1 && ! grep -q '^FAIL' $OUT/hip_unit_tests.log; then
    echo "FAIL hip_unit_tests ended without a verdict" >>$OUT/hip_unit_tests.log
fi
count $OUT/hip_unit_tests.log
for f in f32 mxfp4; do $B/convert_hf tests/fixtures/hf_$f $OUT/hf_$f.bin 2>/dev/null; done
# GPU_JOBS models at a time (the emulator uses one core each); in the
# emulator also the HF F32 fixture with AMD's mma stand-in (shuffles)
RUNS=$MODELS
[ $EMU = 1 ] && [ -x $B/emu_amd_mma/test_gpu ] && RUNS="$RUNS hf_f32:amd_mma"
for run in $RUNS; do
    while [ "$(jobs -rp | wc -l)" -ge "${GPU_JOBS:-1}" ]; do wait -n; done
    m=${run%%:*} prog=$BIN/test_gpu
    [ "$run" != "$m" ] && prog=$B/emu_amd_mma/test_gpu
    $prog $OUT/$m.bin 1e-4 >$OUT/gpu_${run/:/_}.log 2>&1 &
done
wait
for run in $MODELS; do count $OUT/gpu_$run.log; done
if [ $EMU = 1 ] && [ -f $OUT/gpu_hf_f32_amd_mma.log ]; then
    count_tagged $OUT/gpu_hf_f32_amd_mma.log "AMD's mma stand-in"
fi
# MXFP4 scales decoded with two products (what a model with a scale above 2
# gets); in the emulator also with NaN-filled new memory and each block's
# threads run last to first (a missing barrier shows in one order or the other)
m=${MODELS%% *} tag=GETP_MXFP4_PLAIN
[ $EMU = 1 ] && tag="GETP_MXFP4_PLAIN GETP_EMU_POISON GETP_EMU_ORDER=reverse"
GETP_MXFP4_PLAIN=1 GETP_EMU_POISON=$EMU GETP_EMU_ORDER=$([ $EMU = 1 ] && echo reverse) $BIN/test_gpu $OUT/$m.bin 1e-4 >$OUT/gpu_${m}_plain.log 2>&1
count_tagged $OUT/gpu_${m}_plain.log "$tag"
# the experts' large-step matmuls by warpgroup_mma (GETP_MM_WGMMA=1; on the
# GPU wgmma, in the emulator its per-warp stand-in): the CPU's logits, and
# batch invariance against the decode-sized steps' mma.sync
# (1: each step waited for; 2: pipelined, which the emulator runs alike)
for wg in $([ $EMU = 1 ] && echo 2 || echo 1 2); do
    GETP_MM_WGMMA=$wg $BIN/test_gpu $OUT/$m.bin 1e-4 >$OUT/gpu_${m}_wgmma$wg.log 2>&1
    count_tagged $OUT/gpu_${m}_wgmma$wg.log "GETP_MM_WGMMA=$wg"
done
# calls of 256 rows (GETP_MAX_ROWS=256; the default is 1024): a call then
# holds no more rows than one slot may add (MAX_SLOT_ROWS), and the
# batch-invariance check's largest batch is 256 rows (on the GPU also with wgmma)
for wg in 0 $([ $EMU = 1 ] || echo 2); do
    GETP_MAX_ROWS=256 GETP_MM_WGMMA=$wg $BIN/test_gpu $OUT/$m.bin 1e-4 >$OUT/gpu_${m}_rows256_$wg.log 2>&1
    count_tagged $OUT/gpu_${m}_rows256_$wg.log "GETP_MAX_ROWS=256$([ $wg = 0 ] || echo " GETP_MM_WGMMA=$wg")"
done
# the experts of decode-sized steps as one persistent kernel (GETP_PERSISTENT_MOE=1,
# issue 25) on the models with MXFP4 experts: the CPU's logits, and bit for
# bit the multi-kernel path (the batch-invariance checks: batches of 64 and
# more take the kernels); on the GPU one model also with its launch chained
# (=2: the same in the emulator); the last run, under GETP_PROFILE, counts
# its launches (graphs off there, on in the others). Also the expert
# matmuls at several token tiles without their list of tiles
# (GETP_EXPERT_TILES=0: a grid of every expert's tiles, as before the list),
# and with the list but without tiled_gemm.h's GEMM (GETP_EXPERT_GEMM=0:
# matmul_kernel's several token tiles) or with its 64-token blocks at every
# large step (=3; the default picks 32 or 64 by the tokens an expert gets);
# and the dense matmuls by the same GEMM, their splits summed in the block, at
# every step above 8 rows (GETP_DENSE_GEMM=2; by default from 512 rows; in the
# emulator on hidden 128, the smallest model whose q/k/v have two splits there).
# --precision bf16 (TEST_PRECISION=bf16: test_gpu's third argument; the
# experts' activations as plain bf16, GETP_X_HI_ONLY=3 on the GPU): the GPU
# against the CPU rounding alike, within 1e-2 (a bf16 rounding that upstream
# f32 differences tip moves a value by 2^-8), greedy tokens the same, and
# the rest as exactly as ever: bit-identical logits at batch 1
# (matmul_kernel) and in large batches (the GEMM on rows of hi pairs alone),
# chunked prefill, copies, pages.
# q/k/v finished inside the attention kernel at decode-sized steps of
# distinct slots (GETP_FUSED_ROPE=1): bit for bit the unfused large batches.
# The router of a decode-sized row over several blocks (GETP_ROUTER_BLOCK_EXPERTS;
# by default only models of more than 32 experts spread): blocks of 4 or 2
# experts, and of 3 (a last block with fewer), bit for bit the unspread
# path of the large batches and the CPU's logits.
# Runs: MODEL:VARIABLE=VALUE
PM_RUNS=$([ $EMU = 1 ] && echo "${MODELS%% *}:GETP_EXPERT_TILES=0 h128_mxfp4e:GETP_EXPERT_GEMM=0 h128_mxfp4e:GETP_DENSE_GEMM=2 h128_mxfp4e:TEST_PRECISION=bf16 hf_mxfp4:TEST_PRECISION=bf16 h128_mxfp4e:GETP_ROUTER_BLOCK_EXPERTS=2 hf_mxfp4:GETP_ROUTER_BLOCK_EXPERTS=3 h128_mxfp4e:GETP_FUSED_ROPE=1 h128_hd64:GETP_FUSED_ROPE=1 tiny4k:GETP_PERSISTENT_MOE=1 hf_mxfp4:GETP_PERSISTENT_MOE=1" ||
    echo "${MODELS%% *}:GETP_EXPERT_TILES=0 g20_2l:GETP_EXPERT_TILES=0 g20_2l:GETP_EXPERT_GEMM=0 mid_bf16e:GETP_EXPERT_GEMM=3 g20_2l:GETP_DENSE_GEMM=2 g20_2l:TEST_PRECISION=bf16 mid_bf16e:TEST_PRECISION=bf16 hf_mxfp4:TEST_PRECISION=bf16 hf_f32:TEST_PRECISION=bf16 g20_2l:GETP_ROUTER_BLOCK_EXPERTS=4 mid_mxfp4e:GETP_ROUTER_BLOCK_EXPERTS=3 g20_2l:GETP_FUSED_ROPE=1 hf_mxfp4:GETP_FUSED_ROPE=1 g20_2l:GETP_PERSISTENT_MOE=1 g20_2l:GETP_PERSISTENT_MOE=2 mid_mxfp4e:GETP_PERSISTENT_MOE=1 hf_mxfp4:GETP_PERSISTENT_MOE=1 tiny_gpu:GETP_PERSISTENT_MOE=1")
PM_LAST=${PM_RUNS##* }
pm_log() { echo "$OUT/gpu_${1%%:*}_$(tr -dc 'A-Z0-9' <<<"${1#*:}").log"; }
for run in $PM_RUNS; do
    while [ "$(jobs -rp | wc -l)" -ge "${GPU_JOBS:-1}" ]; do wait -n; done
    prof=$([ "$run" = "$PM_LAST" ] && echo 1 || echo 0)
    # a timeout: blocks that wait on each other could hang where a kernel would not
    { env "${run#*:}" GETP_PROFILE=$prof timeout $([ $EMU = 1 ] && echo 1800 || echo 300) $BIN/test_gpu $OUT/${run%%:*}.bin $([[ $run == *PRECISION=bf16 ]] && echo 1e-2 bf16 || echo 1e-4)
      echo "exit $?"; } >"$(pm_log "$run")" 2>&1 &
done
wait
for run in $PM_RUNS; do
    log=$(pm_log "$run")
    rc=$(sed -n 's/^exit //p' "$log")
    [ "$rc" = 0 ] || grep -q '^FAIL' "$log" || echo "FAIL test_gpu ${run%%:*} ended with status $rc and no verdict (124: the timeout)" >>"$log"
    count_tagged "$log" "${run#*:}"
done
launches=$(sed -nE 's/^GETP_PROFILE: moe persistent +[0-9.]+ +([0-9]+) .*/\1/p' "$(pm_log "$PM_LAST")" | awk '{n += $1} END {print n + 0}')
if [ "${launches:-0}" -gt 0 ]; then echo "PASS GETP_PERSISTENT_MOE=1 runs the persistent kernel (${PM_LAST%%:*}: $launches launches)"; PASSED=$((PASSED + 1))
else echo "FAIL GETP_PERSISTENT_MOE=1 never launched the persistent kernel"; grep GETP_PROFILE "$(pm_log "$PM_LAST")"; FAILED=$((FAILED + 1)); fi
if ! GETP_PERSISTENT_MOE=yes $BIN/test_gpu $OUT/$m.bin 1e-4 >$OUT/gpu_switch.log 2>&1 && grep -q "GETP_PERSISTENT_MOE must be a number from 0 to 2, not 'yes'" $OUT/gpu_switch.log; then
    echo "PASS GETP_PERSISTENT_MOE=yes is refused and says why"; PASSED=$((PASSED + 1))
else echo "FAIL GETP_PERSISTENT_MOE=yes was not refused with its reason"; cat $OUT/gpu_switch.log; FAILED=$((FAILED + 1)); fi
if ! GETP_MAX_ROWS=5000 $BIN/test_gpu $OUT/$m.bin 1e-4 >$OUT/gpu_rows5000.log 2>&1 && grep -q "GETP_MAX_ROWS must be a number from 1 to 4096, not '5000'" $OUT/gpu_rows5000.log; then
    echo "PASS GETP_MAX_ROWS=5000 is refused and says why"; PASSED=$((PASSED + 1))
else echo "FAIL GETP_MAX_ROWS=5000 was not refused with its reason"; cat $OUT/gpu_rows5000.log; FAILED=$((FAILED + 1)); fi
# a shape the row kernels cannot hold (hidden above 4096) is refused with the reason
$B/gen_model $OUT/hidden4128.bin --preset tiny --hidden 4128 --vocab 512
if ! $BIN/test_gpu $OUT/hidden4128.bin 1e-4 >$OUT/gpu_hidden4128.log 2>&1 && grep -q "hidden size 4128 is above 4096" $OUT/gpu_hidden4128.log; then
    echo "PASS the GPU backend refuses hidden 4128 and says why"; PASSED=$((PASSED + 1))
else echo "FAIL hidden 4128 was not refused with its reason"; cat $OUT/gpu_hidden4128.log; FAILED=$((FAILED + 1)); fi
# a KV-cache budget below one sequence: refused with the reason, no output file
rm -f $OUT/kvmem_gpu.txt
if ! $BIN/getp_gpu $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/kvmem_gpu.txt -n 24 --ctx 4096 --kv-mem 0.001 --backend hip --no-progress >$OUT/kvmem_gpu.log 2>&1 &&
    grep -q "one sequence of 4096 positions needs [0-9.]* MiB of KV cache, only 1.0 MiB available" $OUT/kvmem_gpu.log && [ ! -e $OUT/kvmem_gpu.txt ]; then
    echo "PASS getp_gpu --kv-mem below one sequence is refused with the reason, no output file"; PASSED=$((PASSED + 1))
else echo "FAIL getp_gpu --kv-mem 0.001 --ctx 4096 was not refused with its reason"; cat $OUT/kvmem_gpu.log; FAILED=$((FAILED + 1)); fi
# the whole CLI: getp on the GPU writes the same file as on the CPU (greedy)
build/getp $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/out_cpu.txt -n 24 --backend cpu --no-progress >/dev/null 2>&1
$BIN/getp_gpu $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/out_gpu.txt -n 24 --backend hip --no-progress >$OUT/getp_gpu.log 2>&1
if cmp -s $OUT/out_cpu.txt $OUT/out_gpu.txt; then echo "PASS getp_gpu writes the same output file as the CPU backend (greedy, tiny)"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu output differs from the CPU's"; cat $OUT/getp_gpu.log; FAILED=$((FAILED + 1)); fi
# q/k/v finished inside the attention kernel (GETP_FUSED_ROPE=1): the same
# file, and the decode steps (rows of distinct slots) launch no qkv finish
# while the prompts' steps still do (a slot's rows read each other's keys)
GETP_FUSED_ROPE=1 GETP_PROFILE=1 $BIN/getp_gpu $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/out_gpu_fused.txt -n 24 --backend hip --no-progress >$OUT/getp_gpu_fused.log 2>&1
finish=$(sed -nE 's/^GETP_PROFILE: qkv finish +[0-9.]+ +([0-9]+) .*/\1/p' $OUT/getp_gpu_fused.log)
attn=$(sed -nE 's/^GETP_PROFILE: attention +[0-9.]+ +([0-9]+) .*/\1/p' $OUT/getp_gpu_fused.log)
if cmp -s $OUT/out_cpu.txt $OUT/out_gpu_fused.txt && [ -n "$finish" ] && [ "$finish" -gt 0 ] && [ "$finish" -lt "${attn:-0}" ]; then
    echo "PASS getp_gpu with GETP_FUSED_ROPE=1 writes the CPU's output file, $finish qkv finish launches for $attn attention launches"; PASSED=$((PASSED + 1))
else echo "FAIL GETP_FUSED_ROPE=1: output $(cmp -s $OUT/out_cpu.txt $OUT/out_gpu_fused.txt && echo same || echo differs), qkv finish ${finish:-?} / attention ${attn:-?} launches"; tail -n 5 $OUT/getp_gpu_fused.log; FAILED=$((FAILED + 1)); fi
# sampling options through the GPU (issue 24): top_k, min_p, logprobs, n and
# stop strings. The GPU's output must not depend on --batch; its greedy
# requests give the CPU's tokens, their logprobs within 1e-3 of the CPU's,
# and a stop string cuts where it cuts on the CPU.
cat >$OUT/sampling_gpu.jsonl <<'REQ'
{"prompt": "The quick brown fox", "temperature": 1, "top_k": 5, "logprobs": true, "top_logprobs": 5, "seed": 11}
{"prompt": "The quick brown fox", "temperature": 1, "min_p": 0.2, "top_p": 0.9, "seed": 12}
{"prompt": "Once upon a time", "logprobs": true, "top_logprobs": 20}
{"prompt": "Once upon a time", "temperature": 0.8, "n": 3, "seed": 13}
{"prompt": "Once upon a time", "n": 2, "logprobs": true}
{"prompt": "1, 2, 3,", "stop": [" 7", "\n\n"]}
REQ
for bt in 1 8; do $BIN/getp_gpu $OUT/tiny_gpu.bin -i $OUT/sampling_gpu.jsonl -o $OUT/sampling_gpu_b$bt.jsonl -n 16 --batch $bt --backend hip --no-progress >$OUT/sampling_gpu_b$bt.log 2>&1; done
build/getp $OUT/tiny_gpu.bin -i $OUT/sampling_gpu.jsonl -o $OUT/sampling_cpu.jsonl -n 16 --batch 8 --backend cpu --no-progress >/dev/null 2>&1
if cmp -s $OUT/sampling_gpu_b1.jsonl $OUT/sampling_gpu_b8.jsonl; then echo "PASS getp_gpu: top_k, min_p, logprobs, n and stop give the same output at --batch 1 and 8"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu sampling output depends on --batch"; cat $OUT/sampling_gpu_b1.log $OUT/sampling_gpu_b8.log; FAILED=$((FAILED + 1)); fi
# the decode loop's scheduling on the GPU: prompts chunked beside decode
# rows (--step-tokens 5) and 8 sequences taking turns in calls of 3 rows
for st in 5 3; do $BIN/getp_gpu $OUT/tiny_gpu.bin -i $OUT/sampling_gpu.jsonl -o $OUT/sampling_gpu_s$st.jsonl -n 16 --batch 8 --step-tokens $st --backend hip --no-progress >$OUT/sampling_gpu_s$st.log 2>&1; done
if cmp -s $OUT/sampling_gpu_b8.jsonl $OUT/sampling_gpu_s5.jsonl && cmp -s $OUT/sampling_gpu_b8.jsonl $OUT/sampling_gpu_s3.jsonl; then
    echo "PASS getp_gpu: the same output with prompts chunked into calls of 5 and 3 rows beside decode rows"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu output depends on --step-tokens"; cat $OUT/sampling_gpu_s5.log $OUT/sampling_gpu_s3.log; FAILED=$((FAILED + 1)); fi
# chats share their system message: at --batch 16 it is computed once and
# copied (copy_prefix, with calls in flight) into each request
(echo 20; for i in 1 2 3 4 5; do printf 'What is 2 + 2?\nName a color.\nWhat is the capital of France?\nCount to three.\n'; done) >$OUT/chat_gpu.txt
for bt in 1 16; do $BIN/getp_gpu $OUT/tiny_gpu.bin -i $OUT/chat_gpu.txt -o $OUT/chat_gpu_b$bt.txt -n 12 --chat --batch $bt --backend hip --no-progress >$OUT/chat_gpu_b$bt.log 2>&1; done
if cmp -s $OUT/chat_gpu_b1.txt $OUT/chat_gpu_b16.txt && grep -q "copied from shared prompt prefixes" $OUT/chat_gpu_b16.log; then
    echo "PASS getp_gpu: chats at --batch 16 (system message copied from a slot of its own) write --batch 1's output"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu chats with a shared prefix differ from --batch 1"; cat $OUT/chat_gpu_b16.log; FAILED=$((FAILED + 1)); fi
if python3 - $OUT/sampling_cpu.jsonl $OUT/sampling_gpu_b8.jsonl <<'PY'
import json, sys
cpu = [json.loads(l) for l in open(sys.argv[1])]
gpu = [json.loads(l) for l in open(sys.argv[2])]
def same_greedy(c, g):
    assert c["tokens"] == g["tokens"] and c["text"] == g["text"], "greedy tokens differ"
    for a, b in zip(c.get("logprobs", []), g.get("logprobs", [])):
        assert a["id"] == b["id"] and abs(a["logprob"] - b["logprob"]) < 1e-3, "logprob differs"
        assert [x["id"] for x in a["top_logprobs"][:3]] == [x["id"] for x in b["top_logprobs"][:3]], "top ids differ"
same_greedy(cpu[2], gpu[2])
for c, g in zip(cpu[4]["choices"], gpu[4]["choices"]): same_greedy(c, g)
same_greedy(cpu[5], gpu[5])
assert cpu[5]["finish_reason"] == gpu[5]["finish_reason"]
assert len(gpu[3]["choices"]) == 3 and all(len(x["top_logprobs"]) == 5 for x in gpu[0]["logprobs"])
assert all(e["id"] in [x["id"] for x in e["top_logprobs"]] for e in gpu[0]["logprobs"]), "top_k 5 drew outside its top 5"
PY
then echo "PASS getp_gpu: greedy tokens, logprobs (1e-3), choices and stop strings agree with the CPU's"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu sampling output disagrees with the CPU's"; FAILED=$((FAILED + 1)); fi
# choices share their prompt's cache on the GPU (copy_prefix): greedy, 3 choices each, the CPU's file
build/getp $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/choices_cpu.txt -n 24 --choices 3 --backend cpu --no-progress >/dev/null 2>&1
$BIN/getp_gpu $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/choices_gpu.txt -n 24 --choices 3 --backend hip --no-progress >$OUT/choices_gpu.log 2>&1
if [ -s $OUT/choices_cpu.txt ] && cmp -s $OUT/choices_cpu.txt $OUT/choices_gpu.txt; then echo "PASS getp_gpu --choices 3 (greedy) writes the CPU backend's output file"; PASSED=$((PASSED + 1));
else echo "FAIL getp_gpu --choices 3 output differs from the CPU's"; cat $OUT/choices_gpu.log; FAILED=$((FAILED + 1)); fi
# every sampling option at once on the GPU: each request's line has its 2 choices, with logprobs
$BIN/getp_gpu $OUT/tiny_gpu.bin -m getp -i examples/requests.txt -o $OUT/options_gpu.jsonl -n 8 -t 0.8 -p 0.95 --top-k 40 --min-p 0.05 --logprobs 3 \
    --choices 2 --backend hip --no-progress >$OUT/options_gpu.log 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <$OUT/options_gpu.jsonl)" -eq 4 ] && [ "$(grep -c '"index":1,.*"logprobs":\[{"id"' $OUT/options_gpu.jsonl)" -eq 4 ]; then
    echo "PASS getp_gpu with -t 0.8 -p 0.95 --top-k 40 --min-p 0.05 --logprobs 3 --choices 2: every request's choices, with logprobs"; PASSED=$((PASSED + 1))
else echo "FAIL getp_gpu with every sampling option (rc $rc)"; cat $OUT/options_gpu.log; FAILED=$((FAILED + 1)); fi
# replicas (getp_mpi_gpu, 2 ranks): with two GPUs rank 1 copies rank 0's
# weights over the peer link, and with peer access refused it falls back to
# the host; on one GPU both ranks share it and the peer path must decline.
# Every way gives the CPU's output file and the report names the method.
# The model has BF16 experts, which the GPU stores tiled: a peer-fed replica
# arrives tiled and must not be reordered again.
if [ $EMU = 0 ]; then
    $B/gen_model $OUT/tiny_bf16e.bin --preset tiny --experts bf16
    build/getp $OUT/tiny_bf16e.bin -m getp -i examples/requests.txt -o $OUT/out_cpu_bf16e.txt -n 24 --backend cpu --no-progress >/dev/null 2>&1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi_case() { # mpi_case NAME EXPECTED_LOAD_TEXT [env...]
    local name=$1 want=$2; shift 2
    env "$@" timeout 120 mpirun --oversubscribe --bind-to none -np 2 -x GETP_INJECT_FAULT $B/getp_mpi_gpu $OUT/tiny_bf16e.bin -i examples/requests.txt \
        -o $OUT/mpi_$name.txt -n 24 --no-progress >$OUT/mpi_$name.log 2>&1
    if cmp -s $OUT/out_cpu_bf16e.txt $OUT/mpi_$name.txt && grep -q "^rank 1 .*$want" $OUT/mpi_$name.log; then
        echo "PASS getp_mpi_gpu 2 ranks, $name: CPU's output, rank 1 loaded by '$want'"; PASSED=$((PASSED + 1))
    else echo "FAIL getp_mpi_gpu 2 ranks, $name (want rank 1 loaded by '$want')"; cat $OUT/mpi_$name.log; FAILED=$((FAILED + 1)); fi
}
if [ $EMU = 0 ] && [ -x $B/getp_mpi_gpu ] && command -v mpirun >/dev/null; then
    if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
        mpi_case peer "peer from GPU 0" GETP_INJECT_FAULT=
        mpi_case refused "peer refused: refused" GETP_INJECT_FAULT=refuse-peer@1
    else
        mpi_case one_gpu "peer refused: the peer replica is on this GPU" GETP_INJECT_FAULT=
    fi
fi
if [ $EMU = 0 ] && command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --error-exitcode 9 $B/test_gpu $OUT/tiny_gpu.bin 1e-4 >$OUT/memcheck.log 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q "ERROR SUMMARY: 0 errors" $OUT/memcheck.log; then echo "PASS compute-sanitizer memcheck clean"; PASSED=$((PASSED + 1));
    else echo "FAIL compute-sanitizer memcheck (rc $rc)"; tail -n 20 $OUT/memcheck.log; FAILED=$((FAILED + 1)); fi
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
