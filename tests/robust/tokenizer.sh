[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# Tokenizer: invalid UTF-8 and very long pieces through `getp -m tokenize`.

echo "== robust: tokenizer"

# Invalid UTF-8 used to reach PCRE2's JIT unchecked: a line of one 0xff byte
# crashed it (SIGSEGV), others read past the text. The tokenizer's message
# gives the byte within the line; getp's run_tokenize is to put FILE:LINE:
# before it (until it does, the second check of each pair fails).
printf 'a fine line\n\xff\n' >"$OUT/tok_invalid1.txt"
printf 'a fine line\nok\nbad \xe6\xbc byte\n' >"$OUT/tok_invalid2.txt" # a CJK character cut short
for tok_case in "1 2 0" "2 3 4"; do # file, line, byte within the line
    read -r tok_file tok_line tok_byte <<<"$tok_case"
    expect_error "tokenize: invalid UTF-8 (file $tok_file) is an error, not a crash" 1 "invalid UTF-8 at byte $tok_byte" \
        "$OUT/tok_invalid$tok_file.ids" -- "${GETP[@]}" -m tokenize -i "$OUT/tok_invalid$tok_file.txt"
    expect_error "tokenize: the invalid UTF-8 error (file $tok_file) names the file and line" 1 \
        "tok_invalid$tok_file\.txt:$tok_line: invalid UTF-8 at byte $tok_byte" \
        "$OUT/tok_invalid$tok_file.ids" -- "${GETP[@]}" -m tokenize -i "$OUT/tok_invalid$tok_file.txt"
done

# 100,000 'a' took 16-25 s while the merge was quadratic. js-tiktoken's merge
# is quadratic too (about 10 minutes for this line), so its ids were taken
# once and are written out here: 12,500 times 117525 ("aaaaaaaa").
{ head -c 100000 /dev/zero | tr '\0' a; echo; } >"$OUT/tok_100k_a.txt"
yes 117525 | head -n 12500 | paste -sd ' ' >"$OUT/tok_100k_a.ref"
timeout 10 "${GETP[@]}" -m tokenize -i "$OUT/tok_100k_a.txt" >"$OUT/tok_100k_a.ours"
check "tokenize: a line of 100,000 'a' within 10 s, the ids js-tiktoken gives" cmp -s "$OUT/tok_100k_a.ref" "$OUT/tok_100k_a.ours"

# Long single pieces that js-tiktoken does encode in a second or two,
# compared live: runs of one letter, capital, space, digit, punctuation,
# newline (escaped) and CJK or accented character, and repeated words.
tok_repeat() { local s; s=$(printf '%*s' "$2" ''); printf '%s\n' "${s// /$1}"; }
{
    tok_repeat a 2000; tok_repeat A 2000; tok_repeat ' ' 2000; tok_repeat 7 2000; tok_repeat '!' 2000
    tok_repeat '\n' 1000; tok_repeat 漢 700; tok_repeat é 1000; tok_repeat ab 1000; tok_repeat Hello 400; printf '%*sx\n' 2000 ''
} >"$OUT/tok_long.txt"
node "$ROOT/tools/tokenizer/reference_encode.mjs" "$OUT/tok_long.txt" >"$OUT/tok_long.ref"
timeout 10 "${GETP[@]}" -m tokenize -i "$OUT/tok_long.txt" >"$OUT/tok_long.ours"
check "tokenize: $(wc -l <"$OUT/tok_long.txt") long lines (most one piece) equal to js-tiktoken" cmp -s "$OUT/tok_long.ref" "$OUT/tok_long.ours"

# A 10 MB line in a request file is refused as soon as it is known to be
# longer than the context: one unbroken piece, and ordinary words (issue 21:
# in under a second; the sanitized build of run_sanitize.sh gets 5).
tok_limit_ms=1000
case "$B" in *san*) tok_limit_ms=5000 ;; esac
{ echo 1; head -c 10000000 /dev/zero | tr '\0' a; echo; } >"$OUT/tok_10mb_piece.txt"
{ echo 1; yes 'word' | head -n 2000000 | paste -sd ' '; } >"$OUT/tok_10mb_words.txt"
for tok_kind in piece words; do
    tok_t0=$(date +%s%N)
    tok_err=$(timeout 20 "${GETP[@]}" -i "$OUT/tok_10mb_$tok_kind.txt" -o "$OUT/tok_10mb.out" 2>&1 >/dev/null)
    tok_rc=$?
    tok_ms=$((($(date +%s%N) - tok_t0) / 1000000))
    check "a 10 MB request line ($tok_kind) is refused as longer than the context in $tok_ms ms (under $tok_limit_ms)" \
        bash -c "[ $tok_rc -eq 1 ] && [ $tok_ms -lt $tok_limit_ms ] && grep -q 'tok_10mb_$tok_kind.txt:2: the prompt is longer than the context' <<<\"\$0\" && [ ! -e '$OUT/tok_10mb.out' ]" "$tok_err"
done
rm -f "$OUT"/tok_10mb_*.txt
