[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# -o never destroys what the user owns (src/output_file.h): every kind of
# path, in getp and getp_mpi; the output path checked before the model loads.
echo "== output paths: nothing the user owns is replaced"
P=$OUT/paths
rm -rf "$P" && mkdir -p "$P/d"
printf '2\nfirst prompt\nsecond prompt\n' >"$P/req.txt"
cp "$P/req.txt" "$P/req.orig"
"${GETP[@]}" -i "$P/req.txt" -o "$P/ref.txt" -n 3 >/dev/null 2>&1

# same_file_cases PROGRAM-ARRAY-NAME LABEL: -o naming an input, by every kind of name
same_file_cases() {
    local -n prog=$1
    local label=$2
    ln -f "$P/req.txt" "$P/req_hard.txt"
    ln -sf req.txt "$P/req_sym.txt"
    cp "$M" "$P/model_copy.bin"
    expect_error "$label: -o the request file is refused" 1 "req.txt: the output is the same file as the request file" "$P/req.txt" -- \
        "${prog[@]}" -i "$P/req.txt" -o "$P/req.txt" -n 2
    expect_error "$label: -o a hard link of the request file is refused" 1 "req_hard.txt: the output is the same file as the request file" \
        "$P/req.txt" -- "${prog[@]}" -i "$P/req.txt" -o "$P/req_hard.txt" -n 2
    expect_error "$label: -o a symlink to the request file is refused" 1 "req_sym.txt: the output is the same file as the request file" \
        "$P/req.txt" -- "${prog[@]}" -i "$P/req.txt" -o "$P/req_sym.txt" -n 2
    expect_error "$label: -o the model file is refused" 1 "the output is the same file as the model file" "$M" -- \
        "${prog[@]}" -i "$P/req.txt" -o "$M" -n 2
    expect_error "$label: -o the tokenizer file is refused" 1 "the output is the same file as the tokenizer file" "$TOK" -- \
        "${prog[@]}" -i "$P/req.txt" -o "$TOK" -n 2
    expect_error "$label: -o a directory is refused" 1 "d: cannot write the output to a directory" "$P/d" -- \
        "${prog[@]}" -i "$P/req.txt" -o "$P/d" -n 2
    expect_error "$label: -o '' is refused" 1 "the output path is empty" "$P/none" -- "${prog[@]}" -i "$P/req.txt" -o "" -n 2
    check "$label: the request file, its links and the model are intact" \
        bash -c "cmp -s '$P/req.txt' '$P/req.orig' && [ -L '$P/req_sym.txt' ] && cmp -s '$M' '$P/model_copy.bin'"
}
same_file_cases GETP getp

# The output path is checked before the model is read: with a missing model,
# the output's error comes first (and in milliseconds, not after the run).
expect_error "getp: a missing output directory fails before the model is opened" 1 "no/such/dir/out.txt: cannot create output" \
    "$P/no/such/dir/out.txt" -- "$B/getp" "$P/nomodel.bin" --tokenizer "$TOK" -i "$P/req.txt" -o "$P/no/such/dir/out.txt"
if [ "$(id -u)" -ne 0 ]; then
    echo KEEP >"$P/readonly.txt" && chmod 444 "$P/readonly.txt"
    expect_error "getp: a read-only output file is not replaced" 1 "readonly.txt: cannot write the output" "$P/readonly.txt" -- \
        "${GETP[@]}" -i "$P/req.txt" -o "$P/readonly.txt" -n 1
    mkdir -p "$P/ro" && chmod 555 "$P/ro"
    expect_error "getp: a read-only output directory fails before the model is opened" 1 "ro/out.txt: cannot create output" \
        "$P/ro/out.txt" -- "$B/getp" "$P/nomodel.bin" --tokenizer "$TOK" -i "$P/req.txt" -o "$P/ro/out.txt"
fi

# Devices, FIFOs and symlinks are written through, never replaced.
"${GETP[@]}" -i "$P/req.txt" -o /dev/null -n 3 >"$P/devnull.log" 2>&1
check "getp -o /dev/null: exit 0 and /dev/null is still a character device" bash -c "[ $? -eq 0 ] && [ -c /dev/null ]"
"${GETP[@]}" -i "$P/req.txt" -o - -n 3 >"$P/stdout.txt" 2>"$P/stdout.log"
check "getp -o -: the results on stdout (the report on stderr)" \
    bash -c "cmp -s '$P/ref.txt' '$P/stdout.txt' && grep -q 'achieved throughput' '$P/stdout.log'"
"${GETP[@]}" -i "$P/req.txt" -o /dev/stdout -n 3 >"$P/devstdout.txt" 2>/dev/null
check "getp -o /dev/stdout (redirected to a file): the results there, the file not replaced" cmp -s "$P/ref.txt" "$P/devstdout.txt"
{ echo HEADER; "${GETP[@]}" -i "$P/req.txt" -o /dev/stdout -n 3 2>/dev/null; echo TRAILER; } >"$P/appended.txt"
check "getp -o /dev/stdout inside a redirection: written through stdout (the lines around it kept)" \
    bash -c "[ \"\$(head -n 1 '$P/appended.txt')\" = HEADER ] && [ \"\$(tail -n 1 '$P/appended.txt')\" = TRAILER ] && sed '1d;\$d' '$P/appended.txt' | cmp -s - '$P/ref.txt'"
# a file mounted on its own (docker -v FILE:FILE) cannot be renamed over: written in place
if [ "$(id -u)" -eq 0 ] && : >"$P/mounted.txt" && echo OLD >"$P/mount_src.txt" && mount --bind "$P/mount_src.txt" "$P/mounted.txt" 2>/dev/null; then
    "${GETP[@]}" -i "$P/req.txt" -o "$P/mounted.txt" -n 3 >/dev/null 2>&1
    check "getp -o a bind-mounted file: the results written into it (no rename over a mount)" cmp -s "$P/ref.txt" "$P/mount_src.txt"
    umount "$P/mounted.txt"
fi
mkfifo "$P/fifo"
(timeout 20 cat "$P/fifo" >"$P/from_fifo.txt") &
reader=$!
timeout 20 "${GETP[@]}" -i "$P/req.txt" -o "$P/fifo" -n 3 >/dev/null 2>&1
wait $reader
check "getp -o FIFO: written through the pipe, which stays a FIFO" bash -c "cmp -s '$P/ref.txt' '$P/from_fifo.txt' && [ -p '$P/fifo' ]"
echo OLD >"$P/d/target.txt"
chmod 640 "$P/d/target.txt"
ln -s d/target.txt "$P/link"
"${GETP[@]}" -i "$P/req.txt" -o "$P/link" -n 3 >/dev/null 2>&1
check "getp -o SYMLINK: the link stays, its target gets the output (permissions kept)" \
    bash -c "[ -L '$P/link' ] && cmp -s '$P/ref.txt' '$P/d/target.txt' && [ \"\$(stat -c %a '$P/d/target.txt')\" = 640 ] && ! ls '$P'/d/*.tmp.* 2>/dev/null"
ln -s d/fresh.txt "$P/dangling"
"${GETP[@]}" -i "$P/req.txt" -o "$P/dangling" -n 3 >/dev/null 2>&1
check "getp -o DANGLING-SYMLINK: the link stays and now points at the output" \
    bash -c "[ -L '$P/dangling' ] && cmp -s '$P/ref.txt' '$P/d/fresh.txt'"
ln -f "$P/d/target.txt" "$P/d/other_name.txt"
cp "$P/d/target.txt" "$P/d/target.before"
"${GETP[@]}" -i "$P/req.txt" -o "$P/d/target.txt" -n 2 >/dev/null 2>&1
check "getp -o FILE with a second hard link: the other name keeps the old content" cmp -s "$P/d/other_name.txt" "$P/d/target.before"
blk=$(find /dev -maxdepth 2 -type b 2>/dev/null | head -n 1)
if [ -n "$blk" ]; then
    expect_error "getp -o a block device is refused" 1 "cannot write the output to a block device" "$P/none" -- \
        "${GETP[@]}" -i "$P/req.txt" -o "$blk" -n 2
fi

# Names at the limit (NAME_MAX 255): NAME.tmp.PID would not fit, so the
# temporary gets a cut name with a hash; it is still renamed into place, and
# removed when the write fails. Each case has a directory of its own, so that
# "no stray temporary" is "nothing else in it".
long_name() { # BYTES UNIT SUFFIX: UNIT repeated, padded with x, ending in SUFFIX, BYTES bytes in all
    local want=$1 unit=$2 suffix=$3 s=""
    while [ $(($(printf %s "$s$unit$suffix" | wc -c))) -le "$want" ]; do s+=$unit; done
    while [ $(($(printf %s "$s$suffix" | wc -c))) -lt "$want" ]; do s+=x; done
    printf %s "$s$suffix"
}
only_files() { # DIR NAME...: DIR holds exactly these names
    local dir=$1; shift
    [ "$(ls -A "$dir" | sort)" = "$(printf '%s\n' "$@" | sort)" ]
}
L=$P/long
mkdir -p "$L/o250" "$L/o255" "$L/fail" "$L/rfail"
n250=$(long_name 250 o .txt)
n255=$(long_name 255 é .txt)   # two-byte characters: the cut must not split one
r250=$(long_name 250 r .json)
r255=$(long_name 255 R .json)
check "the long names are 250 and 255 bytes" \
    test "$(printf %s "$n250" | wc -c) $(printf %s "$n255" | wc -c) $(printf %s "$r250" | wc -c) $(printf %s "$r255" | wc -c)" = "250 255 250 255"
"${GETP[@]}" -i "$P/req.txt" -o "$L/o250/$n250" --report "$L/o250/$r250" -n 3 >"$L/o250.log" 2>&1
check "getp -o and --report with 250-byte names: both written" \
    bash -c "[ $? -eq 0 ] && cmp -s '$P/ref.txt' '$L/o250/$n250' && grep -q '\"tok_per_s\"' '$L/o250/$r250'"
check "getp -o and --report with 250-byte names: nothing else in the directory" only_files "$L/o250" "$n250" "$r250"
echo OLD >"$L/o255/$n255" && chmod 640 "$L/o255/$n255"
"${GETP[@]}" -i "$P/req.txt" -o "$L/o255/$n255" --report "$L/o255/$r255" -n 3 >"$L/o255.log" 2>&1
check "getp -o and --report with 255-byte names: the old output replaced (permissions kept), the report written" \
    bash -c "[ $? -eq 0 ] && cmp -s '$P/ref.txt' '$L/o255/$n255' && [ \"\$(stat -c %a '$L/o255/$n255')\" = 640 ] && grep -q '\"tok_per_s\"' '$L/o255/$r255'"
check "getp -o and --report with 255-byte names: nothing else in the directory" only_files "$L/o255" "$n255" "$r255"
# A write that fails (the file size limit, with SIGXFSZ ignored: EFBIG) after
# the temporary exists: it goes, the earlier output stays.
NO_FSIZE=(bash -c 'ulimit -f 0 && trap "" XFSZ && exec "$@"' no_fsize)
echo OLD >"$L/fail/$n255"
expect_error "getp -o a 255-byte name, the write failing: the earlier output kept" 1 "write failed: File too large" "$L/fail/$n255" -- \
    "${NO_FSIZE[@]}" "${GETP[@]}" -i "$P/req.txt" -o "$L/fail/$n255" -n 3
check "getp -o a 255-byte name, the write failing: no temporary left" only_files "$L/fail" "$n255"
expect_error "getp --report a 255-byte name, the write failing: exit 1" 1 "write failed: File too large" "$L/rfail/$r255" -- \
    "${NO_FSIZE[@]}" "${GETP[@]}" -i "$P/req.txt" -o /dev/null --report "$L/rfail/$r255" -n 3
check "getp --report a 255-byte name, the write failing: no temporary left" only_files "$L/rfail"

# The output format follows the output name's ending, not a substring.
printf '{"prompt": "first prompt"}\n{"prompt": "second prompt"}\n' >"$P/req.jsonl"
"${GETP[@]}" -i "$P/req.jsonl" -o "$P/out.jsonl.txt" -n 3 >/dev/null 2>&1
check "getp -o x.jsonl.txt writes plain text (the name does not end in .jsonl)" cmp -s "$P/ref.txt" "$P/out.jsonl.txt"
"${GETP[@]}" -i "$P/req.jsonl" -o - -n 3 2>/dev/null >"$P/stdout.jsonl"
check "getp -o - with JSONL requests writes JSONL" bash -c "head -c 7 '$P/stdout.jsonl' | grep -q '^{\"id\":0'"

expect_error "-s ' -1' is refused (no wrap to 2^64-1)" 2 "-s expects a non-negative integer, got ' -1'" "$P/none" -- \
    "${GETP[@]}" -i "$P/req.txt" -o "$P/none" -s ' -1'
expect_error "-s -1 is refused" 2 "-s expects a non-negative integer" "$P/none" -- "${GETP[@]}" -i "$P/req.txt" -o "$P/none" -s -1
expect_error "-m generate with invalid UTF-8 fails cleanly (no crash in PCRE2)" 1 "<prompt>:1: .*invalid UTF-8" "$P/none" -- \
    "${GETP[@]}" -m generate -i $'\xff\xfe' -n 2

if [ -x "$B/getp_mpi" ] && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    # expect_error allows 10 s: enough for mpirun -np 2 to start and stop
    GETP_MPI2=(timeout 9 mpirun --oversubscribe -np 2 "$B/getp_mpi" "$M" --tokenizer "$TOK")
    same_file_cases GETP_MPI2 "getp_mpi -np 2"
    expect_error "getp_mpi: --report naming the request file is refused" 1 "the output is the same file as the request file" "$P/req.txt" -- \
        "${GETP_MPI2[@]}" -i "$P/req.txt" -o "$P/mpi_out.txt" --report "$P/req.txt" -n 2
    expect_error "getp_mpi: --report naming the output by another spelling is refused" 1 "the same file as the output" "$P/mpi_out.txt" -- \
        "${GETP_MPI2[@]}" -i "$P/req.txt" -o "$P/mpi_out.txt" --report "$P/./mpi_out.txt" -n 2
    "${GETP_MPI2[@]}" -i "$P/req.txt" -o /dev/null -n 3 >/dev/null 2>&1
    check "getp_mpi -o /dev/null: exit 0 and /dev/null is still a character device" bash -c "[ $? -eq 0 ] && [ -c /dev/null ]"
    "${GETP_MPI2[@]}" -i "$P/req.txt" -o "$P/link" -n 3 >/dev/null 2>&1
    check "getp_mpi -o SYMLINK: the link stays, its target gets the output" bash -c "[ -L '$P/link' ] && cmp -s '$P/ref.txt' '$P/d/target.txt'"
    (timeout 20 cat "$P/fifo" >"$P/from_fifo_mpi.txt") &
    reader=$!
    "${GETP_MPI2[@]}" -i "$P/req.txt" -o "$P/fifo" -n 3 >/dev/null 2>&1
    wait $reader
    check "getp_mpi -o FIFO: written through the pipe, which stays a FIFO" bash -c "cmp -s '$P/ref.txt' '$P/from_fifo_mpi.txt' && [ -p '$P/fifo' ]"
    "${GETP_MPI2[@]}" -i "$P/req.txt" -o - -n 3 >"$P/mpi_stdout.txt" 2>/dev/null
    mkdir -p "$L/mpi"
    "${GETP_MPI2[@]}" -i "$P/req.txt" -o "$L/mpi/$n255" --report "$L/mpi/$r250" -n 3 >/dev/null 2>&1
    check "getp_mpi -o and --report with 255- and 250-byte names: both written" \
        bash -c "[ $? -eq 0 ] && cmp -s '$P/ref.txt' '$L/mpi/$n255' && [ -s '$L/mpi/$r250' ]"
    check "getp_mpi -o and --report with 255- and 250-byte names: nothing else in the directory" only_files "$L/mpi" "$n255" "$r250"
    check "getp_mpi -o -: the results on stdout, nothing else" cmp -s "$P/ref.txt" "$P/mpi_stdout.txt"
fi
