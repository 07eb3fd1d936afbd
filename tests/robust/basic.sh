[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# The first bad-input cases: request files, model files and options that are
# wrong, each with one clear message, its exit code and no output file.
BAD=$OUT/bad
mkdir -p "$BAD"
printf '2\nHello, world!\nThe capital of France is\n' >"$BAD/req.txt"
echo "== bad input: one clear message, non-zero exit, no output file"
O=$BAD/never.txt
printf 'OLD\n' >"$BAD/keep.txt"
expect_error "missing request file" 1 "nonexistent.txt: cannot open" "$O" -- "${GETP[@]}" -i "$BAD/nonexistent.txt" -o "$O"
: >"$BAD/empty.txt"
expect_error "empty request file" 1 "empty.txt: the request file is empty" "$O" -- "${GETP[@]}" -i "$BAD/empty.txt" -o "$O"
printf '3\none\ntwo\n' >"$BAD/count.txt"
expect_error "count mismatch" 1 "count.txt:[0-9]+: the first line declares 3 requests but the file has 2" "$O" -- "${GETP[@]}" -i "$BAD/count.txt" -o "$O"
printf 'x\nprompt\n' >"$BAD/nocount.txt"
expect_error "first line not a number" 1 "nocount.txt:1: the first line must be the number of requests" "$O" -- "${GETP[@]}" -i "$BAD/nocount.txt" -o "$O"
printf '2\nfine\nbad \xff\xfe bytes\n' >"$BAD/utf8.txt"
expect_error "invalid UTF-8 (names line 3)" 1 "utf8.txt:3: invalid UTF-8" "$O" -- "${GETP[@]}" -i "$BAD/utf8.txt" -o "$O"
printf '1\nbad \\q escape\n' >"$BAD/escape.txt"
expect_error "unknown escape" 1 "escape.txt:2: unknown escape" "$O" -- "${GETP[@]}" -i "$BAD/escape.txt" -o "$O"
printf '2\nshort\n%s\n' "$(printf 'word %.0s' $(seq 1 40))" >"$BAD/long.txt"
expect_error "prompt longer than the context" 1 "long.txt:3: the prompt is longer than the context of 16 tokens" "$O" -- "${GETP[@]}" -i "$BAD/long.txt" -o "$O" --ctx 16
printf '{"prompt": "ok"}\n{"prompt": 5}\n' >"$BAD/bad.jsonl"
expect_error "JSONL without a string prompt" 1 "bad.jsonl:2: missing string field \"prompt\"" "$O" -- "${GETP[@]}" -i "$BAD/bad.jsonl" -o "$O"
printf '{"prompt": "ok"}\n{"prompt": "x",}\n' >"$BAD/bad2.jsonl"
expect_error "invalid JSON line" 1 "bad2.jsonl:2: invalid JSON" "$O" -- "${GETP[@]}" -i "$BAD/bad2.jsonl" -o "$O"
printf '{"prompt": "ok", "top_p": 3}\n' >"$BAD/bad3.jsonl"
expect_error "JSONL field out of range" 1 "bad3.jsonl:1: \"top_p\" must be a number" "$O" -- "${GETP[@]}" -i "$BAD/bad3.jsonl" -o "$O"
expect_error "failure keeps the previous output intact" 1 "count.txt" "$BAD/keep.txt" -- "${GETP[@]}" -i "$BAD/count.txt" -o "$BAD/keep.txt"
expect_error "missing model" 1 "nomodel.bin: cannot open model" "$O" -- "$B/getp" "$BAD/nomodel.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
head -c 200000 "$M" >"$BAD/trunc.bin"
expect_error "truncated model" 1 "trunc.bin: invalid model file: .*past the end" "$O" -- "$B/getp" "$BAD/trunc.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
head -c 100 "$M" >"$BAD/stub.bin"
expect_error "model shorter than its header" 1 "stub.bin: invalid model file: .*shorter than" "$O" -- "$B/getp" "$BAD/stub.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
corrupt() { cp "$M" "$BAD/$1"; printf "$3" | dd of="$BAD/$1" bs=1 seek="$2" conv=notrunc status=none; }
corrupt badmagic.bin 0 'NOTAMODL'
expect_error "model with a bad magic" 1 "badmagic.bin: invalid model file: bad magic" "$O" -- "$B/getp" "$BAD/badmagic.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
corrupt badversion.bin 8 '\x09'
expect_error "model with an unknown version" 1 "badversion.bin: invalid model file: unsupported version 9" "$O" -- "$B/getp" "$BAD/badversion.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
corrupt badhidden.bin 20 '\x60'   # hidden 64 -> 96: every tensor's shape disagrees
expect_error "model whose shapes disagree with its config" 1 "badhidden.bin: invalid model file: tensor 'embedding' has the wrong shape" "$O" -- "$B/getp" "$BAD/badhidden.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
corrupt badoffset.bin $((344 + 104 + 5)) '\x7f'   # first tensor's data offset far past the end
expect_error "model with a tensor past the end of the file" 1 "badoffset.bin: invalid model file: tensor 'embedding': data .* past the end" "$O" -- "$B/getp" "$BAD/badoffset.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
corrupt badsize.bin $((344 + 112)) '\x01'   # byte size field no longer matches the shape
expect_error "model with a wrong tensor byte size" 1 "badsize.bin: invalid model file: tensor 'embedding': byte size" "$O" -- "$B/getp" "$BAD/badsize.bin" --tokenizer "$TOK" -i "$BAD/req.txt" -o "$O"
expect_error "missing tokenizer file" 1 "notok.tok: cannot open" "$O" -- "$B/getp" "$M" --tokenizer "$BAD/notok.tok" -i "$BAD/req.txt" -o "$O"
expect_error "output directory that does not exist" 1 "cannot create output" "$BAD/no/such/dir/out.txt" -- "${GETP[@]}" -i "$BAD/req.txt" -o "$BAD/no/such/dir/out.txt" -n 1
expect_error "unknown option" 2 "unknown option '--frobnicate'" "$O" -- "${GETP[@]}" -i "$BAD/req.txt" -o "$O" --frobnicate
expect_error "bad option value" 2 "-t expects a number" "$O" -- "${GETP[@]}" -i "$BAD/req.txt" -o "$O" -t hot
check "--help prints usage and exits 0" bash -c "'$B/getp' --help | grep -q 'usage: getp MODEL -m getp'"

expect_error "--dummy-weights on a build without a GPU fails and says why" 1 "no GPU backend" "$O" -- "$B/getp" --dummy-weights 20b -m generate -i hi
expect_error "--dummy-weights rejects an unknown preset by name" 2 "one of: tiny mid 20b 120b; got '30b'" "$O" -- "$B/getp" --dummy-weights 30b -m generate -i hi
expect_error "--kv-mem rejects a non-number" 2 "--kv-mem expects a number" "$O" -- "$B/getp" "$M" --kv-mem lots -m generate -i hi
expect_error "--precision takes exact or bf16" 2 "--precision expects exact or bf16, got 'fp8'" "$O" -- "${GETP[@]}" -i "$BAD/req.txt" -o "$O" --precision fp8
