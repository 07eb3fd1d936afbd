"""Reads a kernel_trace.c CSV of batch-1 decode steps and prints where a step's
time goes: for each kernel of a layer, how much later than the kernel before it
it ends (its share of the critical path; with programmatic dependent launch the
kernels overlap, so their own durations do not add up to the step).

usage: python3 bench/kernel_trace.py trace.csv KERNELS_PER_STEP [STEPS]
(the 20b shape with sampling: 24 x 8 + 4 = 196 kernels a step; the last STEPS
steps, default 40, are read)"""
import collections
import sys


def short_name(name, grid):
    for key in ("matmul_kernel", "qkv_finish", "post_attention", "attention", "combine", "embed", "argmax", "sample"):
        if key in name:
            if key == "matmul_kernel" and "ILi" in name:  # template arguments: dtype, mode, token tiles
                args = name[name.index("ILi"):].replace("ILi", "").replace("ELi", ",").split("E")[0]
                return "matmul<%s> %s" % (args, grid)
            return "%s %s" % (key, grid)
    return name[:30]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    per_step, steps = int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 40
    rows = []
    for line in open(sys.argv[1]):
        start, end, gx, gy, gz, name = line.rstrip("\n").split(",", 5)
        rows.append((int(start), int(end), "%sx%sx%s" % (gx, gy, gz), name))
    rows.sort()
    last = rows[-per_step * steps:]
    if len(last) < 2:
        sys.exit("kernel_trace.py: too few kernels in %s" % sys.argv[1])
    added = collections.OrderedDict()
    prev_end = None
    for start, end, grid, name in last:
        key = short_name(name, grid)
        n, total = added.get(key, (0, 0.0))
        added[key] = (n + 1, total + ((end - prev_end) / 1e3 if prev_end is not None else 0.0))
        prev_end = end
    print("step: %.1f us (traced), %d kernels" % ((last[-1][1] - last[0][0]) / 1e3 / steps, per_step))
    print("%-36s %6s %12s" % ("kernel (grid)", "calls", "adds us"))
    for key, (n, total) in added.items():
        print("%-36s %6d %12.2f" % (key, n, total / n))


if __name__ == "__main__":
    main()
