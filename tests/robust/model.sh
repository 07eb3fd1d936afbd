[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# The model file (issue 21, items 6, 7, 12): paths that are not regular files,
# tensor data overlapping the header, the directory or each other, and a file
# truncated while a run reads it. Offsets: docs/model-format.md (a 344-byte
# header, then 128 bytes a tensor; its data offset at +104).
echo "== model file: not a regular file, overlapping data, truncation during a run"
MO=$OUT/model_robust_out.txt
rm -f "$MO"
printf '2\nfirst\nsecond\n' >"$OUT/model_req.txt"
MODEL_ARGS=(--tokenizer "$TOK" -m getp -i "$OUT/model_req.txt" -o "$MO" -n 1)

# Not a regular file: a FIFO used to block open() forever, waiting for a writer.
rm -rf "$OUT/fifo.bin" "$OUT/modeldir.bin"
mkfifo "$OUT/fifo.bin"
expect_error "model path that is a FIFO fails at once" 1 "fifo.bin: not a regular file \(a FIFO\)" "$MO" -- "$B/getp" "$OUT/fifo.bin" "${MODEL_ARGS[@]}"
mkdir "$OUT/modeldir.bin"
expect_error "model path that is a directory" 1 "modeldir.bin: not a regular file \(a directory\)" "$MO" -- "$B/getp" "$OUT/modeldir.bin" "${MODEL_ARGS[@]}"
expect_error "model path that is a device (/dev/null)" 1 "/dev/null: not a regular file \(a character device\)" "$MO" -- "$B/getp" /dev/null "${MODEL_ARGS[@]}"
rm -rf "$OUT/fifo.bin" "$OUT/modeldir.bin"

# Tensor data inside the header or directory, or shared by two tensors.
le64() { local v=$1 s="" i; for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done; printf '%s' "$s"; }
patch_offset() { # patch_offset FILE TENSOR-INDEX NEW-OFFSET
    cp "$M" "$1"
    printf "$(le64 "$3")" | dd of="$1" bs=1 seek=$((344 + 128 * $2 + 104)) conv=notrunc status=none
}
model_ntens=$(od -An -tu4 -j12 -N4 "$M" | tr -d ' ')
model_dir_end=$((344 + 128 * model_ntens))
model_into=$(((model_dir_end - 1) / 4096 * 4096))   # an aligned offset inside the header or the directory
patch_offset "$OUT/intodir.bin" 0 "$model_into"
expect_error "tensor data overlapping the header and directory" 1 \
    "intodir.bin: invalid model file: tensor 'embedding': data at byte $model_into overlaps the header and tensor directory" "$MO" -- "$B/getp" "$OUT/intodir.bin" "${MODEL_ARGS[@]}"
model_first=$(od -An -tu8 -j$((344 + 104)) -N8 "$M" | tr -d ' ')
patch_offset "$OUT/overlap.bin" 1 "$model_first"   # the second tensor's data on top of the first's
expect_error "two tensors sharing data" 1 \
    "overlap.bin: invalid model file: tensors 'embedding' .* and 'layers.0.attn_norm' .* overlap" "$MO" -- "$B/getp" "$OUT/overlap.bin" "${MODEL_ARGS[@]}"
check "a model gen_model wrote still loads and generates" \
    bash -c "'$B/getp' '$M' --tokenizer '$TOK' -m generate -i hi -n 4 >/dev/null 2>&1"

# Truncated during a run: the CPU backend reads weights from the mapping for
# every token, so the next read past the new end faults (SIGBUS). The run
# (256 requests x 200 tokens, one thread) is far longer than the wait: once
# the model is mapped (its name in /proc/PID/maps), 0.3 s later the file
# shrinks to 4096 bytes. The exec keeps the PID, so $$ is getp's.
cp "$M" "$OUT/shrinking.bin"
{ echo 256; for i in $(seq 1 256); do echo "request number $i"; done; } >"$OUT/model_many.txt"
expect_error "model truncated during a run: a message naming it, exit 1, no output" 1 \
    "^getp: error: .*shrinking.bin: the model file changed while it was being read \(truncated\?\)$" "$MO" -- \
    bash -c 'f=$1; shift
        ( for _ in $(seq 160); do grep -q shrinking.bin /proc/$$/maps 2>/dev/null && break; sleep 0.05; done
          sleep 0.3; truncate -c -s 4096 "$f" ) </dev/null >/dev/null 2>&1 &
        exec "$@"' _ "$OUT/shrinking.bin" \
    "$B/getp" "$OUT/shrinking.bin" --tokenizer "$TOK" -m getp -i "$OUT/model_many.txt" -o "$MO" -n 200 --ignore-eos --threads 1 --no-progress
rm -f "$OUT/shrinking.bin" "$OUT/intodir.bin" "$OUT/overlap.bin"
