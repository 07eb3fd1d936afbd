#!/usr/bin/env python3
"""results_table.py - the rows of bench/RESULTS.md's current table, made from
benchmark output.

usage: python3 bench/results_table.py [--commit C] [--machine M] [--command CMD]
                                      [--latest] [--no-header] FILE... ('-' = stdin)

Reads, in each FILE, the lines these tools print and ignores the rest:
  - bench_gpu (bench/bench_gpu.c), one line per run:
      model=20b batch=1 requests=4 prompt=64 new=256 load_s=... prefill_tok_s=...
      decode_tok_s=324.6 overall_tok_s=320.4 copy_bw_GBs=2997 step_bytes_GB=7.236
      roofline_b1_tok_s=414.2 info="NVIDIA H100 80GB HBM3, KV cache ..."
  - bench/hf_generate.py: "hf batch=1 prompt=64 new=32 ... decode_tok_s=18.5
    overall_tok_s=..." and bench/run_gpu_bench.sh's "hf batch=256 failed (...)"
    (which names no sizes: those of the file's HF line before it are used);
  - bench/run_gpu_bench.sh's "gpu: NAME, ..." line (the machine of what follows);
  - bench/bench_cpu.sh's table: its "machine: ..." line, its header
    ("model batch decode tok/s ...") and the rows after it
    ("tiny 1 263 207 2447": model, batch, decode, overall, roofline);
  - "#@ key=value ..." lines, each starting a block: its keys hold for every
    later line of the file, up to the next "#@" line, that does not carry
    them itself (commit=, machine=, via=, roofline_from=, command=, or any
    bench_gpu key). Values with spaces are double-quoted. Other lines that
    start with "#" are comments.
and prints a markdown table: configuration, commit, machine, command, decode
tok/s, overall tok/s, the batch-1 roofline and the decode figure's share of it.
Runs of one configuration (same commit, machine and command) share a row,
their figures joined by " / " in the order read; --latest keeps, for each
machine and command, only the last commit's row.

Where each column comes from:
  - commit: bench_gpu does not print it; a commit= key (from a "#@" line) or
    --commit (e.g. --commit $(git rev-parse --short HEAD)).
  - machine: a machine= key, else the "gpu:" line, else the device name that
    starts bench_gpu's info= (hip_backend's "NAME, KV cache ..."), else
    --machine.
  - command: a command= key or --command, else rebuilt from bench_gpu's keys:
    "bench_gpu --dummy MODEL" when model= is a preset (tiny, mid, 20b, 120b,
    optionally :mxfp4), else "bench_gpu MODEL", then --batch, --requests,
    --prompt, --new. A key that is missing shows as "?". bench_gpu does not
    print --top-p, so the command assumes greedy decoding; and batch= is the
    batch the backend granted (at most --batch). A via= key is added as
    "(in `VIA`)" after the command, e.g. via="run_gpu_bench.sh 32".
  - roofline: bench_gpu's roofline_b1_tok_s, which it computes as the copy
    bandwidth it measures (a device-to-device copy, bytes read + written:
    copy_bw_GBs) over the bytes one batch-1 decode step must read
    (step_bytes_GB: the dense and router weights, K of E experts per layer,
    the unembedding, the KV cache at prompt + new positions). Where the line
    has no roofline_b1_tok_s but has both of the others, it is computed here
    the same way (copy_bw_GBs / step_bytes_GB). A line that carries
    roofline_from=X took its roofline from another call (X); its share is
    printed as "~NN% (roofline of X)".
  - % of roofline: mean decode / mean roofline of the row, batch-1 rows only:
    the roofline is a batch-1 step's; at larger batches a step reads more
    experts and the GPU is not bound by those bytes, so the column shows "-".
    bench_cpu.sh's rows take the roofline of its table (cpu_roofline).
  - HF rows: bench/hf_generate.py's decode and overall figures (its decode
    rate is per step of the batch), no roofline.
"""
import re
import shlex
import signal
import sys
from collections import OrderedDict

PRESETS = {"tiny", "mid", "20b", "120b"}
KV = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"]*)"|\S+)')
CPU_HEADER = re.compile(r"^model\s+batch\s+decode tok/s")
CPU_ROW = re.compile(r"^(\S+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$")


def pairs(text):
    return {k: v[1:-1] if v.startswith('"') else v for k, v in KV.findall(text)}


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def config_label(model, batch):
    base, _, suffix = model.partition(":")
    if base in PRESETS:
        name = "%s %s" % (base, "MXFP4 experts" if suffix == "mxfp4" else "BF16")
    else:
        name = model.rsplit("/", 1)[-1]
    return "%s, batch %s" % (name, batch)


def gpu_command(r):
    model = r.get("model", "?")
    base, _, suffix = model.partition(":")
    cmd = "bench_gpu " + ("--dummy " + model if base in PRESETS and suffix in ("", "mxfp4") else shlex.quote(model))
    for key, flag in (("batch", "--batch"), ("requests", "--requests"), ("prompt", "--prompt"), ("new", "--new")):
        cmd += " %s %s" % (flag, r.get(key, "?"))
    return cmd


def read_runs(path, defaults):
    """Yields one dict per benchmark line: kind, label, commit, machine,
    command, batch, decode, overall, roofline, roofline_from."""
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    ctx, cpu_table, hf_sizes = {}, False, {}
    with f:
        for line in f:
            line = line.strip()
            if line.startswith("#@"):  # a new block: its keys replace the last block's
                ctx, cpu_table, hf_sizes = pairs(line[2:]), False, {}
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("gpu: "):
                ctx.setdefault("machine", line[5:].split(",")[0].strip())
                continue
            if line.startswith("machine: "):  # bench_cpu.sh
                ctx.setdefault("machine", line[9:].strip())
                continue
            if CPU_HEADER.match(line):
                cpu_table = True
                continue
            r = None
            if " model=" in " " + line and "decode_tok_s=" in line:  # bench_gpu's line, maybe behind ab_gpu.sh's side= round=
                r = dict(ctx, **pairs(line))
                info_dev = r.get("info", "").split(", KV cache")[0].strip() if r.get("info") else ""
                roof, roof_text = num(r.get("roofline_b1_tok_s")), r.get("roofline_b1_tok_s")
                bw, step = num(r.get("copy_bw_GBs")), num(r.get("step_bytes_GB"))
                if roof is None and bw and step:
                    roof, roof_text = bw / step, "%.1f" % (bw / step)
                elif roof and bw and step and abs(roof - bw / step) > 0.005 * roof:
                    print("results_table: %s: roofline_b1_tok_s=%s but copy_bw_GBs / step_bytes_GB = %.1f"
                          % (path, r["roofline_b1_tok_s"], bw / step), file=sys.stderr)
                run = {"kind": "gpu", "label": config_label(r.get("model", "?"), r.get("batch", "?")),
                       "command": r.get("command") or defaults.get("command") or gpu_command(r),
                       "machine": r.get("machine") or info_dev or defaults.get("machine"),
                       "batch": r.get("batch"), "decode": r.get("decode_tok_s"), "overall": r.get("overall_tok_s"),
                       "roofline": roof, "roofline_text": roof_text}
            elif line.startswith("hf batch="):
                r = dict(ctx, **pairs(line))
                failed = " failed" in line and "decode_tok_s=" not in line
                if failed:  # run_gpu_bench.sh's failure line: the sizes of the file's last HF run
                    r = dict(hf_sizes, **r)
                else:
                    hf_sizes = {k: r[k] for k in ("prompt", "new") if k in r}
                why = re.search(r"failed(.*)$", line).group(1).strip() if failed else ""
                run = {"kind": "hf", "label": "HF generate(), batch %s" % r.get("batch", "?"),
                       "command": r.get("command") or "python3 bench/hf_generate.py %s %s %s"
                       % (r.get("batch", "?"), r.get("prompt", "?"), r.get("new", "?")),
                       "machine": r.get("machine") or defaults.get("machine"), "batch": r.get("batch"),
                       "decode": "failed " + why if failed else r.get("decode_tok_s"),
                       "overall": None if failed else r.get("overall_tok_s"), "roofline": None, "roofline_text": None}
            elif cpu_table and CPU_ROW.match(line):
                model, batch, dec, tps, roof = CPU_ROW.match(line).groups()
                r = dict(ctx)
                run = {"kind": "cpu", "label": "%s CPU, batch %s" % (model, batch),
                       "command": r.get("command") or defaults.get("command") or "bash bench/bench_cpu.sh",
                       "machine": r.get("machine") or defaults.get("machine"), "batch": batch,
                       "decode": dec, "overall": tps, "roofline": num(roof), "roofline_text": roof}
            else:
                continue
            run["commit"] = r.get("commit") or defaults.get("commit") or "?"
            run["machine"] = run["machine"] or "?"
            run["roofline_from"] = r.get("roofline_from")
            run["via"] = r.get("via") if run["kind"] != "cpu" else None
            yield run


def rows(runs, latest):
    groups = OrderedDict()
    for run in runs:
        key = (run["machine"], run["label"], run["command"], run["commit"])
        groups.setdefault(key, []).append(run)
    if latest:
        last = OrderedDict()
        for key, g in groups.items():
            last.pop(key[:3], None)  # keeps file order of the newest
            last[key[:3]] = g
        groups = OrderedDict((k + (g[0]["commit"],), g) for k, g in last.items())
    for (machine, label, command, commit), g in groups.items():
        decodes = [num(x["decode"]) for x in g if num(x["decode"]) is not None]
        roofs = [x["roofline"] for x in g if x["roofline"]]
        joined = lambda k: " / ".join(x[k] for x in g if x[k]) or "-"
        roof_cell = share = "-"
        if roofs:
            distinct = []
            for x in g:
                if x["roofline_text"] and x["roofline_text"] not in distinct:
                    distinct.append(x["roofline_text"])
            roof_cell = " / ".join(distinct)
            if g[0]["batch"] == "1" and decodes:
                pct = 100 * (sum(decodes) / len(decodes)) / (sum(roofs) / len(roofs))
                src = g[0]["roofline_from"]
                share = "~%.0f%% (roofline of %s)" % (pct, src) if src else "%.0f%%" % pct
            if g[0]["batch"] != "1":
                roof_cell = "-"
        via = " (in `%s`)" % g[0]["via"] if g[0]["via"] else ""
        yield [label, commit, machine, "`%s`%s" % (command, via), joined("decode"), joined("overall"), roof_cell, share]


def main(argv):
    defaults, files, latest, header = {}, [], False, True
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            return 0
        if a in ("--commit", "--machine", "--command") and i + 1 < len(argv):
            defaults[a[2:]] = argv[i + 1]
            i += 2
            continue
        if a == "--latest":
            latest = True
        elif a == "--no-header":
            header = False
        elif a.startswith("--"):
            print("results_table: unknown option %s (see --help)" % a, file=sys.stderr)
            return 2
        else:
            files.append(a)
        i += 1
    if not files:
        print("usage: results_table.py [--commit C] [--machine M] [--command CMD] [--latest] [--no-header] FILE...",
              file=sys.stderr)
        return 2
    runs = [run for path in files for run in read_runs(path, defaults)]
    if not runs:
        print("results_table: no benchmark lines in %s" % " ".join(files), file=sys.stderr)
        return 1
    if header:
        print("| configuration | commit | machine | command | decode tok/s | overall tok/s | batch-1 roofline tok/s | % of roofline |")
        print("|---|---|---|---|---|---|---|---|")
    for r in rows(runs, latest):
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    sys.exit(main(sys.argv[1:]))
