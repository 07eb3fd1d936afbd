#!/usr/bin/env bash
# The first GPU session after work done without a GPU: everything that work
# left unmeasured, in parts that each fit one device call (10 minutes).
#   test      make test-gpu, and bench_gpu for the parts below; the wgmma
#             probe (its layout; its sums against mma.sync's, bit for bit);
#             the cuBLAS probe (vendor GEMMs at 20b's shapes, grouped experts,
#             a pinned algorithm's batch invariance; its table in $OUT)
#   ab        bench_gpu of this tree against BASE, alternately (bench/ab_gpu.sh),
#             20b and 20b:mxfp4 at batch 1, 64 and 256; the GPU sampler's extra
#             work (--top-k 50, --logprobs 5) at batch 1 and 256; GETP_PROFILE's
#             per-kernel roofline columns at batch 256
#   fold      the MXFP4 scale fold alone (one binary: GETP_MXFP4_PLAIN=1, two
#             products a pair, as the A), 20b:mxfp4 at batch 1 and 256, two rounds
#   wgmma     the experts' large-step matmuls by wgmma (GETP_MM_WGMMA=1: each
#             step waited for, 2: pipelined) against mma.sync (0), one binary,
#             20b and 20b:mxfp4 at batch 64, 256 and 512
#   mini      when device time is very short (about 5 minutes): the building
#             blocks (hip_unit_tests), test_gpu on the tiny model (also at 512
#             rows a call, with and without wgmma) and the HF MXFP4 fixture
#             (both also with GETP_PERSISTENT_MOE=1), and the two probes
#   quick     when device time is short, one round of each in one call: ab at
#             batch 1 and 256 (20b:mxfp4) and 1 (20b), GETP_MM_WGMMA 0 vs 2 at
#             256 and 512 (at 512 also in calls of 512 rows: GETP_MAX_ROWS;
#             the default is 1024 since session 20),
#             the fold at batch 1, GETP_EXPERT_TILES 0 vs 1 at 256 and 512
#   persistent  the experts of decode-sized steps as one persistent kernel
#             (GETP_PERSISTENT_MOE=1; 2: its launch chained too; issue 25)
#             against the three kernels, one
#             binary, 20b:mxfp4 at batch 1, 2, 4 and 8, two rounds; then
#             GETP_PROFILE of both at batch 1 (their per-layer times)
#   queued    what session 22 left unmeasured (docs/perf-log/s22.md): the
#             dense GEMM's threshold (GETP_DENSE_GEMM 0, 1: from 512 rows,
#             2: every large step) at 20b:mxfp4 256, 512 and 1024 rows, and
#             GETP_X_HI_ONLY 0 / 2 / 3 (2: without compact rows) at 512; then
#             GETP_PROFILE at 1024 rows exact and with GETP_X_HI_ONLY=3
#             (session 21's queue, the dense GEMM against 0b61c16, ran in
#             session 22: ledger L169)
#   workload  the ShareGPT-like run (bench/workload.py, 1000 requests) through
#             getp_gpu on 20b:mxfp4 at --batch 1024 (issue 23's; WORKLOAD_BATCH
#             sets it; WORKLOAD_ARGS adds options to both, e.g.
#             "--precision bf16"), this tree against BASE:
#             output tok/s, time to first token and per output token
#   sweep     issue 23's benchmark set on 20b, one call: bench_gpu at 1, 64,
#             256, 512 and 1024 sequences (prompt 64, new 64; batch 1: 2
#             requests, new 128) for 20b BF16 and 20b MXFP4, the MXFP4 ones
#             also at --precision bf16 (GETP_X_HI_ONLY=3), prefill 64 x 512,
#             and GETP_PROFILE at 1024 rows both ways (each kernel's time,
#             TFLOP/s, GB/s and % of the device's peaks; $OUT/sweep_*.log)
#   sweep120  the same for 120b MXFP4 (1, 64, 256, 512; prefill), then the
#             ShareGPT-like run on it, exact and bf16
#   onetile   the decode-sized path's compile-time knobs (hip/matmul.h; issue
#             25): this tree as is (X_AHEAD_ONE_TILE=1 since session 25),
#             x0 (X_AHEAD_ONE_TILE=0), u4 (MXFP4_DECODE_CHUNKS=4: more weight
#             bytes in flight a warp; ONETILE_VARIANTS="cur x0 x2 u4 u6" adds
#             x staged ahead in every matmul and 6 chunks; ONE_TILE_LEAN and
#             MXFP4_WORD_LAYOUT are on since session 26: lay0 turns the
#             layout off, old both; r4, r8:
#             the MXFP4 expert weights through a per-warp ring of 4 or 8
#             chunks in shared memory; ds3, ds4: down in
#             3 or 4 k ranges; rb0, rb4, rb8,
#             rb16: the router one block a row, or spread over blocks of 4,
#             8 or 16 experts; fr: cur run with GETP_FUSED_ROPE=1;
#             xr:
#             X_ROWS_ONCE=1, the staging's x rows resolved once; xr2: 2, and
#             each group's x loaded into registers a group ahead; the
#             knobs measured slower and removed
#             since, hip/matmul.h names), each
#             in its own build folder, against BASE,
#             in turn (the second round in the reverse order), two rounds:
#             20b:mxfp4 at batch 1, 4 and 8, 20b at batch 1 (ONETILE_CFGS:
#             other "model batch requests;..."); test_gpu of
#             every variant on the 20b-layer model and the HF MXFP4 fixture,
#             also with GETP_PERSISTENT_MOE=1 (bit for bit as ever: the knobs
#             move no sum); then each one's kernels at batch 1 (GETP_PROFILE)
#             and the b1 gate_up's stall reasons (ncu) of BASE
#             and the first MXFP4_DECODE_CHUNKS variant
#             (ONETILE_TESTED: the variants test_gpu runs, if not all)
#   pick      onetile of PICK_FROM (variants, e.g. "xr xr2") at 20b:mxfp4
#             batch 1, 4 and 8 and 120b:mxfp4 batch 1 (tests left to the
#             next step), then `make test-gpu` of the fastest at 20b:mxfp4
#             batch 1 (the mean of its two rounds), if it beats BASE there,
#             as the default would be built: its build folder copied to
#             build/, NVCC_FLAGS with its knob; one call both times the
#             candidates and tests the winner
#   bulk      build/bulk_stream_probe (about 30 s): batch 1's MXFP4 gate_up by
#             per-warp loads and by bulk copies into shared memory, their
#             outputs bit for bit and against float64, then their times;
#             and the ncu source page of this tree's b1 gate_up (ledger L187's
#             view) to $OUT/ncu_source.csv
# BASE is a source tree of the last commit measured on a GPU (git archive C |
# tar -x -C BASE), carried with the working tree (.carry/base).
# usage: bench/gpu_checkup.sh PART [BASE]   (PCRE2_CFLAGS / PCRE2_LIBS as for make)
set -uo pipefail
cd "$(dirname "$0")/.."
PART=${1:?usage: bench/gpu_checkup.sh test|mini|ab|fold|wgmma|quick|persistent|queued|workload|sweep|sweep120|onetile|pick|bulk [BASE]}
BASE=${2:-.carry/base}
OUT=${OUT:-/tmp}
MK=(make -s -j"$(nproc)" PCRE2_CFLAGS="${PCRE2_CFLAGS:-}" PCRE2_LIBS="${PCRE2_LIBS:--lpcre2-8}")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | sed 's/^/gpu: /'
# (the device's copy of the tree may carry an older .git: the commit is the caller's to state)
echo "base: $(cat "$BASE/.commit" 2>/dev/null || echo "$BASE")"
# the decode and overall tok/s of a bench_gpu line
rates() { grep -oE '(decode|overall)_tok_s=[0-9.]+' <<<"$1" | tr '\n' ' '; }

# the Makefile's NVCC_FLAGS, plus each variant's knob
NF=$(make -s -f Makefile -f - print-nvcc-flags <<<'print-nvcc-flags: ; @echo $(NVCC_FLAGS)')
declare -A KNOB=([cur]="" [x0]="-DX_AHEAD_ONE_TILE=0" [x2]="-DX_AHEAD_ONE_TILE=2" [u4]="-DMXFP4_DECODE_CHUNKS=4" [u6]="-DMXFP4_DECODE_CHUNKS=6"
    [lay0]="-DMXFP4_WORD_LAYOUT=0" [old]="-DONE_TILE_LEAN=0 -DMXFP4_WORD_LAYOUT=0"
    [r2]="-DONE_TILE_WEIGHT_RING=2" [r3]="-DONE_TILE_WEIGHT_RING=3" [r4]="-DONE_TILE_WEIGHT_RING=4" [r5]="-DONE_TILE_WEIGHT_RING=5" [r6]="-DONE_TILE_WEIGHT_RING=6" [r8]="-DONE_TILE_WEIGHT_RING=8" [u1]="-DMXFP4_DECODE_CHUNKS=1" [u4r8]="-DMXFP4_DECODE_CHUNKS=4 -DONE_TILE_WEIGHT_RING=8"
    [ds3]="-DDOWN_SPLITS=3" [ds4]="-DDOWN_SPLITS=4"
    [rb0]="-DROUTER_BLOCK_EXPERTS=0" [rb4]="-DROUTER_BLOCK_EXPERTS=4" [rb8]="-DROUTER_BLOCK_EXPERTS=8" [rb16]="-DROUTER_BLOCK_EXPERTS=16"
    [fr]="" [xr]="-DX_ROWS_ONCE=1" [xr2]="-DX_ROWS_ONCE=2")
case $PART in
test)
    GPU_JOBS=${GPU_JOBS:-4} "${MK[@]}" test-gpu build/bench_gpu build/wgmma_probe build/cublas_probe >"$OUT/test_gpu.log" 2>&1
    rc=$?
    grep -E "^FAIL" "$OUT/test_gpu.log" | head -n 20
    grep -E "passed|failed" "$OUT/test_gpu.log" | tail -n 3
    build/wgmma_probe 2>&1 | cut -c1-200
    build/cublas_probe >"$OUT/cublas_probe.txt" 2>&1
    grep -E "device|PASS|FAIL|pinned|note|failed|M = |grouped" "$OUT/cublas_probe.txt" | cut -c1-200 | tail -n 16
    exit $rc
    ;;
ab)
    AB_LOG=$OUT/ab.log bash bench/ab_gpu.sh "$BASE" 2 "20b 1 2 64 128" "20b:mxfp4 1 2 64 128" "20b 64 64 64 128" "20b:mxfp4 64 64 64 128" \
        "20b 256 256 64 128" "20b:mxfp4 256 256 64 128" | tail -n 8
    for b in 1 256; do
        r=$((b == 1 ? 2 : b))
        for extra in "" "--top-k 50" "--logprobs 5"; do
            line=$(build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $r --prompt 64 --new 128 $extra 2>&1 | tail -n 1)
            echo "sampler batch=$b ${extra:-plain}: $(sed -nE 's/.*(decode_tok_s=[0-9.]+).*/\1/p' <<<"$line")"
        done
    done
    GETP_PROFILE=1 build/bench_gpu --dummy 20b:mxfp4 --batch 256 --prompt 64 --new 32 >"$OUT/profile.log" 2>&1
    grep -iE "TFLOP|gate_up|down|attention|matmul|unembed|sample" "$OUT/profile.log" | head -n 24
    ;;
fold)
    for round in 1 2; do
        for b in 1 256; do
            r=$((b == 1 ? 2 : b))
            for v in plain fold; do
                line=$(env $([ $v = plain ] && echo GETP_MXFP4_PLAIN=1) build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $r --prompt 64 --new 128 2>&1 | tail -n 1)
                echo "round $round batch=$b $v: $(rates "$line")"
            done
        done
    done
    ;;
wgmma)
    for round in 1 2; do
        for m in 20b 20b:mxfp4; do
            for b in 64 256 512; do
                for v in 0 1 2; do
                    line=$(GETP_MM_WGMMA=$v build/bench_gpu --dummy $m --batch $b --requests $b --prompt 64 --new 128 2>&1 | tail -n 1)
                    echo "round $round $m batch=$b wgmma=$v: $(rates "$line")"
                done
            done
        done
    done
    GETP_MM_WGMMA=2 GETP_PROFILE=1 build/bench_gpu --dummy 20b:mxfp4 --batch 256 --prompt 64 --new 32 >"$OUT/profile_wgmma.log" 2>&1
    grep -iE "gate_up|down" "$OUT/profile_wgmma.log" | head -n 6
    ;;
mini)
    "${MK[@]}" build/hip_unit_tests build/test_gpu build/gen_model build/convert_hf build/wgmma_probe build/cublas_probe >"$OUT/build.log" 2>&1 ||
        { tail -n 20 "$OUT/build.log"; exit 1; }
    build/hip_unit_tests | cut -c1-160
    build/gen_model "$OUT/tiny.bin" --preset tiny >/dev/null
    build/convert_hf tests/fixtures/hf_mxfp4 "$OUT/hf_mxfp4.bin" >/dev/null 2>&1
    build/test_gpu "$OUT/tiny.bin" 1e-4 >"$OUT/t_tiny.log" 2>&1 &
    build/test_gpu "$OUT/hf_mxfp4.bin" 1e-4 >"$OUT/t_hf.log" 2>&1 &
    GETP_MAX_ROWS=512 build/test_gpu "$OUT/tiny.bin" 1e-4 >"$OUT/t_tiny512.log" 2>&1 &
    GETP_MAX_ROWS=512 GETP_MM_WGMMA=2 build/test_gpu "$OUT/tiny.bin" 1e-4 >"$OUT/t_tiny512w.log" 2>&1 &
    GETP_PERSISTENT_MOE=1 build/test_gpu "$OUT/tiny.bin" 1e-4 >"$OUT/t_tiny_pm.log" 2>&1 &
    GETP_PERSISTENT_MOE=1 build/test_gpu "$OUT/hf_mxfp4.bin" 1e-4 >"$OUT/t_hf_pm.log" 2>&1 &
    wait
    for f in t_tiny t_hf t_tiny512 t_tiny512w t_tiny_pm t_hf_pm; do
        echo "$f: $(grep -c ^PASS "$OUT/$f.log") passed, $(grep -c ^FAIL "$OUT/$f.log") failed"
        grep ^FAIL "$OUT/$f.log" | cut -c1-200
    done
    build/wgmma_probe 2>&1 | cut -c1-160
    timeout 120 build/cublas_probe >"$OUT/cublas_probe.txt" 2>&1
    tail -n 40 "$OUT/cublas_probe.txt" | cut -c1-160
    ;;
quick)
    AB_LOG=$OUT/ab.log bash bench/ab_gpu.sh "$BASE" 1 "20b:mxfp4 1 2 64 128" "20b 1 2 64 128" "20b:mxfp4 256 256 64 128" | tail -n 5
    for cfg in "256 256" "512 256" "512 512"; do
        read -r b rows <<<"$cfg"
        for v in 0 2; do
            line=$(GETP_MAX_ROWS=$rows GETP_MM_WGMMA=$v build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $b --prompt 64 --new 128 2>&1 | tail -n 1)
            echo "20b:mxfp4 batch=$b rows a call=$rows wgmma=$v: $(rates "$line")"
        done
    done
    for v in plain fold; do
        line=$(env $([ $v = plain ] && echo GETP_MXFP4_PLAIN=1) build/bench_gpu --dummy 20b:mxfp4 --batch 1 --requests 2 --prompt 64 --new 128 2>&1 | tail -n 1)
        echo "20b:mxfp4 batch=1 $v: $(rates "$line")"
    done
    for b in 256 512; do # the expert matmuls' grid: every (token group, expert slot), or the step's list of tiles
        for v in 0 1; do
            line=$(GETP_EXPERT_TILES=$v build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $b --prompt 64 --new 128 2>&1 | tail -n 1)
            echo "20b:mxfp4 batch=$b expert tile list=$v: $(rates "$line")"
        done
    done
    for rows in 256 1024; do # prefill: 64 prompts of 512 tokens, in calls of 256 or 1024 rows
        line=$(GETP_MAX_ROWS=$rows build/bench_gpu --dummy 20b:mxfp4 --batch 64 --requests 64 --prompt 512 --new 2 2>&1 | tail -n 1)
        echo "20b:mxfp4 prefill 64 x 512, rows a call=$rows: $(grep -oE 'prefill_tok_s=[0-9.]+' <<<"$line")"
    done
    ;;
persistent)
    "${MK[@]}" build/bench_gpu >"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log"; exit 1; }
    for round in 1 2; do
        for b in 1 2 4 8; do
            for v in 0 1 2; do
                line=$(GETP_PERSISTENT_MOE=$v build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $((b < 2 ? 2 : b)) --prompt 64 --new 128 2>&1 | tail -n 1)
                echo "round $round 20b:mxfp4 batch=$b persistent=$v: $(rates "$line")"
            done
        done
    done
    for v in 0 1; do
        GETP_PERSISTENT_MOE=$v GETP_PROFILE=1 build/bench_gpu --dummy 20b:mxfp4 --batch 1 --requests 2 --prompt 64 --new 64 >"$OUT/profile_persistent$v.log" 2>&1
        echo "profile persistent=$v:"; grep -E "gate_up|down|combine|moe persistent|post-attention" "$OUT/profile_persistent$v.log" | head -n 5
    done
    ;;
workload)
    python3 bench/workload.py >"$OUT/sharegpt_like.jsonl"
    "${MK[@]}" build/getp_gpu >/dev/null 2>&1 & a=$!
    (cd "$BASE" && "${MK[@]}" build/getp_gpu) >/dev/null 2>&1 & b=$!
    wait $a && wait $b || { echo "gpu_checkup: a build failed"; exit 1; }
    for side in base new; do
        bin=build/getp_gpu; [ $side = base ] && bin=$BASE/build/getp_gpu
        "$bin" --dummy-weights 20b:mxfp4 --batch "${WORKLOAD_BATCH:-1024}" ${WORKLOAD_ARGS:-} --ignore-eos --no-progress -i "$OUT/sharegpt_like.jsonl" \
            -o "$OUT/sharegpt_$side.jsonl" >"$OUT/sharegpt_$side.log" 2>&1
        echo "$side: $(grep -E 'achieved throughput|time to first token|time per output token|generated tokens|forward calls' "$OUT/sharegpt_$side.log" | tr '\n' ';')"
    done
    ;;
queued)
    # session 22's unmeasured forms (one binary, each setting in turn)
    "${MK[@]}" build/bench_gpu >"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log"; exit 1; }
    for b in 256 512 1024; do
        row="20b:mxfp4 batch=$b:"
        for d in 0 1 2; do
            line=$(GETP_DENSE_GEMM=$d build/bench_gpu --dummy 20b:mxfp4 --batch $b --requests $b --prompt 64 --new 64 2>&1 | tail -n 1)
            row="$row dense$d $(grep -oE 'decode_tok_s=[0-9.]+' <<<"$line")"
        done
        echo "$row"
    done
    row="20b:mxfp4 batch=512:"
    for h in 0 2 3; do
        line=$(GETP_X_HI_ONLY=$h build/bench_gpu --dummy 20b:mxfp4 --batch 512 --requests 512 --prompt 64 --new 64 2>&1 | tail -n 1)
        row="$row hi_only$h $(grep -oE 'decode_tok_s=[0-9.]+' <<<"$line")"
    done
    echo "$row"
    for h in 0 3; do
        GETP_X_HI_ONLY=$h GETP_PROFILE=1 build/bench_gpu --dummy 20b:mxfp4 --batch 1024 --requests 1024 --prompt 64 --new 16 >"$OUT/profile_hi$h.log" 2>&1
        echo "GETP_X_HI_ONLY=$h:"; grep -E "GETP_PROFILE: +(kernel|qkv|attention|o matmul|post|gate_up|down|combine|unembed)" "$OUT/profile_hi$h.log"
    done
    ;;
sweep | sweep120)
    "${MK[@]}" build/bench_gpu build/getp_gpu >"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log"; exit 1; }
    # one bench_gpu line's decode (prefill for prefill runs) tok/s
    bench() { # bench LABEL ENV... -- ARGS...
        local label=$1 env=() line; shift
        while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
        line=$(env "${env[@]}" timeout 120 build/bench_gpu "$@" 2>&1 | tail -n 1)
        echo "$label $(grep -oE '(decode|prefill|overall)_tok_s=[0-9.]+' <<<"$line" | tr '\n' ' ')"
    }
    if [ "$PART" = sweep ]; then models="20b 20b:mxfp4"; batches="1 64 256 512 1024"; else models="120b:mxfp4"; batches="1 64 256 512"; fi
    for m in $models; do
        for b in $batches; do
            r=$b n=64; [ "$b" = 1 ] && r=2 n=128
            bench "$m b$b exact" X=0 -- --dummy "$m" --batch "$b" --requests "$r" --prompt 64 --new $n
            [[ $m == *mxfp4 ]] && bench "$m b$b bf16" GETP_X_HI_ONLY=3 -- --dummy "$m" --batch "$b" --requests "$r" --prompt 64 --new $n
        done
        bench "$m prefill64x512 exact" X=0 -- --dummy "$m" --batch 64 --requests 64 --prompt 512 --new 2
        [[ $m == *mxfp4 ]] && bench "$m prefill64x512 bf16" GETP_X_HI_ONLY=3 -- --dummy "$m" --batch 64 --requests 64 --prompt 512 --new 2
    done
    if [ "$PART" = sweep ]; then
        for h in 0 3; do
            GETP_X_HI_ONLY=$h GETP_PROFILE=1 timeout 120 build/bench_gpu --dummy 20b:mxfp4 --batch 1024 --requests 1024 --prompt 64 --new 16 >"$OUT/sweep_profile_hi$h.log" 2>&1
            echo "GETP_PROFILE 20b:mxfp4 1024 rows, GETP_X_HI_ONLY=$h:"; grep -E "^GETP_PROFILE:" "$OUT/sweep_profile_hi$h.log" | head -n 24
        done
    else
        python3 bench/workload.py >"$OUT/sharegpt_like.jsonl"
        for p in exact bf16; do
            timeout 300 build/getp_gpu --dummy-weights 120b:mxfp4 --batch 1024 --ignore-eos --no-progress --precision $p -i "$OUT/sharegpt_like.jsonl" \
                -o "$OUT/sharegpt120_$p.jsonl" >"$OUT/sharegpt120_$p.log" 2>&1
            echo "120b sharegpt $p: $(grep -E 'achieved throughput|time to first token|time per output token|generated tokens' "$OUT/sharegpt120_$p.log" | tr '\n' ';')"
        done
    fi
    ;;
onetile)
    # variants that differ from cur by a run setting only (the same build flags as KNOB says)
    declare -A RUN_ENV=([fr]="GETP_FUSED_ROPE=1")
    VARIANTS=${ONETILE_VARIANTS:-cur x0 u4} # u6, x2 too where the call has time
    for v in $VARIANTS; do [ -n "${KNOB[$v]+set}" ] || { echo "gpu_checkup: unknown variant $v (${!KNOB[*]})"; exit 2; }; done
    pids=()
    for v in $VARIANTS; do
        "${MK[@]}" B=build_$v NVCC_FLAGS="$NF ${KNOB[$v]}" build_$v/bench_gpu build_$v/test_gpu build_$v/gen_model build_$v/convert_hf >"$OUT/build_$v.log" 2>&1 &
        pids+=($!)
    done
    (cd "$BASE" && "${MK[@]}" build/bench_gpu) >"$OUT/build_base.log" 2>&1 & pids+=($!)
    for p in "${pids[@]}"; do
        wait "$p" || { echo "gpu_checkup: a build failed"; tail -n 5 "$OUT"/build_*.log; kill "${pids[@]}" 2>/dev/null; exit 1; }
    done
    first=${VARIANTS%% *}
    build_$first/gen_model /tmp/g20_2l.bin --preset 20b --layers 2 --vocab 4096 >/dev/null
    build_$first/convert_hf tests/fixtures/hf_mxfp4 /tmp/hf_mxfp4.bin 2>/dev/null
    # each variant on two models, and its batch-1 experts in the persistent kernel
    tests() {
        local v run m env log
        for v in ${ONETILE_TESTED:-$VARIANTS}; do
            for run in g20_2l hf_mxfp4 hf_mxfp4:GETP_PERSISTENT_MOE=1; do
                m=${run%%:*} env=X=0; [ "$run" != "$m" ] && env=${run#*:}
                log=/tmp/onetile_${v}_${run//[:=]/_}.log
                env "$env" ${RUN_ENV[$v]:-} build_$v/test_gpu /tmp/$m.bin 1e-4 >"$log" 2>&1
                local rc=$? p f; p=$(grep -c '^PASS' "$log") f=$(grep -c '^FAIL' "$log")
                echo "test_gpu $v $run: $p passed, $f failed$([ $rc != 0 ] && [ "$f" = 0 ] && echo ", exit $rc without a FAIL line: $(tail -n 1 "$log")")"
                grep '^FAIL' "$log" | head -n 3
            done
        done
    }
    declare -A R
    for round in 1 2; do
        order="base $VARIANTS"; [ $round = 2 ] && order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ') # the other way round
        IFS=';' read -r -a cfgs <<<"${ONETILE_CFGS:-20b:mxfp4 1 2;20b:mxfp4 4 4;20b:mxfp4 8 8;20b 1 2}" # model batch requests
        for cfg in "${cfgs[@]}"; do
            read -r m b r <<<"$cfg"
            for v in $order; do
                bin=build_$v/bench_gpu; [ $v = base ] && bin=$BASE/build/bench_gpu
                [ "$m" = 20b ] && { [ "${v:0:1}" = u ] || [ "$v" = lay0 ]; } && continue # MXFP4 knobs: the same device code as cur for BF16
                d=$(env ${RUN_ENV[$v]:-} timeout 60 "$bin" --dummy "$m" --batch "$b" --requests "$r" --prompt 64 --new 128 2>&1 | tail -n 1 | grep -oE 'decode_tok_s=[0-9.]+' | cut -d= -f2)
                R["$m b$b $v"]="${R["$m b$b $v"]:-} ${d:-ERR}"
                echo "round $round: $m b$b $v ${d:-ERR}" >>"$OUT/onetile_progress.txt" # kept if the call's time runs out
            done
        done
    done
    for k in "${!R[@]}"; do echo "$k:${R[$k]}"; done | sort -V
    tests # after the timings: nothing else runs on the GPU beside them
    # per kernel at batch 1 (GETP_PROFILE: graphs off), BASE and each variant
    for v in base $VARIANTS; do
        bin=build_$v/bench_gpu; [ $v = base ] && bin=$BASE/build/bench_gpu
        env ${RUN_ENV[$v]:-} GETP_PROFILE=1 timeout 60 "$bin" --dummy 20b:mxfp4 --batch 1 --requests 1 --prompt 16 --new 64 2>&1 |
            grep -E "GETP_PROFILE: +(qkv|attention|o matmul|post|gate_up|down|combine)" | awk -v v=$v '{printf "%s %s=%s ", (NR == 1 ? "profile b1 " v ":" : ""), $2, $(NF-5)} END {print ""}'
    done
    for v in $([ "${ONETILE_NCU:-1}" = 1 ] && echo base $(grep -oE 'u[46]' <<<"$VARIANTS" | head -n 1)); do # ONETILE_NCU=0: none
        bin=build_$v/bench_gpu; [ $v = base ] && bin=$BASE/build/bench_gpu
        timeout 100 ncu --kernel-name-base demangled --kernel-name "regex:matmul_kernel<.int.2, .int.2, .int.1," --launch-skip 100 --launch-count 1 \
            --section SpeedOfLight --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
            "$bin" --dummy 20b:mxfp4 --batch 1 --requests 1 --prompt 16 --new 8 >"$OUT/ncu_onetile_$v.txt" 2>&1
        echo "ncu gate_up b1, $v: $(grep -E 'Duration|DRAM Throughput' "$OUT/ncu_onetile_$v.txt" | awk '{print $1, $2, $NF}' | tr '\n' ' ')"
        grep -E 'stalled' "$OUT/ncu_onetile_$v.txt" | awk '{print "  ", $1, $NF}' | sort -k2 -gr | head -n 6
    done
    ;;
pick)
    T0=$(date +%s)
    rm -f "$OUT/onetile_progress.txt"
    ONETILE_VARIANTS="${PICK_FROM:?pick: PICK_FROM names the candidate variants}" ONETILE_TESTED=" " ONETILE_NCU=0 \
        ONETILE_CFGS="${ONETILE_CFGS:-20b:mxfp4 1 2;20b:mxfp4 4 4;20b:mxfp4 8 8;120b:mxfp4 1 2}" \
        timeout "${PICK_TIMING_S:-300}" bash "$0" onetile "$BASE" >"$OUT/onetile.txt" 2>&1
    cat "$OUT/onetile.txt"
    # from the progress lines ("round N: 20b:mxfp4 b1 VARIANT TOK_S"): there even if the timing ran out of time
    means=$(awk '$3 == "20b:mxfp4" && $4 == "b1" && $6 != "ERR" {s[$5] += $6; n[$5]++}
        END {for (v in s) print s[v] / n[v], v}' "$OUT/onetile_progress.txt" 2>/dev/null | sort -gr)
    best=$(grep -v ' base$' <<<"$means" | head -n 1 | cut -d' ' -f2)
    [ -n "$best" ] && [ -d "build_$best" ] || { echo "gpu_checkup pick: no timed candidate"; exit 1; }
    # only a candidate faster than BASE becomes the default, so only then is it tested
    # (base untimed: nothing to beat, so nothing is tested; exit 3 tells this from a test's result)
    awk -v b="$best" '$2 == b {t = $1} $2 == "base" {base = $1} END {exit !(base != "" && t != "" && t > base)}' <<<"$means" ||
        { echo "gpu_checkup pick: no candidate beats base (or base has no timing) at 20b:mxfp4 b1:" $means; exit 3; }
    left=$(( ${PICK_LIMIT_S:-590} - ($(date +%s) - T0) ))
    echo "pick: $best (${KNOB[$best]}); make test-gpu with it, ${left}s left"
    rm -rf build && cp -a "build_$best" build # its objects: make finds them up to date
    GPU_JOBS=${GPU_JOBS:-6} timeout "$left" "${MK[@]}" NVCC_FLAGS="$NF ${KNOB[$best]}" test-gpu >"$OUT/test_gpu.log" 2>&1
    rc=$?
    grep -E "^FAIL" "$OUT/test_gpu.log" | head -n 20
    echo "test-gpu of $best: exit $rc, $(tail -n 1 "$OUT/test_gpu.log")"
    exit $rc
    ;;
bulk)
    "${MK[@]}" build/bulk_stream_probe build/bench_gpu >"$OUT/build_bulk.log" 2>&1 || { echo "gpu_checkup: build failed"; tail -n 5 "$OUT/build_bulk.log"; exit 1; }
    timeout 120 build/bulk_stream_probe 200
    timeout 120 ncu --kernel-name-base demangled --kernel-name "regex:matmul_kernel<.int.2, .int.2, .int.1," --launch-skip 100 --launch-count 1 \
        --section SourceCounters --section WarpStateStats --section SpeedOfLight --page source --print-source sass --csv \
        "$PWD/build/bench_gpu" --dummy 20b:mxfp4 --batch 1 --requests 1 --prompt 16 --new 8 >"$OUT/ncu_source.csv" 2>"$OUT/ncu_source.err"
    echo "ncu source page: rc $?, $(wc -l <"$OUT/ncu_source.csv") lines in $OUT/ncu_source.csv"
    ;;
*) echo "gpu_checkup: unknown part $PART (test, mini, ab, fold, wgmma, quick, persistent, queued, workload, sweep, sweep120, onetile, pick, bulk)"; exit 2 ;;
esac
