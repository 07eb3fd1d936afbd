[ -n "${GETP_SUITE:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" standalone
# getp_mpi's progress line counts the whole job (every rank's requests, the
# ranks' decode rates summed) and its report has getp's latency lines, over
# every request of the job (issue 24 item 6). The line changes nothing in the
# output, and a rank that dies still ends the job at once.
echo "== getp_mpi: the whole job's progress line, latency in the report"
if [ -x "$B/getp_mpi" ] && command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    MP=$OUT/mpi_progress
    rm -rf "$MP" && mkdir -p "$MP"
    GETP_MPI=("$B/getp_mpi" "$M" --tokenizer "$TOK")
    # 40 requests of uneven budgets (about 6,800 tokens: a few seconds on the tiny model), so that they end one by one
    for i in $(seq 0 39); do
        printf '{"prompt": "Request %d: %s", "max_tokens": %d}\n' "$i" "$(printf 'word %.0s' $(seq 0 $((i % 9))))" $((30 + i * 53 % 280))
    done >"$MP/req.jsonl"
    "${GETP[@]}" -i "$MP/req.jsonl" -o "$MP/ref.jsonl" --ignore-eos >/dev/null 2>&1

    # progress_ok LOG RANKS N REPORT: the lines drawn (\r-separated) are the whole
    # job's, never go back, and the last says N/N with the ranks' rates summed
    # (each rank's decode tokens over its forward-call seconds, from REPORT).
    progress_ok() {
        node -e '
const fs = require("fs");
const [log, ranks, n, report] = process.argv.slice(1);
const re = new RegExp(`^\\[getp_mpi, ${ranks} ranks\\] (\\d+)/(\\d+) requests \\(([0-9.]+)%\\), (\\d+) s, ETA (\\d+ s|\\?), ([0-9.]+) tok/s +$`);
const lines = fs.readFileSync(log, "utf8").split(/[\r\n]/).filter(l => l.startsWith("[getp_mpi"));
const fail = m => { console.log(m); console.log(lines); process.exit(1); };
if (lines.length < 3) fail("fewer than 3 lines drawn");
let last = -1;
for (const l of lines) {
    const m = re.exec(l);
    if (!m) fail("not the line format: " + l);
    const done = +m[1];
    if (+m[2] !== +n) fail("the total is not the job'"'"'s: " + l);
    if (done < last) fail("the count went back: " + l);
    last = done;
}
const end = re.exec(lines[lines.length - 1]);
if (+end[1] !== +n || end[3] !== "100.0" || end[5] !== "0 s") fail("the last line is not N/N");
if (!lines.slice(0, -1).some(l => { const d = +re.exec(l)[1]; return d > 0 && d < +n; })) fail("no line drawn mid-run");
if (!fs.readFileSync(log, "utf8").endsWith("\n")) fail("the line is not ended");
const rep = JSON.parse(fs.readFileSync(report, "utf8"));
const shares = rep.ranks.map(r => r.requests);
if (shares.some(s => s >= +n)) fail("one rank ran every request: this checks nothing");
const sum = rep.ranks.reduce((a, r) => a + r.decode_tokens / (r.prefill_s + r.decode_s), 0);
if (Math.abs(+end[6] - sum) > 0.1 * sum) fail(`tok/s ${end[6]} is not the ranks summed (${sum.toFixed(1)})`);
' "$@"
    }

    for k in 2 3; do
        timeout 120 mpirun --oversubscribe -np $k "${GETP_MPI[@]}" -i "$MP/req.jsonl" -o "$MP/out_$k.jsonl" --ignore-eos --progress \
            --report "$MP/report_$k.json" >"$MP/report_$k.txt" 2>"$MP/progress_$k.log"
        check "getp_mpi -np $k --progress: the line counts the whole job (40 requests), never goes back, ends at 40/40 with the ranks' tok/s summed" \
            progress_ok "$MP/progress_$k.log" $k 40 "$MP/report_$k.json"
        check "getp_mpi -np $k --progress: the output is getp's" cmp -s "$MP/ref.jsonl" "$MP/out_$k.jsonl"
        timeout 120 mpirun --oversubscribe -np $k "${GETP_MPI[@]}" -i "$MP/req.jsonl" -o "$MP/quiet_$k.jsonl" --ignore-eos \
            >/dev/null 2>"$MP/quiet_$k.log"
        check "getp_mpi -np $k: no line without --progress when stderr is no terminal, the same output" \
            bash -c "! grep -q 'getp_mpi, ' '$MP/quiet_$k.log' && cmp -s '$MP/out_$k.jsonl' '$MP/quiet_$k.jsonl'"
    done
    check "getp_mpi's report: time to first token and per output token, as getp prints them" \
        bash -c "grep -Eq '^time to first token \(s\): median [0-9.]+, p99 [0-9.]+$' '$MP/report_3.txt' &&
                 grep -Eq '^time per output token \(ms\): median [0-9.]+, p99 [0-9.]+$' '$MP/report_3.txt'"
    # every request's times come back from its rank: none is zero, none past the slowest rank's run
    check "getp_mpi --report: the latency fields, over every rank's requests (p50 <= p99, within the run)" node -e '
const rep = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const slowest = Math.max(...rep.ranks.map(r => r.generate_s));
const t = ["ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s"].map(k => rep[k]);
if (!t.every(x => typeof x === "number" && x > 0)) process.exit(1);
if (t[0] > t[1] || t[2] > t[3] || t[1] > slowest || t[3] > slowest) process.exit(1);
' "$MP/report_3.json"

    # a rank killed mid-run, with the line on: the job still ends at once, naming it
    printf 'OLD\n' >"$MP/keep.jsonl"
    printf '{"prompt": "short", "max_tokens": 2}\n{"prompt": "long", "max_tokens": 400}\n' >"$MP/short_long.jsonl"
    killed_ok() { # NAME NP FILE -- ARGS: exits non-zero (not the timeout) within 20 s, names rank 1, leaves keep.jsonl
        local name=$1 np=$2 file=$3; shift 4
        local start=$SECONDS err rc
        err=$(GETP_INJECT_FAULT=kill@1 timeout 30 mpirun --oversubscribe -np "$np" "${GETP_MPI[@]}" -i "$file" -o "$MP/keep.jsonl" --progress "$@" 2>&1 >/dev/null)
        rc=$?
        if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then fail "$name" "exit code $rc"
        elif [ $((SECONDS - start)) -gt 20 ]; then fail "$name" "took $((SECONDS - start)) s"
        elif ! grep -Eq "rank 1 .*signal 9" <<<"$err"; then fail "$name" "no word of rank 1: $err"
        elif [ "$(cat "$MP/keep.jsonl")" != OLD ]; then fail "$name" "output touched"
        else pass "$name (exit $rc)"; fi
    }
    killed_ok "getp_mpi --progress: a rank killed while rank 0 runs its share ends the job" 3 "$MP/req.jsonl" -- --ignore-eos
    # block schedule: rank 0 has the short request and waits, drawing the line, when rank 1 dies
    killed_ok "getp_mpi --progress: a rank killed while rank 0 waits for it ends the job" 2 "$MP/short_long.jsonl" -- --ignore-eos --schedule block
fi
