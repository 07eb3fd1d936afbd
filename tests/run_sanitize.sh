#!/usr/bin/env bash
# tests/run_sanitize.sh - getp under AddressSanitizer (LeakSanitizer included)
# and UndefinedBehaviorSanitizer: builds `make sanitize` (build/san), fuzzes
# the input readers in process (build/san/fuzz_inputs, every kind), runs the
# sanitized convert_hf on mutated copies of the test checkpoints, and runs the
# bad-input tests (tests/robust/*.sh) against the
# sanitized programs with every sanitizer report fatal and visible in the exit
# code. Ends with "sanitizer: N reports, N crashes, N hangs over N inputs".
#
# On its own: bash tests/run_sanitize.sh (exits non-zero if anything failed).
# In the suite: tests/run_tests.sh sources it after tests/lib.sh; it adds to
# the suite's PASS/FAIL counts and leaves $B, $M, GETP and the environment as
# it found them. SAN_FUZZ_COUNT (inputs per fuzz kind; default 10000 for the
# cheap kinds, 3000 for the tokenizer's) and SAN_CONVERT_RUNS (convert_hf
# runs, default 300) trade time for depth.
# Failing inputs are saved under $OUT/fuzz-crashes, each with the command
# that replays it.

if [ -z "${GETP_SUITE:-}" ]; then
    set -u
    cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
    ROOT=$PWD
    source tests/lib.sh
    SAN_STANDALONE=1
else
    SAN_STANDALONE=
fi

SAN_REPORT_RE='ERROR: AddressSanitizer|runtime error:|LeakSanitizer'
san_count_reports() { grep -cE "$SAN_REPORT_RE" "$1"; }

# The lines of a log worth seeing on the console: results, and one line per
# sanitizer report rather than its stack trace (the log keeps everything).
san_show() { grep -E '^(PASS|FAIL|== |      \()|SUMMARY: |runtime error:|^fuzz: .*(saved as|hang|together)' "$1" | cut -c1-300; }

san_restore_env() {
    if [ -n "$san_had_asan" ]; then export ASAN_OPTIONS=$san_old_asan; else unset ASAN_OPTIONS; fi
    if [ -n "$san_had_ubsan" ]; then export UBSAN_OPTIONS=$san_old_ubsan; else unset UBSAN_OPTIONS; fi
}

# A C test program under the sanitizers: its PASS lines, no FAIL, no report.
san_unit_test() { # NAME ARGS...
    local name=$1 log=$san_out/$1.log rc; shift
    timeout 300 "$san_bin/$name" "$@" >"$log" 2>&1
    rc=$?
    san_reports=$((san_reports + $(san_count_reports "$log")))
    if [ "$rc" -eq 0 ] && ! grep -q '^FAIL' "$log" && [ "$(san_count_reports "$log")" -eq 0 ]; then
        pass "$name under the sanitizers: $(grep -c '^PASS' "$log") passed, no report"
    else
        fail "$name under the sanitizers" "exit $rc; $(san_show "$log" | grep -v '^PASS' | head -n 5)"
    fi
}

# Variables that must survive the sourced fragments (which share this
# function's scope) are named san_*.
san_run() {
    local san_bin=$ROOT/build/san san_out=$OUT/san san_crash_dir=$OUT/fuzz-crashes
    local san_convert_runs=${SAN_CONVERT_RUNS:-300}
    local san_reports=0 san_crashes=0 san_hangs=0 san_wrong=0 san_inputs=0 san_started=$SECONDS
    local GETP_SUITE=1 # the fragments sourced below add to our counters instead of keeping their own
    rm -rf "$san_out" "$san_crash_dir"
    mkdir -p "$san_out" "$san_crash_dir"
    echo "== sanitizers: ASan + UBSan build (build/san), in-process fuzzing, convert_hf fuzzing, bad input"
    if ! make -s -j2 -C "$ROOT" sanitize >"$san_out/build.log" 2>&1; then
        fail "make sanitize" "$(tail -n 5 "$san_out/build.log")"
        return
    fi
    pass "make sanitize builds getp, gen_model, convert_hf, test_unit, test_json, test_sampling, test_forward, test_generate, test_mapping_guard, test_kv_pages and fuzz_inputs with -fsanitize=address,undefined"

    # Every report fatal, with an exit code (99) unlike any of the programs' own.
    local san_had_asan=${ASAN_OPTIONS+1} san_had_ubsan=${UBSAN_OPTIONS+1}
    local san_old_asan=${ASAN_OPTIONS-} san_old_ubsan=${UBSAN_OPTIONS-}
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99

    # Seed models: the tiny preset (BF16, MXFP4 experts) and a small F32 one
    # with another tensor count.
    local san_tiny=$san_out/tiny.bin san_small=$san_out/small_f32.bin rc log
    log=$san_out/gen_model.log
    "$san_bin/gen_model" "$san_tiny" --preset tiny >"$log" 2>&1 &&
        "$san_bin/gen_model" "$san_small" --preset tiny --dtype f32 --experts bf16 --vocab 1024 --layers 3 >>"$log" 2>&1
    rc=$?
    san_reports=$((san_reports + $(san_count_reports "$log")))
    if [ "$rc" -ne 0 ]; then
        fail "sanitized gen_model writes the seed models" "exit $rc: $(san_show "$log" | head -n 3)"
        san_restore_env
        return
    fi
    pass "sanitized gen_model writes the seed models"

    # The unit tests, with the tokenizer corpus when there is one (the suite
    # made it; on our own, node makes it).
    local corpus=$OUT/corpus.txt
    local -a unit_args=()
    [ -f "$corpus" ] || { corpus=$san_out/corpus.txt; node "$ROOT/tests/tokenizer/make_corpus.mjs" "$corpus" "$san_out/big.txt" >/dev/null 2>&1; }
    [ -f "$corpus" ] && unit_args=("$TOK" "$corpus")
    san_unit_test test_unit ${unit_args[@]+"${unit_args[@]}"}
    san_unit_test test_json
    san_unit_test test_sampling
    # The decode loop against its naive reference (src/generate.c, src/sync_calls.c).
    san_unit_test test_generate "$san_tiny" quick
    # The SIGBUS guard's records under concurrent register/remove and lookup.
    san_unit_test test_mapping_guard
    # The paged KV cache's bookkeeping.
    san_unit_test test_kv_pages

    # getp's ordinary path, leaks at exit included.
    printf '2\nHello, world!\nThe capital of France is\n' >"$san_out/ok.txt"
    printf '{"prompt": "Hello", "id": "a"}\n{"prompt": "<|start|>user", "max_tokens": 1, "seed": 3, "temperature": 0.7}\n' >"$san_out/ok.jsonl"
    log=$san_out/getp_ok.log
    : >"$log"
    local f
    for f in ok.txt ok.jsonl; do
        timeout 120 "$san_bin/getp" "$san_tiny" --tokenizer "$TOK" -i "$san_out/$f" -o "$san_out/out_$f" -n 2 >>"$log" 2>&1 ||
            echo "exit $? on $f" >>"$log"
    done
    san_reports=$((san_reports + $(san_count_reports "$log")))
    if ! grep -qE "^exit |$SAN_REPORT_RE" "$log"; then pass "sanitized getp runs a .txt and a .jsonl request file with no report"; else
        fail "sanitized getp runs a .txt and a .jsonl request file with no report" "$(san_show "$log"; grep '^exit ' "$log")"
    fi

    # In-process fuzzing: one driver process per kind (it forks a child per
    # batch of inputs, so a crash costs one input, not the run).
    local kind count line n c h w
    for kind in requests:10000 model:10000 tokenizer:3000 tokenizer-utf8:3000 json:10000; do
        count=${SAN_FUZZ_COUNT:-${kind#*:}} kind=${kind%:*}
        log=$san_out/fuzz_$kind.log
        timeout 300 "$san_bin/fuzz_inputs" --kind "$kind" --count "$count" --crash-dir "$san_crash_dir" --tokenizer "$TOK" \
            --fixtures "$ROOT/tests/fixtures" --model "$san_tiny" --model "$san_small" >"$log" 2>&1
        rc=$?
        line=$(grep -m1 -E "^fuzz: $kind [0-9]+ inputs" "$log")
        read -r n c h _ w < <(sed -E 's/^fuzz: [^ ]+ ([0-9]+) inputs, ([0-9]+) crashes, ([0-9]+) hangs, ([0-9]+) leaks, ([0-9]+) wrong.*/\1 \2 \3 \4 \5/' \
            <<<"${line:-fuzz: $kind 0 inputs, 0 crashes, 0 hangs, 0 leaks, 0 wrong}")
        san_inputs=$((san_inputs + n)) san_crashes=$((san_crashes + c)) san_hangs=$((san_hangs + h)) san_wrong=$((san_wrong + w))
        san_reports=$((san_reports + $(san_count_reports "$log")))
        if [ "$rc" -eq 0 ] && [ -n "$line" ]; then pass "$line"; else
            if [ -n "$line" ]; then fail "$line"; else fail "fuzz: $kind" "no summary line, exit $rc"; fi
            san_show "$log" | grep -v "^fuzz: $kind [0-9]* inputs" | head -n 12 | sed 's/^/      /'
        fi
    done

    # convert_hf, the process, on mutated checkpoints. Leaks are not checked
    # here: the converter never frees its checkpoint, which would fail every
    # run; the unmodified fixture below checks for leaks once.
    local cdir=$san_out/convert i nrun=0 nconv=0 nfail=0 what stopped=""
    mkdir -p "$cdir/ck"
    for ((i = 0; i < san_convert_runs && nfail < 5; i++)); do
        if ! "$san_bin/fuzz_inputs" --kind convert --emit "$cdir/ck" --start "$i" --fixtures "$ROOT/tests/fixtures" >"$cdir/emit.log" 2>&1; then
            fail "fuzz_inputs --kind convert --emit $cdir/ck --start $i" "$(san_show "$cdir/emit.log" | head -n 3)"
            break
        fi
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99 timeout 10 "$san_bin/convert_hf" "$cdir/ck" "$cdir/out.bin" >"$cdir/run.log" 2>&1
        rc=$?
        nrun=$((nrun + 1))
        if [ "$rc" -le 1 ] && [ "$(san_count_reports "$cdir/run.log")" -eq 0 ]; then
            [ "$rc" -eq 0 ] && nconv=$((nconv + 1))
            continue
        fi
        nfail=$((nfail + 1))
        san_reports=$((san_reports + $(san_count_reports "$cdir/run.log")))
        if [ "$rc" -eq 124 ]; then san_hangs=$((san_hangs + 1)) what="hangs"; else san_crashes=$((san_crashes + 1)) what="exit $rc"; fi
        cp -rL "$cdir/ck" "$san_crash_dir/convert-$i"
        cp "$cdir/run.log" "$san_crash_dir/convert-$i.log"
        echo "      convert input $i: $what: $(grep -m1 -E 'runtime error:|SUMMARY: ' "$cdir/run.log" | cut -c1-200)"
        echo "      saved as $san_crash_dir/convert-$i; reproduce: $san_bin/convert_hf $san_crash_dir/convert-$i /tmp/out.bin"
    done
    rm -f "$cdir/out.bin"
    san_inputs=$((san_inputs + nrun))
    [ "$nfail" -ge 5 ] && stopped="; stopped at 5 failures"
    check "convert_hf on $nrun mutated checkpoints ($nconv converted): no crash, hang or sanitizer report$stopped" test "$nfail" -eq 0
    log=$cdir/clean.log
    timeout 60 "$san_bin/convert_hf" "$ROOT/tests/fixtures/hf_f32" "$cdir/clean.bin" >"$log" 2>&1
    rc=$?
    rm -f "$cdir/clean.bin"
    san_reports=$((san_reports + $(san_count_reports "$log")))
    if [ "$rc" -eq 0 ] && [ "$(san_count_reports "$log")" -eq 0 ]; then pass "convert_hf on the unmodified hf_f32 fixture: no report, leaks included"; else
        fail "convert_hf on the unmodified hf_f32 fixture: no report, leaks included" "exit $rc: $(grep -m1 'SUMMARY: ' "$log")"
    fi

    # The bad-input tests, against the sanitized programs.
    local san_saved_b=$B san_saved_m=${M-} san_before san_frag san_log
    local -a san_saved_getp=(${GETP[@]+"${GETP[@]}"})
    B=$san_bin M=$san_tiny
    GETP=("$san_bin/getp" "$M" --tokenizer "$TOK")
    for san_frag in "$ROOT"/tests/robust/*.sh; do
        [ -e "$san_frag" ] || continue
        san_log=$san_out/$(basename "$san_frag" .sh).log
        san_before=$((PASSED + FAILED))
        # shellcheck source=/dev/null
        source "$san_frag" >"$san_log" 2>&1
        san_show "$san_log"
        san_inputs=$((san_inputs + PASSED + FAILED - san_before))
        san_reports=$((san_reports + $(san_count_reports "$san_log")))
    done
    B=$san_saved_b M=$san_saved_m
    GETP=(${san_saved_getp[@]+"${san_saved_getp[@]}"})
    san_restore_env

    echo "fuzz: $san_wrong wrong results (a reader accepted input that breaks its format, or returned something inconsistent)"
    echo "sanitizer: $san_reports reports, $san_crashes crashes, $san_hangs hangs over $san_inputs inputs ($((SECONDS - san_started)) s; logs in $san_out)"
}

san_run
if [ -n "$SAN_STANDALONE" ]; then
    echo
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
fi
