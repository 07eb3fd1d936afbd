"""Draws the scaling plot from getp_mpi JSON reports (--report).

usage: python3 bench/plot_scaling.py OUT.png REPORT.json [REPORT.json ...]

Left: total tok/s against the number of ranks (GPUs), with the ideal line
(the smallest run scaled linearly); middle: parallel efficiency; right: each
rank's load time (until its replica was ready, and the weight copy alone)
by load method. Also prints the numbers as a table.
"""
import json
import sys


def main():
    out, paths = sys.argv[1], sys.argv[2:]
    runs = []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        ranks = r["ranks"]
        # generation throughput (all tokens over the slowest rank's generation time) when the
        # report has it; the replica load is shown on its own
        runs.append({"gpus": len(ranks), "tps": r.get("generation_tok_per_s", r["total_tok_per_s"]), "imbalance": r["imbalance"],
                     "hosts": len({x["host"] for x in ranks}), "load": max(x.get("weights_s", x["load_s"]) for x in ranks), "path": p,
                     "ranks": ranks})
    runs.sort(key=lambda x: x["gpus"])
    base = runs[0]
    print(f"{'gpus':>5} {'hosts':>5} {'tok/s':>10} {'efficiency':>10} {'imbalance':>9} {'max weights s':>13}")
    for r in runs:
        r["eff"] = r["tps"] / (base["tps"] * r["gpus"] / base["gpus"]) if base["tps"] > 0 else 0.0
        print(f"{r['gpus']:>5} {r['hosts']:>5} {r['tps']:>10.1f} {r['eff']:>10.3f} {r['imbalance']:>9.3f} {r['load']:>13.2f}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_scaling: matplotlib is not installed; table only", file=sys.stderr)
        return
    g = [r["gpus"] for r in runs]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.5))
    a.plot(g, [r["tps"] for r in runs], "o-", label="measured")
    a.plot(g, [base["tps"] * x / base["gpus"] for x in g], "--", color="gray", label="linear")
    a.set_xlabel("GPUs (ranks)"), a.set_ylabel("total tok/s"), a.set_title("throughput"), a.legend()
    b.plot(g, [r["eff"] for r in runs], "o-")
    b.set_ylim(0, 1.1), b.set_xlabel("GPUs (ranks)"), b.set_ylabel("efficiency"), b.set_title("parallel efficiency")
    # per rank of each run: time until the replica was ready, and the weight copy alone, by method
    labels, ready, copy, colors = [], [], [], []
    for r in runs:
        for x in r["ranks"]:
            method = x.get("load_method", "-")
            labels.append(f"{r['gpus']} GPU{'s' if r['gpus'] > 1 else ''}\nrank {x['rank']}\n{method.split(' ')[0]}")
            ready.append(x["load_s"])
            copy.append(x.get("weights_s", 0.0))
            colors.append("tab:green" if method.startswith("peer") else "tab:blue")
    pos = list(range(len(labels)))
    c.bar([p - 0.2 for p in pos], ready, 0.4, color=colors, alpha=0.45, label="replica ready (load_s)")
    c.bar([p + 0.2 for p in pos], copy, 0.4, color=colors, label="weights to GPU (weights_s)")
    c.set_xticks(pos), c.set_xticklabels(labels, fontsize=8)
    c.set_ylabel("seconds"), c.set_title("replica load per rank (blue host, green peer)"), c.legend(fontsize=8, loc="upper left")
    for ax in (a, b):
        ax.set_xscale("log", base=2), ax.set_xticks(g), ax.set_xticklabels([str(x) for x in g])
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
