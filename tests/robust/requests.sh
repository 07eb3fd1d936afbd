[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# Request files (issue 21, items 9, 13 and the input side of 10): the JSON
# reader is strict, ids come back exactly as written, seeds and max_tokens are
# exact integers, and a byte-order mark at the start of a file is skipped.
echo "== request files: strict JSON, exact ids and seeds, byte-order marks"
RQ_DIR=$OUT/robust_requests
mkdir -p "$RQ_DIR"
RQ_NEVER=$RQ_DIR/never.txt # must never be written
rq_quiet() { "$@" >/dev/null 2>&1; }

rq_bad() { # NAME FILE-TEXT REGEX: FILE-TEXT (printf format) as x.jsonl must fail with REGEX
    local f=$RQ_DIR/$(printf '%s' "$1" | tr -cs 'a-zA-Z0-9' _).jsonl
    printf "$2" >"$f"
    expect_error "$1" 1 "$(basename "$f"):$3" "$RQ_NEVER" -- "${GETP[@]}" -i "$f" -o "$RQ_NEVER" -n 1
}

# keys: compared with their lengths, no duplicates
rq_bad 'a key "prompt\u0000x" is not "prompt"' '{"prompt\\u0000x": "a"}\n' '1: missing string field "prompt"'
rq_bad "a duplicate \"prompt\" key is named, with its line" '{"prompt": "a"}\n{"prompt": "a", "prompt": "b"}\n' \
    '2: invalid JSON: duplicate key "prompt" at byte 16'
rq_bad "a duplicate key in a nested object" '{"prompt": "a", "meta": {"k": 1, "k": 2}}\n' '1: invalid JSON: duplicate key "k"'

# numbers: JSON's grammar only, each form named
rq_bad "max_tokens 01 (leading zero)" '{"prompt": "a", "max_tokens": 01}\n' "1: invalid JSON: invalid number '01': leading zeros"
rq_bad "temperature +1" '{"prompt": "a", "temperature": +1}\n' "1: invalid JSON: invalid number '\+1': JSON numbers have no '\+' sign"
rq_bad "temperature .5" '{"prompt": "a", "temperature": .5}\n' "1: invalid JSON: invalid number '\.5': a digit must come before"
rq_bad "temperature 1." '{"prompt": "a", "temperature": 1.}\n' "1: invalid JSON: invalid number '1\.': expected a digit after"
rq_bad "temperature 1e" '{"prompt": "a", "temperature": 1e}\n' "1: invalid JSON: invalid number '1e': expected a digit in the exponent"
rq_bad "temperature 0x1" '{"prompt": "a", "temperature": 0x1}\n' "1: invalid JSON: invalid number '0x1': hexadecimal"
rq_bad "temperature NaN" '{"prompt": "a", "temperature": NaN}\n' "1: invalid JSON: invalid number 'NaN': NaN and Infinity are not JSON"
rq_bad "temperature Infinity" '{"prompt": "a", "temperature": Infinity}\n' "1: invalid JSON: invalid number 'Infinity'"
RQ_D70=1234567890123456789012345678901234567890123456789012345678901234567890
rq_bad "a 70-digit max_tokens" "{\"prompt\": \"a\", \"max_tokens\": $RQ_D70}\n" \
    '1: "max_tokens" must be an integer in \[0, 1000000000\], got 1234567890123456789012345678901234567890\.\.\.'
rq_bad "a 70-digit seed" "{\"prompt\": \"a\", \"seed\": $RQ_D70}\n" '1: "seed" must be an integer in \[0, 18446744073709551615\], got 1234567890'
rq_bad "max_tokens 2.5" '{"prompt": "a", "max_tokens": 2.5}\n' '1: "max_tokens" must be an integer in \[0, 1000000000\], got 2\.5'
rq_bad "seed 18446744073709551616 (2^64)" '{"prompt": "a", "seed": 18446744073709551616}\n' \
    '1: "seed" must be an integer in \[0, 18446744073709551615\], got 18446744073709551616'
rq_bad "seed -1" '{"prompt": "a", "seed": -1}\n' '1: "seed" must be an integer in \[0, 18446744073709551615\], got -1'
rq_bad "seed 1.5" '{"prompt": "a", "seed": 1.5}\n' '1: "seed" must be an integer in \[0, 18446744073709551615\], got 1\.5'
rq_bad "an id that is neither a string nor a number" '{"prompt": "a", "id": true}\n' '1: "id" must be a string or a number, got a boolean'

# strings and nesting
rq_bad 'a truncated \u escape' '{"prompt": "\\u12"}\n' '1: invalid JSON: truncated \\u escape'
rq_bad 'a lone surrogate \ud800' '{"prompt": "\\ud800"}\n' '1: invalid JSON: lone high surrogate'
rq_bad "a raw tab inside a string" '{"prompt": "a\tb"}\n' '1: invalid JSON: control character in string'
printf '{"prompt": %s1%s}\n' "$(printf '[%.0s' $(seq 100000))" "$(printf ']%.0s' $(seq 100000))" >"$RQ_DIR/deep.jsonl"
expect_error "100,000 nested arrays: refused, no stack overflow" 1 "deep.jsonl:1: invalid JSON: nesting deeper than 256 levels" "$RQ_NEVER" -- \
    "${GETP[@]}" -i "$RQ_DIR/deep.jsonl" -o "$RQ_NEVER" -n 1

# ids come back exactly as written: numbers unquoted with their own text, strings as the same JSON string
cat >"$RQ_DIR/ids.jsonl" <<'REQ'
{"prompt": "a", "id": 1e300}
{"prompt": "a", "id": 7}
{"prompt": "a", "id": "7"}
{"prompt": "a", "id": -0.0}
{"prompt": "a", "id": 12345678901234567890123}
{"prompt": "a", "id": "q\"\\\n\u00e9\ud83d\ude00\u0000\t/ \u2028"}
{"prompt": "a"}
REQ
"${GETP[@]}" -m getp -i "$RQ_DIR/ids.jsonl" -o "$RQ_DIR/ids_out.jsonl" -n 1 >/dev/null 2>&1
for want in '1e300' '7' '"7"' '-0.0' '12345678901234567890123'; do
    check "id $want comes back as $want" grep -q "^{\"id\":$(sed 's/[.]/[.]/g' <<<"$want")," "$RQ_DIR/ids_out.jsonl"
done
check "a request without an id gets its index (6)" grep -q '^{"id":6,' "$RQ_DIR/ids_out.jsonl"
check "a string id with escapes and unicode comes back as the same string" node -e '
const fs = require("fs");
const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8").split("\n")[5]);
const o = JSON.parse(fs.readFileSync(process.argv[2], "utf8").split("\n")[5]);
process.exit(typeof o.id === "string" && o.id === r.id ? 0 : 1);
' "$RQ_DIR/ids.jsonl" "$RQ_DIR/ids_out.jsonl"

# seeds are exact 64-bit integers: 2^53 and 2^53 + 1 are different seeds (as doubles they are one)
printf '{"prompt": "a", "seed": 18446744073709551615, "temperature": 1}\n' >"$RQ_DIR/seedmax.jsonl"
check "seed 18446744073709551615 (2^64 - 1) is accepted" rq_quiet "${GETP[@]}" -m getp -i "$RQ_DIR/seedmax.jsonl" -o "$RQ_DIR/seedmax_out.jsonl" -n 2
for s in 9007199254740992 9007199254740993; do
    printf '{"prompt": "Once upon a time", "seed": %s, "temperature": 1}\n' $s >"$RQ_DIR/seed_$s.jsonl"
    "${GETP[@]}" -m getp -i "$RQ_DIR/seed_$s.jsonl" -o "$RQ_DIR/seed_${s}_out.jsonl" -n 8 --ignore-eos >/dev/null 2>&1
done
check "seeds 2^53 and 2^53 + 1 draw different tokens" bash -c "
    a=\$(grep -o '\"tokens\":\[[0-9,]*\]' '$RQ_DIR/seed_9007199254740992_out.jsonl'); b=\$(grep -o '\"tokens\":\[[0-9,]*\]' '$RQ_DIR/seed_9007199254740993_out.jsonl')
    [ -n \"\$a\" ] && [ -n \"\$b\" ] && [ \"\$a\" != \"\$b\" ]"

# a byte-order mark at the start of a file is skipped; anywhere else it is text
printf '2\nHello\nWorld\n' >"$RQ_DIR/plain.txt"
printf '\xef\xbb\xbf2\nHello\nWorld\n' >"$RQ_DIR/plain_bom.txt"
printf '{"prompt": "Hello", "id": "h"}\n{"prompt": "World"}\n' >"$RQ_DIR/bom_no.jsonl"
printf '\xef\xbb\xbf{"prompt": "Hello", "id": "h"}\n{"prompt": "World"}\n' >"$RQ_DIR/bom_yes.jsonl"
for f in plain.txt plain_bom.txt bom_no.jsonl bom_yes.jsonl; do
    "${GETP[@]}" -m getp -i "$RQ_DIR/$f" -o "$RQ_DIR/out_$f" -n 4 >"$RQ_DIR/out_$f.log" 2>&1 || echo "      ($f: $(tail -n 1 "$RQ_DIR/out_$f.log"))"
done
check "a byte-order mark at the start of a plain file: same output as without" \
    bash -c "[ -s '$RQ_DIR/out_plain.txt' ] && cmp -s '$RQ_DIR/out_plain.txt' '$RQ_DIR/out_plain_bom.txt'"
check "a byte-order mark at the start of a JSONL file: same output as without" \
    bash -c "[ -s '$RQ_DIR/out_bom_no.jsonl' ] && cmp -s '$RQ_DIR/out_bom_no.jsonl' '$RQ_DIR/out_bom_yes.jsonl'"
printf '2\nHello\n\xef\xbb\xbfWorld\n' >"$RQ_DIR/plain_bom2.txt"
check "a byte-order mark inside a plain file is prompt text" rq_quiet "${GETP[@]}" -m getp -i "$RQ_DIR/plain_bom2.txt" -o "$RQ_DIR/out_plain_bom2.txt" -n 1
rq_bad "a byte-order mark at the start of a later JSONL line is named" '{"prompt": "a"}\n\xef\xbb\xbf{"prompt": "b"}\n' \
    '2: invalid JSON: unexpected byte-order mark \(U\+FEFF\) at byte 0'

# JSONL by the name's ending or by content: a file whose first character is
# '{' is JSONL whatever its name; one that starts with a count is plain
printf '{"prompt": "a"}\n' >"$RQ_DIR/req.jsonl.txt"
"${GETP[@]}" -i "$RQ_DIR/req.jsonl.txt" -o "$RQ_DIR/by_content.jsonl" -n 1 >/dev/null 2>&1
check "a file named x.jsonl.txt that holds JSON lines is read as JSONL" grep -q '"prompt_tokens":1' "$RQ_DIR/by_content.jsonl"
printf '1\n{"prompt": "a"}\n' >"$RQ_DIR/count_first.jsonl.txt"
"${GETP[@]}" -i "$RQ_DIR/count_first.jsonl.txt" -o "$RQ_DIR/count_first.out" -n 1 >/dev/null 2>&1
check "a file that starts with its count is plain text, braces in its prompt and all" test "$(wc -l <"$RQ_DIR/count_first.out")" -eq 1
