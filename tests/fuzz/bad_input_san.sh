# shellcheck shell=bash
# The bad-input cases of tests/run_tests.sh (missing, empty and malformed
# request files, corrupt models, bad options), plus a few aimed at known weak
# spots, run against the sanitized programs. tests/run_sanitize.sh sources it
# with $B = build/san and ASAN_OPTIONS/UBSAN_OPTIONS set so that any sanitizer
# report (a leak at exit included) changes the exit code: a case then fails
# even when getp printed the right message.
# On its own: bash tests/fuzz/bad_input_san.sh (after make sanitize).
if [ -z "${GETP_SUITE:-}" ]; then
    B=${B:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/san}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
    source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
fi

echo "== bad input against the sanitized getp ($B)"
SAN_BAD=$OUT/san_bad
mkdir -p "$SAN_BAD"
SAN_NEVER=$SAN_BAD/never.txt
printf '1\nHello\n' >"$SAN_BAD/req.txt"
printf 'OLD\n' >"$SAN_BAD/keep.txt"
expect_error "san: missing request file" 1 "nonexistent.txt: cannot open" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/nonexistent.txt" -o "$SAN_NEVER"
: >"$SAN_BAD/empty.txt"
expect_error "san: empty request file" 1 "empty.txt: the request file is empty" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/empty.txt" -o "$SAN_NEVER"
printf '3\none\ntwo\n' >"$SAN_BAD/count.txt"
expect_error "san: count mismatch" 1 "count.txt:[0-9]+: the first line declares 3 requests but the file has 2" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/count.txt" -o "$SAN_NEVER"
printf 'x\nprompt\n' >"$SAN_BAD/nocount.txt"
expect_error "san: first line not a number" 1 "nocount.txt:1: the first line must be the number of requests" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/nocount.txt" -o "$SAN_NEVER"
printf '2\nfine\nbad \xff\xfe bytes\n' >"$SAN_BAD/utf8.txt"
expect_error "san: invalid UTF-8 request" 1 "utf8.txt:3: invalid UTF-8" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/utf8.txt" -o "$SAN_NEVER"
printf '1\nbad \\q escape\n' >"$SAN_BAD/escape.txt"
expect_error "san: unknown escape" 1 "escape.txt:2: unknown escape" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/escape.txt" -o "$SAN_NEVER"
printf '2\nshort\n%s\n' "$(printf 'word %.0s' $(seq 1 40))" >"$SAN_BAD/long.txt"
expect_error "san: prompt longer than the context" 1 "long.txt:3: the prompt is [0-9]+ tokens, longer than the context of 16" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/long.txt" -o "$SAN_NEVER" --ctx 16
printf '{"prompt": "ok"}\n{"prompt": 5}\n' >"$SAN_BAD/bad.jsonl"
expect_error "san: JSONL without a string prompt" 1 "bad.jsonl:2: missing string field \"prompt\"" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/bad.jsonl" -o "$SAN_NEVER"
printf '{"prompt": "ok"}\n{"prompt": "x",}\n' >"$SAN_BAD/bad2.jsonl"
expect_error "san: invalid JSON line" 1 "bad2.jsonl:2: invalid JSON" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/bad2.jsonl" -o "$SAN_NEVER"
printf '{"prompt": "ok", "top_p": 3}\n' >"$SAN_BAD/bad3.jsonl"
expect_error "san: JSONL field out of range" 1 "bad3.jsonl:1: \"top_p\" must be a number" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/bad3.jsonl" -o "$SAN_NEVER"
expect_error "san: failure keeps the previous output intact" 1 "count.txt" "$SAN_BAD/keep.txt" -- "${GETP[@]}" -i "$SAN_BAD/count.txt" -o "$SAN_BAD/keep.txt"
expect_error "san: missing model" 1 "nomodel.bin: cannot open model" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/nomodel.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
head -c 200000 "$M" >"$SAN_BAD/trunc.bin"
expect_error "san: truncated model" 1 "trunc.bin: invalid model file: .*past the end" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/trunc.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
head -c 100 "$M" >"$SAN_BAD/stub.bin"
expect_error "san: model shorter than its header" 1 "stub.bin: invalid model file: .*shorter than" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/stub.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
san_corrupt() { cp "$M" "$SAN_BAD/$1"; printf "$3" | dd of="$SAN_BAD/$1" bs=1 seek="$2" conv=notrunc status=none; }
san_corrupt badmagic.bin 0 'NOTAMODL'
expect_error "san: model with a bad magic" 1 "badmagic.bin: invalid model file: bad magic" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/badmagic.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
san_corrupt badversion.bin 8 '\x09'
expect_error "san: model with an unknown version" 1 "badversion.bin: invalid model file: unsupported version 9" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/badversion.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
san_corrupt badhidden.bin 20 '\x60'
expect_error "san: model whose shapes disagree with its config" 1 "badhidden.bin: invalid model file: tensor 'embedding' has the wrong shape" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/badhidden.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
san_corrupt badoffset.bin $((344 + 104 + 5)) '\x7f'
expect_error "san: model with a tensor past the end of the file" 1 "badoffset.bin: invalid model file: tensor 'embedding': data .* past the end" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/badoffset.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
san_corrupt badsize.bin $((344 + 112)) '\x01'
expect_error "san: model with a wrong tensor byte size" 1 "badsize.bin: invalid model file: tensor 'embedding': byte size" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/badsize.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
expect_error "san: missing tokenizer file" 1 "notok.tok: cannot open" "$SAN_NEVER" -- "$B/getp" "$M" --tokenizer "$SAN_BAD/notok.tok" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER"
expect_error "san: output directory that does not exist" 1 "cannot create output" "$SAN_BAD/no/such/dir/out.txt" -- "${GETP[@]}" -i "$SAN_BAD/req.txt" -o "$SAN_BAD/no/such/dir/out.txt" -n 1
expect_error "san: unknown option" 2 "unknown option '--frobnicate'" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER" --frobnicate
expect_error "san: bad option value" 2 "-t expects a number" "$SAN_NEVER" -- "${GETP[@]}" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER" -t hot

# Known weak spots beyond the suite's cases.
# The second tensor's data placed on the first's: the loader must refuse
# tensors that share bytes (docs/model-format.md: each at its own boundary).
cp "$M" "$SAN_BAD/overlap.bin"
dd if="$M" of="$SAN_BAD/overlap.bin" bs=1 skip=$((344 + 104)) seek=$((344 + 128 + 104)) count=8 conv=notrunc status=none
expect_error "san: model whose tensors share bytes" 1 "overlap.bin: invalid model file" "$SAN_NEVER" -- "$B/getp" "$SAN_BAD/overlap.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER" -n 1
# A FIFO as the model: an error within seconds, not a wait for a writer
# (the inner timeout keeps a hang to 3 s).
rm -f "$SAN_BAD/fifo.bin"
if mkfifo "$SAN_BAD/fifo.bin" 2>/dev/null; then
    expect_error "san: a FIFO as the model is refused, not waited on" 1 "fifo.bin" "$SAN_NEVER" -- timeout 3 "$B/getp" "$SAN_BAD/fifo.bin" --tokenizer "$TOK" -i "$SAN_BAD/req.txt" -o "$SAN_NEVER" -n 1
    rm -f "$SAN_BAD/fifo.bin"
fi
# Text that is not UTF-8 reaches the tokenizer where nothing validates it
# first: -m tokenize and -m generate. Rejecting it or encoding its bytes are
# both fine; a sanitizer report or a signal is not.
san_clean_exit() { # NAME -- CMD...: exit 0 or 1 within 10 s and no sanitizer report
    local name=$1 err rc; shift 2
    err=$(timeout 10 "$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -gt 1 ] || grep -Eq "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" <<<"$err"; then
        fail "$name" "exit code $rc ($(grep -m1 -E 'SUMMARY|runtime error' <<<"$err"))"
        printf '%s\n' "$err" | grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" | head -3
    else
        pass "$name (exit $rc)"
    fi
}
printf 'fine\nends in a cut sequence \xe3\nlead bytes \xc3\xc3 and \xff\n' >"$SAN_BAD/bad_utf8_text.txt"
san_clean_exit "san: getp -m tokenize on invalid UTF-8" -- "$B/getp" -m tokenize -i "$SAN_BAD/bad_utf8_text.txt" --tokenizer "$TOK"
san_clean_exit "san: getp -m generate with an invalid UTF-8 prompt" -- "${GETP[@]}" -m generate -n 1 -i "$(printf 'cut \xe3')"
