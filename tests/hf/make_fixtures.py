"""Builds the forward-pass oracle fixtures with Hugging Face transformers.

Run on a machine with torch + transformers (the GPU device machine):
    python3 tests/hf/make_fixtures.py tests/fixtures

For each config it writes a tiny random gpt-oss checkpoint in the layout the
published checkpoints use (config.json + model.safetensors; dense experts as
gate_up_proj [E, H, 2I] / down_proj [E, I, H], or MXFP4 *_blocks/*_scales),
loads it back with GptOssForCausalLM.from_pretrained (so HF decides how the
checkpoint is read), and saves HF's logits for every prompt position and its
greedy continuation. tests/test_forward.c compares getp against these.

    python3 tests/hf/make_fixtures.py tests/fixtures --bf16-experts
adds, for each fixture already there (its checkpoint and prompt as they are),
HF's logits and greedy continuation with the experts' activations rounded to
bf16 (their input and the SwiGLU output that down multiplies: getp's
--precision bf16) as logits_bf16_experts.f32 and greedy_bf16_experts.txt.
"""
import inspect
import json
import math
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import GptOssForCausalLM

FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]

CONFIGS = {
    # f32 everywhere; both layer types, GQA 4:2, window 6 < prompt 20, YaRN in range
    "f32": dict(vocab=512, hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, experts=4, topk=2, inter=64,
                window=6, theta=150000.0, factor=32.0, orig_ctx=128, mxfp4=False, seed=1),
    # MXFP4 experts; 6 query heads over 3 kv heads, 3 layers, different RoPE
    "mxfp4": dict(vocab=384, hidden=96, layers=3, heads=6, kv_heads=3, head_dim=16, experts=8, topk=4, inter=64,
                  window=5, theta=50000.0, factor=8.0, orig_ctx=256, mxfp4=True, seed=2),
}
PROMPT_LEN = 20
NEW_TOKENS = 32


def hf_config(c):
    layer_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(c["layers"])]
    rope = {"rope_type": "yarn", "factor": c["factor"], "beta_fast": 32.0, "beta_slow": 1.0,
            "original_max_position_embeddings": c["orig_ctx"], "truncate": False}
    cfg = {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True,
        "attention_dropout": 0.0, "head_dim": c["head_dim"], "hidden_act": "silu", "hidden_size": c["hidden"],
        "initial_context_length": c["orig_ctx"], "initializer_range": 0.02, "intermediate_size": c["inter"],
        "layer_types": layer_types, "max_position_embeddings": int(c["orig_ctx"] * c["factor"]),
        "num_attention_heads": c["heads"], "num_experts_per_tok": c["topk"], "experts_per_token": c["topk"],
        "num_hidden_layers": c["layers"], "num_key_value_heads": c["kv_heads"], "num_local_experts": c["experts"],
        "output_router_logits": False, "rms_norm_eps": 1e-5, "rope_theta": c["theta"],
        "rope_scaling": dict(rope), "rope_parameters": dict(rope, rope_theta=c["theta"]),
        "sliding_window": c["window"], "swiglu_limit": 7.0, "tie_word_embeddings": False,
        "torch_dtype": "float32", "use_cache": True, "vocab_size": c["vocab"],
        "eos_token_id": None, "pad_token_id": 0,
    }
    if c["mxfp4"]:
        cfg["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
            "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    return cfg


def random_mxfp4(g, experts, rows, cols):
    """Random blocks [E, rows, cols/32, 16] and e8m0 scales near 2^-3 (row scale ~ 1/sqrt(cols))."""
    blocks = torch.randint(0, 256, (experts, rows, cols // 32, 16), generator=g, dtype=torch.int32).to(torch.uint8)
    base = 127 - int(round(math.log2(math.sqrt(cols)))) - 1
    scales = (base + torch.randint(-1, 2, (experts, rows, cols // 32), generator=g, dtype=torch.int32)).to(torch.uint8)
    return blocks, scales


def checkpoint(c):
    g = torch.Generator().manual_seed(c["seed"])
    H, V, E, I = c["hidden"], c["vocab"], c["experts"], c["inter"]
    Q, KV = c["heads"] * c["head_dim"], c["kv_heads"] * c["head_dim"]
    rn = lambda *shape, std=1.0: (torch.randn(*shape, generator=g) * std).float()
    sd = {"model.embed_tokens.weight": rn(V, H), "model.norm.weight": 1 + rn(H, std=0.1),
          "lm_head.weight": rn(V, H, std=2.0 / math.sqrt(H))}
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = 1 + rn(H, std=0.1)
        sd[p + "post_attention_layernorm.weight"] = 1 + rn(H, std=0.1)
        for name, out_dim, in_dim in (("q_proj", Q, H), ("k_proj", KV, H), ("v_proj", KV, H), ("o_proj", H, Q)):
            sd[p + f"self_attn.{name}.weight"] = rn(out_dim, in_dim, std=1 / math.sqrt(in_dim))
            sd[p + f"self_attn.{name}.bias"] = rn(out_dim, std=0.1)
        sd[p + "self_attn.sinks"] = rn(c["heads"])
        sd[p + "mlp.router.weight"] = rn(E, H, std=1 / math.sqrt(H))
        sd[p + "mlp.router.bias"] = rn(E, std=0.1)
        sd[p + "mlp.experts.gate_up_proj_bias"] = rn(E, 2 * I, std=0.1)
        sd[p + "mlp.experts.down_proj_bias"] = rn(E, H, std=0.1)
        if c["mxfp4"]:
            b, s = random_mxfp4(g, E, 2 * I, H)
            sd[p + "mlp.experts.gate_up_proj_blocks"], sd[p + "mlp.experts.gate_up_proj_scales"] = b, s
            b, s = random_mxfp4(g, E, H, I)
            sd[p + "mlp.experts.down_proj_blocks"], sd[p + "mlp.experts.down_proj_scales"] = b, s
        else:
            sd[p + "mlp.experts.gate_up_proj"] = rn(E, H, 2 * I, std=1 / math.sqrt(H))
            sd[p + "mlp.experts.down_proj"] = rn(E, I, H, std=1 / math.sqrt(I))
    return sd


def load_hf(path, c):
    kwargs = dict(dtype=torch.float32, output_loading_info=True)
    if c["mxfp4"]:
        from transformers import Mxfp4Config
        kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    model, info = GptOssForCausalLM.from_pretrained(path, attn_implementation="eager", **kwargs)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise SystemExit(f"{path}: HF did not load the checkpoint cleanly: {bad}")
    model = model.float().eval()
    if c["mxfp4"]:
        # dequantize=True must give dense f32 experts equal to the e2m1 * 2^(s-127) values
        w = model.model.layers[0].mlp.experts.gate_up_proj
        assert w.dtype == torch.float32, w.dtype
    return model


def round_experts_to_bf16(model):
    """Rounds every experts module's input and its gate's output (down's input)
    to bf16 and back, the rest of HF's forward as it is. Returns the count of
    rounded gate outputs (the caller checks the forward went through them)."""
    to_bf16 = lambda t: t.to(torch.bfloat16).to(t.dtype)
    calls = [0]

    def counted(t):
        calls[0] += 1
        return to_bf16(t)
    for layer in model.model.layers:
        experts = layer.mlp.experts
        if not hasattr(experts, "_apply_gate"):
            raise SystemExit("this transformers has no GptOssExperts._apply_gate to round down's input at:\n"
                             + inspect.getsource(type(experts).forward))
        experts.register_forward_pre_hook(lambda mod, args, kwargs: ((to_bf16(args[0]),) + args[1:], kwargs)
                                          if args else (args, dict(kwargs, hidden_states=to_bf16(kwargs["hidden_states"]))),
                                          with_kwargs=True)
        gate = experts._apply_gate
        experts._apply_gate = lambda gate_up, gate=gate: counted(gate(gate_up))
    return calls


def greedy_continuation(model, prompt, dev):
    """HF's NEW_TOKENS greedy tokens after prompt, and their smallest top-1/top-2
    logit gap (greedy must be unambiguous for the test to be fair)."""
    with torch.no_grad():
        gen = model.generate(prompt.to(dev), max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=None,
                             pad_token_id=0, min_new_tokens=NEW_TOKENS)[0, PROMPT_LEN:].cpu()
        full = model(torch.cat([prompt[0], gen]).unsqueeze(0).to(dev)).logits[0].float().cpu()
    top2 = torch.topk(full[PROMPT_LEN - 1:-1], 2, dim=-1).values
    assert torch.equal(full[PROMPT_LEN - 1:-1].argmax(-1), gen), "generate() disagrees with argmax of the full pass"
    return gen, float((top2[:, 0] - top2[:, 1]).min())


def add_bf16_experts(out_root, dev):
    """The --bf16-experts outputs beside each existing fixture."""
    for name, c in CONFIGS.items():
        d = os.path.join(out_root, f"hf_{name}")
        model = load_hf(d, c).to(dev)
        with open(os.path.join(d, "prompt.txt")) as f:
            prompt = torch.tensor([[int(t) for t in f.read().split()]])
        with torch.no_grad():
            exact = model(prompt.to(dev)).logits[0].float().cpu()
        stored = torch.from_numpy(np.fromfile(os.path.join(d, "logits.f32"), dtype="<f4").reshape(exact.shape))
        drift = float((exact - stored).abs().max() / stored.abs().max())
        if drift > 1e-5:  # recorded in meta.json: the bf16 outputs are this transformers' own
            print(f"warning: {d}: this transformers gives the stored logits.f32 only within {drift:.3g}")
        with torch.no_grad():
            gate_calls = round_experts_to_bf16(model)
            logits = model(prompt.to(dev)).logits[0].float().cpu()
            if gate_calls[0] == 0:
                raise SystemExit("GptOssExperts.forward does not call _apply_gate:\n"
                                 + inspect.getsource(type(model.model.layers[0].mlp.experts).forward))
        gen, margin = greedy_continuation(model, prompt, dev)
        moved = float((logits - exact).abs().max() / exact.abs().max())
        assert moved > 0, "rounding the experts' activations changed nothing: the hooks did not run"
        np.asarray(logits.numpy(), dtype="<f4").tofile(os.path.join(d, "logits_bf16_experts.f32"))
        with open(os.path.join(d, "greedy_bf16_experts.txt"), "w") as f:
            f.write(" ".join(map(str, gen.tolist())) + "\n")
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        meta["bf16_experts"] = {"transformers": transformers.__version__, "torch": torch.__version__, "device": dev,
                                "moved_from_exact": moved, "min_greedy_margin": margin, "stored_logits_drift": drift}
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"fixture {name:6s} bf16 experts: logits moved {moved:.3g} (relative), min greedy margin {margin:.4f}, "
              f"stored exact logits reproduced within {drift:.2g}")


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--bf16-experts"]):
        raise SystemExit("usage: make_fixtures.py OUT_DIR [--bf16-experts]")
    out_root = sys.argv[1]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if sys.argv[2:] == ["--bf16-experts"]:
        add_bf16_experts(out_root, dev)
        return
    summary = []
    for name, c in CONFIGS.items():
        d = os.path.join(out_root, f"hf_{name}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(hf_config(c), f, indent=1)
        save_file(checkpoint(c), os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        model = load_hf(d, c).to(dev)
        g = torch.Generator().manual_seed(100 + c["seed"])
        prompt = torch.randint(0, c["vocab"], (1, PROMPT_LEN), generator=g)
        with torch.no_grad():
            logits = model(prompt.to(dev)).logits[0].float().cpu()
        gen, margin = greedy_continuation(model, prompt, dev)
        np.asarray(logits.numpy(), dtype="<f4").tofile(os.path.join(d, "logits.f32"))
        with open(os.path.join(d, "prompt.txt"), "w") as f:
            f.write(" ".join(map(str, prompt[0].tolist())) + "\n")
        with open(os.path.join(d, "greedy.txt"), "w") as f:
            f.write(" ".join(map(str, gen.tolist())) + "\n")
        rot = getattr(model.model, "rotary_emb", None) or getattr(model.model.layers[0].self_attn, "rotary_emb", None)
        meta = {"transformers": transformers.__version__, "torch": torch.__version__, "device": dev,
                "prompt_len": PROMPT_LEN, "vocab": c["vocab"], "new_tokens": NEW_TOKENS,
                "min_greedy_margin": margin}
        if rot is not None:
            meta["attention_scaling"] = float(rot.attention_scaling)
            meta["inv_freq"] = [float(x) for x in rot.inv_freq.cpu()]
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        summary.append((name, margin, float(logits.abs().max())))
    print(f"transformers {transformers.__version__} torch {torch.__version__} on {dev}")
    for name, margin, amax in summary:
        print(f"fixture {name:6s} min greedy margin {margin:.4f}  max |logit| {amax:.2f}")


if __name__ == "__main__":
    main()
