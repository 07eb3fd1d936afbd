# Shared by tests/run_tests.sh and the fragments in tests/robust/: the
# counters, pass/fail/check, run_c and expect_error, and the paths every test
# uses ($ROOT, $B, $OUT, $TOK). A fragment run on its own (bash
# tests/robust/X.sh) sources this file itself and prints its own tally.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
B=${B:-$ROOT/build}
OUT=${OUT:-$ROOT/tests/out}
TOK=${TOK:-$ROOT/data/o200k_harmony.tok}
export NODE_PATH=$ROOT/tools/tokenizer/node_modules
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$OUT"
PASSED=0
FAILED=0

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
# relay_results PREFIX LOG: a test program's PASS / FAIL lines as the suite's own, each named "PREFIX: ..."
relay_results() {
    local line
    while IFS= read -r line; do
        case "$line" in
        PASS\ *) pass "$1: ${line#PASS }" ;;
        FAIL\ *) fail "$1: ${line#FAIL }" ;;
        esac
    done <"$2"
}
check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# Runs a C test binary and counts its PASS/FAIL lines.
run_c() {
    local name=$1; shift
    local log="$OUT/$name.log" rc p f
    timeout 600 "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS' "$log"); f=$(grep -c '^FAIL' "$log")
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "$name" "exited with $rc"; fi
}

# expect_error NAME RC REGEX OUTFILE -- CMD...: CMD must exit with RC within
# 10 s, print a message matching REGEX on stderr, and leave OUTFILE as it was
# (absent, or with its previous content), with no temporary files beside it.
expect_error() {
    local name=$1 want_rc=$2 regex=$3 outfile=$4; shift 5
    local before="" after="" rc err
    [ -f "$outfile" ] && before=$(md5sum <"$outfile")
    err=$(timeout 10 "$@" 2>&1 >/dev/null)
    rc=$?
    [ -f "$outfile" ] && after=$(md5sum <"$outfile")
    local leftovers
    # NAME.tmp.PID, or for a name too long for that NAME-CUT~HASH.tmp.PID (src/output_file.c)
    leftovers=$(ls "$outfile".tmp.* "$(dirname -- "$outfile")"/*~????????.tmp.* 2>/dev/null | wc -l)
    if [ "$rc" -ne "$want_rc" ]; then fail "$name" "exit code $rc, expected $want_rc ($err)"
    elif ! grep -Eq -- "$regex" <<<"$err"; then fail "$name" "message '$err' does not match /$regex/"
    elif [ "$before" != "$after" ]; then fail "$name" "output file changed"
    elif [ "$leftovers" -ne 0 ]; then fail "$name" "temporary output left behind"
    else pass "$name"; echo "      ($err)"; fi
}


# A tests/robust fragment starts with
#   [ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# Run on its own, it then gets the tiny model ($M), GETP, and a tally at exit.
if [ "${1:-}" = standalone ]; then
    M=$OUT/tiny.bin
    [ -f "$M" ] || "$B/gen_model" "$M" --preset tiny >/dev/null
    GETP=("$B/getp" "$M" --tokenizer "$TOK")
    trap 'echo; echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]' EXIT
fi
