#!/usr/bin/env python3
"""A ShareGPT-like offline workload for getp (issue 23), deterministic.

Prompt and output lengths are lognormal, heavy-tailed like ShareGPT's
(means about 205 prompt and 186 output tokens); each prompt is words of a
fixed list, one token each with its leading space, so the prompt's length in
o200k tokens is its word count (getp's JSONL output says the exact count).
Writes JSONL: {"prompt", "max_tokens", "id"}; run it with --ignore-eos so
each request makes exactly max_tokens tokens, e.g.

    python3 bench/workload.py > sharegpt_like.jsonl
    build/getp_gpu --dummy-weights 20b:mxfp4 --batch 1024 --ignore-eos \\
        -i sharegpt_like.jsonl -o out.jsonl
"""
import argparse
import math
import random
import sys

WORDS = ("the of and to in is that it for on with as was at by be this from have or an are not but what all were when we there "
         "can one your which their said if do will each about how up out them then she many some so these would other into has "
         "more her two like him see time could no make than first been its who now people my made over did down only way find "
         "use may water long little very after words called just where most know get through back much before go good new "
         "write our used me man too any day same right look think also around another came come work three word must because "
         "does part even place well such here take why things help put years different away again off went old number great "
         "tell men say small every found still between name should home big give air line set own under read last never us "
         "left end along while might next sound below saw something thought both few those always looked show large often "
         "together asked house world going want school important until form food keep children feet land side without boy "
         "once animals life enough took sometimes four head above kind began almost live page got earth need far hand high").split()


def lognormal_lengths(rng, n, mean, sigma, lo, hi):
    mu = math.log(mean) - sigma * sigma / 2  # E[exp(N(mu, sigma^2))] = mean
    return [min(hi, max(lo, int(round(rng.lognormvariate(mu, sigma))))) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--prompt-mean", type=float, default=205)
    ap.add_argument("--output-mean", type=float, default=186)
    ap.add_argument("--context", type=int, default=4096, help="prompt + output stay within it")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    prompts = lognormal_lengths(rng, a.requests, a.prompt_mean, 1.0, 4, a.context // 2)
    outputs = lognormal_lengths(rng, a.requests, a.output_mean, 0.8, 1, a.context // 2)
    for i, (p, o) in enumerate(zip(prompts, outputs)):
        words = " ".join(rng.choice(WORDS) for _ in range(p))
        sys.stdout.write('{"prompt": "%s", "max_tokens": %d, "id": %d}\n' % (words, o, i))
    print(f"workload: {a.requests} requests, prompt tokens mean {sum(prompts) / a.requests:.1f} (max {max(prompts)}), "
          f"output tokens mean {sum(outputs) / a.requests:.1f} (max {max(outputs)}), seed {a.seed}", file=sys.stderr)


if __name__ == "__main__":
    main()
