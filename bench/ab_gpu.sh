#!/usr/bin/env bash
# A/B on the GPU machine: bench_gpu of this tree against another source tree
# (BASE, e.g. `git archive COMMIT | tar -x -C BASE`), both built here, the same
# configurations run alternately (base, new) ROUNDS times, so machine drift
# hits both alike. Prints every key=value line, then a table of the medians.
# usage: bench/ab_gpu.sh BASE [ROUNDS] [CONFIG...]   CONFIG: "PRESET BATCH REQUESTS PROMPT NEW"
# PCRE2: where the machine lacks pcre2.h / libpcre2-8.so, set PCRE2_CFLAGS and
# PCRE2_LIBS (e.g. -I.carry/pcre2 and -l:libpcre2-8.so.0), as for make.
set -uo pipefail
cd "$(dirname "$0")/.."
BASE=$(cd "$1" && pwd); shift
ROUNDS=${1:-2}; shift || true
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=("20b 1 2 64 128" "20b:mxfp4 1 2 64 128" "20b 256 256 64 128" "20b:mxfp4 256 256 64 128"
                                     "20b 512 512 64 128" "20b:mxfp4 512 512 64 128")
MK=(make -s -j"$(nproc)" PCRE2_CFLAGS="${PCRE2_CFLAGS:-}" PCRE2_LIBS="${PCRE2_LIBS:--lpcre2-8}")
"${MK[@]}" build/bench_gpu >/tmp/ab_new_build.log 2>&1 & a=$!
(cd "$BASE" && "${MK[@]}" build/bench_gpu) >/tmp/ab_base_build.log 2>&1 & b=$!
wait $a || { echo "ab_gpu: this tree failed to build"; tail -n 20 /tmp/ab_new_build.log; exit 1; }
wait $b || { echo "ab_gpu: $BASE failed to build"; tail -n 20 /tmp/ab_base_build.log; exit 1; }
LOG=${AB_LOG:-/tmp/ab_gpu.log}
: >"$LOG"
for r in $(seq 1 "$ROUNDS"); do
    for cfg in "${CONFIGS[@]}"; do
        read -r preset batch req prompt new <<<"$cfg"
        for side in base new; do
            bin=build/bench_gpu; [ $side = base ] && bin=$BASE/build/bench_gpu
            line=$("$bin" --dummy "$preset" --batch "$batch" --requests "$req" --prompt "$prompt" --new "$new" 2>&1 | tail -n 1)
            echo "side=$side round=$r $line" | tee -a "$LOG"
        done
    done
done
python3 - "$LOG" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    if 'decode_tok_s' not in kv: continue
    key = (kv['model'], int(kv['batch']))
    rows.setdefault(key, {}).setdefault(kv['side'], []).append((float(kv['decode_tok_s']), float(kv['overall_tok_s'])))
# decode: the decode rows' share of the run's time (a call with prompt rows
# too is split by rows); overall: generated tokens over the whole run
print(f"{'model':<12}{'batch':>6}{'base decode':>13}{'new decode':>12}{'new/base':>10}{'base overall':>14}{'new overall':>13}{'new/base':>10}")
for (model, batch), sides in sorted(rows.items()):
    med = lambda side, i: statistics.median(x[i] for x in sides.get(side, [(0, 0)]))
    bd, nd, bo, no = med('base', 0), med('new', 0), med('base', 1), med('new', 1)
    print(f"{model:<12}{batch:>6}{bd:>13.1f}{nd:>12.1f}{(nd / bd if bd else 0):>10.3f}{bo:>14.1f}{no:>13.1f}{(no / bo if bo else 0):>10.3f}")
PY
