"""HF transformers generate() on the gpt-oss-20b shape, the side-by-side
reference for bench/bench_gpu.c (bench/run_gpu_bench.sh runs both).

Random bf16 weights made on the GPU (no checkpoint: the machine has no
network), greedy decoding, random prompts of PROMPT tokens, exactly NEW new
tokens per request (eos disabled). Decode tok/s = batch * (NEW - 1) tokens
over the time of generate() minus the time of the prefill-only call
(max_new_tokens=1), the same split bench_gpu reports.

usage: python3 bench/hf_generate.py BATCH [PROMPT NEW]
prints one line: hf batch=... decode_tok_s=... overall_tok_s=...
"""
import sys
import time

import torch
from transformers import GptOssConfig, GptOssForCausalLM


def config_20b():
    rope = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
            "original_max_position_embeddings": 4096, "truncate": False}
    return GptOssConfig(
        vocab_size=201088, hidden_size=2880, num_hidden_layers=24, num_attention_heads=64, num_key_value_heads=8,
        head_dim=64, num_local_experts=32, num_experts_per_tok=4, experts_per_token=4, intermediate_size=2880,
        sliding_window=128, layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(24)],
        max_position_embeddings=131072, initial_context_length=4096, rope_theta=150000.0, rope_scaling=dict(rope),
        rope_parameters=dict(rope, rope_theta=150000.0), rms_norm_eps=1e-5, attention_bias=True,
        tie_word_embeddings=False, eos_token_id=None, pad_token_id=0, use_cache=True)


def main():
    batch = int(sys.argv[1])
    prompt = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    new = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = GptOssForCausalLM._from_config(config_20b(), dtype=torch.bfloat16)
    model.eval()
    ids = torch.randint(0, 200000, (batch, prompt), device="cuda")
    mask = torch.ones_like(ids)
    kw = dict(attention_mask=mask, do_sample=False, eos_token_id=None, pad_token_id=0)

    def timed(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)
        torch.cuda.synchronize()
        assert out.shape[1] == prompt + n, out.shape
        return time.perf_counter() - t

    timed(2)  # warm-up
    t_prefill = timed(1)
    t_all = timed(new)
    decode = batch * (new - 1) / max(t_all - t_prefill, 1e-9)
    print(f"hf batch={batch} prompt={prompt} new={new} prefill_s={t_prefill:.3f} total_s={t_all:.2f} "
          f"decode_tok_s={decode:.1f} overall_tok_s={batch * new / t_all:.1f} "
          f"transformers={__import__('transformers').__version__} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
