#!/usr/bin/env python3
"""ncu_source_summary.py - one kernel's ncu source page (SASS instruction by
instruction) summed the way ledger L187 reads it: instructions a warp and by
opcode, the stall reasons of the sampled warps, and where the samples fall
(prologue and epilogue: instructions a warp runs at most once; the first use
of a group's MXFP4 weights: the scale's LEA; the x staging's synchronous
loads: STS in the loop and the branch waiting on their loads; the rest of the
loop).

usage: bench/ncu_source_summary.py NCU_SOURCE.csv [WARPS] [K_STEPS]
  NCU_SOURCE.csv: ncu ... --section SourceCounters --page source
                  --print-source sass --csv (bench/gpu_checkup.sh bulk writes one)
  WARPS:   warps of the launch (1440: batch 1's gate_up of 20b)
  K_STEPS: mma k steps a warp (180: 2880 / 16)
"""
import collections
import csv
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    warps = int(sys.argv[2]) if len(sys.argv) > 2 else 1440
    k_steps = int(sys.argv[3]) if len(sys.argv) > 3 else 180
    rows = list(csv.reader(open(sys.argv[1])))
    at = next((i for i, r in enumerate(rows) if r and r[0] == "Address"), None)
    if at is None:
        sys.exit(f"{sys.argv[1]}: no 'Address' header row: not an ncu source page (--page source --csv)")
    hdr = rows[at]
    col = {h: i for i, h in enumerate(hdr)}
    data = [r for r in rows[at + 1:] if len(r) == len(hdr)]
    stalls = [h for h in hdr if h.startswith("stall_") and "Not Issued" not in h]
    samples = sum(int(r[col["# Samples"]]) for r in data) or 1
    executed = sum(int(r[col["Instructions Executed"]]) for r in data)
    print(f"{len(data)} SASS instructions, {executed / warps:.0f} executed a warp, {executed / warps / k_steps:.1f} a k step; {samples} stall samples")

    by_op, op_samples = collections.Counter(), collections.Counter()
    for r in data:
        words = [w for w in r[col["Source"]].split() if not w.startswith("@")]
        op = words[0] if words else "?"
        by_op[op] += int(r[col["Instructions Executed"]])
        op_samples[op] += int(r[col["# Samples"]])
    print("opcode                        a k step  share of samples")
    for op, n in by_op.most_common(16):
        print(f"  {op:<28}{n / warps / k_steps:8.2f}  {op_samples[op] / samples:8.3f}")

    where, why = collections.Counter(), collections.defaultdict(collections.Counter)
    for r in data:
        s = int(r[col["# Samples"]])
        per_warp = int(r[col["Instructions Executed"]]) // warps
        src = r[col["Source"]]
        place = "prologue and epilogue (at most once a warp)" if per_warp <= 1 else "the rest of the loop"
        if "LEA" in src and "0x3f00" in src:
            place = "first use of a group's weights (the scale's LEA)"
        elif per_warp > 1 and "STS" in src:
            place = "x staging (STS of loaded words)"
        elif per_warp > 1 and "BRA" in src and int(r[col["stall_long_sb"]] or 0) > s // 2:
            place = "x staging (a branch waiting on its loads)"
        where[place] += s
        for h in stalls:
            why[place][h[6:]] += int(r[col[h]] or 0)
    print("where the samples fall")
    for place, n in where.most_common():
        reasons = ", ".join(f"{k} {v / samples:.3f}" for k, v in why[place].most_common(4) if v)
        print(f"  {n / samples:6.3f}  {place}: {reasons}")


if __name__ == "__main__":
    main()
