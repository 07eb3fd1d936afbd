"""Reads the per-block timeline of one decode step (hip/block_trace.h: a build
with -DGETP_BLOCK_TRACE, run with GETP_BLOCK_TRACE=step) and prints, for each
kernel of a layer averaged over the middle layers, when its blocks started,
when their waits for the kernel before returned, the marks inside it and when
they ended (and how many of its blocks the busiest multiprocessor ran, against
the mean over all of them), all relative to the end of the kernel before it;
then, for the kernels whose multiprocessors ran unequal numbers of their
blocks, how long a block ran after its wait by how many of them shared its
multiprocessor (whether a multiprocessor's own throughput, not DRAM, bounds
the kernel: then its blocks run longer where more of them share one).

usage: python3 bench/block_trace.py block_trace.csv [FIRST_LAYER LAST_LAYER]

The CSV (written by hip/hip_backend.hip): a header, then one line per block:
kind (TK_* in hip/block_trace.h; matmuls TK_MATMUL + mode), block (linear
index), blocks (of the launch), sm, then start, waited, mark1..mark3 and end
in ns of the GPU's global clock (0: not reached)."""
import collections
import statistics
import sys

KINDS = {0: "embed", 1: "qkv finish", 2: "attention", 3: "post-attention", 4: "combine", 5: "argmax", 6: "sample",
         7: "matmul", 8: "down", 9: "gate_up", 16: "logprobs"}
LAYER = ["qkv", "qkv finish", "attention", "o", "post-attention", "gate_up", "down", "combine"]


def instances(rows):
    """Kernel launches: records of one kind and grid, split where they start
    more than 40 us after the launch's first block (layers are ~130 us apart)."""
    by_key = collections.defaultdict(list)
    for r in rows:
        by_key[(r["kind"], r["blocks"])].append(r)
    out = []
    for key, rs in by_key.items():
        rs.sort(key=lambda r: r["start"])
        cur = [rs[0]]
        for r in rs[1:]:
            if r["start"] - cur[0]["start"] > 40000:
                out.append(cur)
                cur = []
            cur.append(r)
        out.append(cur)
    out.sort(key=lambda blocks: min(r["start"] for r in blocks))
    return out


def label(seq):
    names = []
    for i, blocks in enumerate(seq):
        name = KINDS.get(blocks[0]["kind"], "?")
        if name == "matmul":
            prev = names[-1] if names else ""
            nxt = KINDS.get(seq[i + 1][0]["kind"]) if i + 1 < len(seq) else ""
            name = "o" if prev == "attention" else "qkv" if nxt in ("qkv finish", "attention") else "unembedding"  # attention: GETP_FUSED_ROPE
        names.append(name)
    return names


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = []
    with open(sys.argv[1]) as f:
        header = f.readline().strip().split(",")
        for line in f:
            rows.append(dict(zip(header, map(int, line.split(",")))))
    if not rows:
        sys.exit("block_trace.py: no records in %s" % sys.argv[1])
    seq = instances(rows)
    names = label(seq)
    stamps = sorted({r["end"] for r in rows})
    steps = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    t0 = min(r["start"] for r in rows)
    print("step: %.1f us, %d launches, %d blocks; clock step %d ns" % ((max(r["end"] for r in rows) - t0) / 1e3, len(seq), len(rows),
                                                                      min(steps) if steps else 0))
    layers, cur = [], None
    for name, blocks in zip(names, seq):
        if name == "qkv":
            cur = {}
            layers.append(cur)
        if cur is not None and name in LAYER:
            cur[name] = blocks
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    last = int(sys.argv[3]) if len(sys.argv) > 3 else len(layers) - 2
    # whole layers: every kernel of LAYER, but for qkv finish where the attention kernel does its work (GETP_FUSED_ROPE)
    use = [l for l in layers[first:last + 1] if all(n in l for n in LAYER if n != "qkv finish")]
    fused = bool(use) and "qkv finish" not in use[0]
    names_used = [n for n in LAYER if not (fused and n == "qkv finish")]
    print("layers %d..%d (%d averaged); us relative to the previous kernel's last block end" % (first, last, len(use)))
    all_sms = len({r["sm"] for r in rows})
    cols = ["kernel", "blocks", "sms", "max/sm", "mean/sm", "1st start", "1st wait", "last wait", "mark1", "mark2", "mark3", "med end", "last end", "adds"]
    print("%-15s %6s %4s %6s %7s" % tuple(cols[:5]) + "".join("%10s" % c for c in cols[5:]))
    stats = collections.defaultdict(lambda: collections.defaultdict(list))
    for li, layer in enumerate(use):
        prev_end = None
        if li > 0 or first > 0:
            prev_layer = layers[first + li - 1] if first + li - 1 >= 0 else None
            if prev_layer and "combine" in prev_layer:
                prev_end = max(r["end"] for r in prev_layer["combine"])
        for name in names_used:
            blocks = layer[name]
            ref = prev_end if prev_end is not None else min(r["start"] for r in blocks)
            s = stats[name]
            s["blocks"].append(len(blocks))
            s["sms"].append(len({r["sm"] for r in blocks}))
            per_sm = collections.Counter(r["sm"] for r in blocks)  # the busiest SM bounds a one-wave kernel
            s["max/sm"].append(max(per_sm.values()))
            s["mean/sm"].append(len(blocks) / all_sms)
            s["1st start"].append((min(r["start"] for r in blocks) - ref) / 1e3)
            waits = [r["waited"] for r in blocks if r["waited"]]
            s["1st wait"].append((min(waits) - ref) / 1e3 if waits else float("nan"))
            s["last wait"].append((max(waits) - ref) / 1e3 if waits else float("nan"))
            for m in (1, 2, 3):
                ms = [r["mark%d" % m] for r in blocks if r["mark%d" % m]]
                s["mark%d" % m].append((statistics.median(ms) - ref) / 1e3 if ms else float("nan"))
            ends = sorted(r["end"] for r in blocks)
            s["med end"].append((statistics.median(ends) - ref) / 1e3)
            s["last end"].append((ends[-1] - ref) / 1e3)
            s["adds"].append((ends[-1] - ref) / 1e3)
            prev_end = ends[-1]
    total = 0.0
    for name in names_used:
        s = stats[name]
        avg = {k: statistics.mean(v) for k, v in s.items()}
        total += avg["adds"]
        print("%-15s %6d %4d %6.1f %7.2f" % (name, avg["blocks"], avg["sms"], avg["max/sm"], avg["mean/sm"]) +
              "".join("%10.2f" % avg[c] for c in cols[5:]))
    print("layer: %.1f us" % total)
    # the blocks a multiprocessor ran share it only where the launch was one wave: every block
    # started before the first one ended (else some ran after others, not beside them)
    print("a block's run after its wait (us, median) by the blocks of its kernel on its multiprocessor"
          " (one wave: all of them there at once, else '(waves)'):")
    for name in names_used:
        runs = collections.defaultdict(list)
        for layer in use:
            blocks = layer[name]
            per_sm = collections.Counter(r["sm"] for r in blocks)
            for r in blocks:
                if r["waited"]:
                    runs[per_sm[r["sm"]]].append((r["end"] - r["waited"]) / 1e3)
        one_wave = all(max(r["start"] for r in layer[name]) < min(r["end"] for r in layer[name]) for layer in use)
        if len(runs) > 1:
            print("  %-15s " % (name if one_wave else name + " (waves)") + "  ".join("%d a multiprocessor: %.2f (%d blocks)" % (n, statistics.median(v), len(v) // len(use))
                                                for n, v in sorted(runs.items())))
    for name, blocks in zip(names, seq):
        if name in ("unembedding", "argmax", "sample"):
            print("%-15s %6d blocks, %.1f us from first start to last end" % (name, len(blocks), (max(r["end"] for r in blocks) -
                                                                                          min(r["start"] for r in blocks)) / 1e3))


if __name__ == "__main__":
    main()
