"""Golden RoPE cases for test/reference/rope.test.ts, produced by Hugging Face transformers itself.

Run once (CI has no python):  /tmp/fxvenv/bin/python test/reference/make_rope_cases.py
Writes test/reference/rope-cases.json.

Every value comes from the installed transformers' own rotary classes (which call ROPE_INIT_FUNCTIONS from
modeling_rope_utils) and the models' own apply_rotary_pos_emb functions, on the CPU in float32:

  invFreq          the inv_freq the model's forward multiplies by the positions (after dynamic_rope_update)
  attentionFactor  the cos/sin multiplier (attention_scaling, or PhiMoE's short/long mscale)
  cos, sin         [positions, dim/2]: the first half of HF's cos/sin (the second half repeats it)
  x, out           a fixed head vector and, per position, the head rotated by the model's apply function

The golden is tied to the machine that wrote it: torch's CPU pow and cos/sin are SLEEF vector code for blocks of
2 x vector-width elements and libm for the remainder, so inv_freq can differ by 1 ulp between CPUs. The file
records torch's CPU capability; rope.ts reproduces the AVX512 split (blocks of 32). On an AVX2 machine (blocks
of 16) only "default-d96" (48 frequencies) would split differently; regenerate on AVX512 to keep it bit-exact.
"""

import json
import math
import os

import numpy as np
import torch
import transformers
from transformers import (
    DeepseekV2Config,
    DeepseekV3Config,
    Glm4MoeConfig,
    GptOssConfig,
    Phi3Config,
    PhimoeConfig,
    Qwen3MoeConfig,
)
from transformers.models.deepseek_v2 import modeling_deepseek_v2 as ds2
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as ds3
from transformers.models.glm4_moe import modeling_glm4_moe as glm
from transformers.models.gpt_oss import modeling_gpt_oss as oss
from transformers.models.phi3 import modeling_phi3 as phi3
from transformers.models.phimoe import modeling_phimoe as phimoe
from transformers.models.qwen3_moe import modeling_qwen3_moe as qwen

torch.set_grad_enabled(False)

POSITIONS = list(range(21))
# Heads of 64+ rotated dims keep the JSON small with a spread of positions (seqLen stays 21).
SPARSE = [0, 1, 2, 3, 5, 8, 13, 20]
SEQ_LEN = 21
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rope-cases.json")


def head_vector(n):
    """A fixed, exactly-float32 head vector with entries in (-1, 1)."""
    return torch.tensor([math.sin(1.7 * i + 0.3) * 0.9 for i in range(n)], dtype=torch.float32)


class Raw:
    """Writes a float32 value with the shortest decimal that reads back to the same float32."""

    def __init__(self, values):
        self.text = "[" + ",".join(str(np.float32(v)) for v in values) + "]"


def enc(obj):
    """JSON with Raw float32 arrays spliced in."""
    raws = {}

    def walk(o):
        if isinstance(o, Raw):
            key = f"@@RAW{len(raws)}@@"
            raws[key] = o.text
            return key
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    text = json.dumps(walk(obj), separators=(",", ":"))
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text


def small(cls, head_dim, **kw):
    base = dict(hidden_size=head_dim * 2, num_attention_heads=2, num_key_value_heads=2, head_dim=head_dim, num_hidden_layers=1)
    base.update(kw)
    return cls(**base)


def half_cols(t, half):
    c = t[0, :, :half]
    if t.shape[-1] == 2 * half:
        assert torch.equal(t[0, :, half:], c), "cos/sin halves differ"
    return c


def run_half(rot_cls, apply_fn, config, head_dim, dim, positions=POSITIONS):
    """A rotate_half model: forward the rotary class and rotate a fixed head with the model's apply function."""
    rot = rot_cls(config)
    pos = torch.tensor([positions])
    x = head_vector(head_dim)
    cos, sin = rot(x[None, None, :], pos)
    q = x[None, None, None, :].expand(1, 1, len(positions), head_dim).contiguous()
    if apply_fn is None:  # Qwen3-MoE style: rotate the whole head (dim == head_dim)
        out, _ = qwen.apply_rotary_pos_emb(q, q, cos, sin)
    else:
        out, _ = apply_fn(q, q, cos, sin)
    return rot, x, half_cols(cos, dim // 2), half_cols(sin, dim // 2), out[0, 0]


def case(name, model, rope, head_dim, layout, inv_freq, attention_factor, cos, sin, x, out, note=None, positions=POSITIONS):
    assert max(positions) + 1 == SEQ_LEN
    c = {
        "name": name,
        "model": model,
        "rope": rope,
        "headDim": head_dim,
        "layout": layout,
        "positions": positions,
        "seqLen": SEQ_LEN,
        "invFreq": Raw(inv_freq.reshape(-1).tolist()),
        "attentionFactor": float(attention_factor),
        "cos": Raw(cos.reshape(-1).tolist()),
        "sin": Raw(sin.reshape(-1).tolist()),
        "x": Raw(x.reshape(-1).tolist()),
        "out": Raw(out.reshape(-1).tolist()),
    }
    if note:
        c["note"] = note
    return c


def rope_attr(theta, dim, style="half", scaling=None):
    return {"theta": theta, "dim": dim, "style": style, "scaling": scaling}


cases = []


def qwen_case(name, head_dim, theta, rope_parameters, scaling, max_pos=64, note=None):
    positions = SPARSE if head_dim >= 64 else POSITIONS
    cfg = small(Qwen3MoeConfig, head_dim, max_position_embeddings=max_pos, rope_parameters={"rope_theta": theta, **rope_parameters})
    rot, x, cos, sin, out = run_half(qwen.Qwen3MoeRotaryEmbedding, None, cfg, head_dim, head_dim, positions)
    cases.append(case(name, "qwen3_moe", rope_attr(theta, head_dim, scaling=scaling), head_dim, "half", rot.inv_freq, rot.attention_scaling,
                      cos, sin, x, out, note, positions))


# --- default -------------------------------------------------------------------------------------------------
qwen_case("default", 16, 10000.0, {"rope_type": "default"}, None)
qwen_case("default-d128", 128, 1000000.0, {"rope_type": "default"}, None, note="64 frequencies: torch's SLEEF pow for all of them")
qwen_case("default-d96", 96, 500000.0, {"rope_type": "default"}, None, note="48 frequencies: SLEEF pow for 32 (AVX512), libm powf for the rest")

# --- partial rotary (GLM-4-MoE: partial_rotary_factor) -------------------------------------------------------
for hd, prf, theta in [(16, 0.5, 10000.0), (24, 0.5, 1000000.0)]:
    cfg = small(Glm4MoeConfig, hd, max_position_embeddings=64, partial_rotary_factor=prf, rope_parameters={"rope_type": "default", "rope_theta": theta})
    dim = int(hd * prf)
    rot, x, cos, sin, out = run_half(glm.Glm4MoeRotaryEmbedding, glm.apply_rotary_pos_emb, cfg, hd, dim)
    assert rot.inv_freq.numel() == dim // 2
    cases.append(case(f"partial-{dim}of{hd}", "glm4_moe", rope_attr(theta, dim), hd, "half", rot.inv_freq, rot.attention_scaling, cos, sin, x, out))

# --- linear --------------------------------------------------------------------------------------------------
qwen_case("linear", 16, 10000.0, {"rope_type": "linear", "factor": 2.7}, {"type": "linear", "factor": 2.7})

# --- dynamic NTK (max_position_embeddings plays original_max) ------------------------------------------------
qwen_case("dynamic-below", 16, 10000.0, {"rope_type": "dynamic", "factor": 3.3}, {"type": "dynamic", "factor": 3.3, "originalMax": 64}, max_pos=64,
          note="seqLen 21 <= 64: the init-time inv_freq (python-double base)")
qwen_case("dynamic-above", 16, 10000.0, {"rope_type": "dynamic", "factor": 3.3}, {"type": "dynamic", "factor": 3.3, "originalMax": 16}, max_pos=16,
          note="seqLen 21 > 16: recomputed from a tensor seq_len (float32 base)")
qwen_case("dynamic-above-d64", 64, 1000000.0, {"rope_type": "dynamic", "factor": 2.0}, {"type": "dynamic", "factor": 2.0, "originalMax": 8}, max_pos=8)

# --- llama3 --------------------------------------------------------------------------------------------------
qwen_case("llama3", 32, 10000.0,
          {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
          {"type": "llama3", "factor": 8.0, "lowFreqFactor": 1.0, "highFreqFactor": 4.0, "originalMax": 64}, max_pos=512,
          note="wavelengths fall in all three bands")
qwen_case("llama3-d128", 128, 500000.0,
          {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
          {"type": "llama3", "factor": 32.0, "lowFreqFactor": 1.0, "highFreqFactor": 4.0, "originalMax": 8192}, max_pos=131072)


# --- yarn ----------------------------------------------------------------------------------------------------
def yarn_scaling(factor, orig, beta_fast=32.0, beta_slow=1.0, mscale=0.0, mscale_all_dim=0.0, attention_factor=None, truncate=True):
    return {"type": "yarn", "factor": factor, "originalMax": orig, "betaFast": beta_fast, "betaSlow": beta_slow, "mscale": mscale,
            "mscaleAllDim": mscale_all_dim, "attentionFactor": attention_factor, "truncate": truncate}


qwen_case("yarn-truncate", 32, 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
          yarn_scaling(4.0, 16), max_pos=64, note="default attention factor 0.1 ln(4) + 1")
qwen_case("yarn-notruncate", 32, 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "truncate": False},
          yarn_scaling(4.0, 16, truncate=False), max_pos=64)
qwen_case("yarn-attention-factor", 32, 10000.0,
          {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 32, "beta_fast": 16.0, "beta_slow": 2.0, "attention_factor": 1.5},
          yarn_scaling(8.0, 32, beta_fast=16.0, beta_slow=2.0, attention_factor=1.5), max_pos=256)
qwen_case("yarn-mscale-only", 16, 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "mscale": 0.8},
          yarn_scaling(4.0, 16, mscale=0.8), max_pos=64, note="mscale without mscale_all_dim: HF ignores it (get_mscale(factor))")

# GPT-OSS: yarn, truncate False, 32 frequencies (all SLEEF), cos/sin of dim/2, chunk-based rotation
cfg = GptOssConfig(hidden_size=128, num_attention_heads=2, num_key_value_heads=2, head_dim=64, num_hidden_layers=1, num_local_experts=4,
                   num_experts_per_tok=2, max_position_embeddings=131072, rope_parameters={
                       "rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
                       "original_max_position_embeddings": 4096, "rope_theta": 150000.0})
rot, x, cos, sin, out = run_half(oss.GptOssRotaryEmbedding, oss.apply_rotary_pos_emb, cfg, 64, 64, SPARSE)
cases.append(case("yarn-gpt-oss", "gpt_oss", rope_attr(150000.0, 64, scaling=yarn_scaling(32.0, 4096, truncate=False)), 64, "half",
                  rot.inv_freq, rot.attention_scaling, cos, sin, x, out, positions=SPARSE))


# DeepSeek: yarn with mscale / mscale_all_dim, interleaved. V3 (rope_interleave=True) and V2 (complex form).
def deepseek_cases(name, rope_parameters, scaling, rope_dim=16, theta=10000.0, max_pos=256):
    params = {"rope_theta": theta, **rope_parameters}
    common = dict(hidden_size=64, num_attention_heads=2, num_key_value_heads=2, num_hidden_layers=1, q_lora_rank=None, kv_lora_rank=16,
                  qk_rope_head_dim=rope_dim, qk_nope_head_dim=8, v_head_dim=8, max_position_embeddings=max_pos)
    pos = torch.tensor([POSITIONS])
    x = head_vector(rope_dim)
    q = x[None, None, None, :].expand(1, 1, len(POSITIONS), rope_dim).contiguous()
    attr = rope_attr(theta, rope_dim, style="interleaved", scaling=scaling)
    # V3: cos/sin like every rotate_half model; apply_rotary_pos_emb_interleave de-interleaves the output
    cfg3 = DeepseekV3Config(rope_parameters=dict(params), rope_interleave=True, n_routed_experts=4, num_experts_per_tok=2, n_group=1,
                            topk_group=1, **common)
    rot3 = ds3.DeepseekV3RotaryEmbedding(cfg3)
    cos, sin = rot3(x[None, None, :], pos)
    out3, _ = ds3.apply_rotary_pos_emb_interleave(q, q, cos, sin)
    cases.append(case(f"{name}-v3", "deepseek_v3", attr, rope_dim, "deinterleave", rot3.inv_freq, rot3.attention_scaling,
                      half_cols(cos, rope_dim // 2), half_cols(sin, rope_dim // 2), x, out3[0, 0],
                      note="rope_interleave: rotated even dims land in the first half, odd dims in the second"))
    # V2: complex multiply, pairs stay in place
    cfg2 = DeepseekV2Config(rope_parameters=dict(params), n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1, **common)
    rot2 = ds2.DeepseekV2RotaryEmbedding(cfg2)
    cis = rot2(x[None, None, :], pos)
    out2, _ = ds2.apply_rotary_emb(q, q, cis)  # [batch, heads, seq, dim]
    cases.append(case(f"{name}-v2", "deepseek_v2", attr, rope_dim, "complex", rot2.inv_freq, rot2.attention_scaling,
                      cis.real[0], cis.imag[0], x, out2[0, 0],
                      note="view_as_complex: pair (2j, 2j+1) rotated in place by torch's scalar complex64 multiply (FMA)"))


deepseek_cases("interleaved", {"rope_type": "default"}, None)
deepseek_cases("yarn-mscale", {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 16, "beta_fast": 32, "beta_slow": 1,
                               "mscale": 0.707, "mscale_all_dim": 1.0},
               yarn_scaling(40.0, 16, mscale=0.707, mscale_all_dim=1.0), max_pos=640)


# --- longrope --------------------------------------------------------------------------------------------------
def factors(n, a, b):
    return [round(a + (b - a) * i / max(n - 1, 1), 4) for i in range(n)]


def phimoe_case(name, orig, head_dim=16, theta=10000.0, max_pos=256):
    short = factors(head_dim // 2, 1.0, 1.3)
    long = factors(head_dim // 2, 1.1, 9.5)
    cfg = small(PhimoeConfig, head_dim, max_position_embeddings=max_pos, num_local_experts=4, num_experts_per_tok=2, rope_parameters={
        "rope_type": "longrope", "rope_theta": theta, "short_factor": short, "long_factor": long, "original_max_position_embeddings": orig,
        "short_mscale": 1.243163121016122, "long_mscale": 1.243163121016122 * 1.1})
    rot = phimoe.PhimoeRotaryEmbedding(cfg)
    pos = torch.tensor([POSITIONS])
    x = head_vector(head_dim)
    cos, sin = rot(x[None, None, :], pos)
    q = x[None, None, None, :].expand(1, 1, len(POSITIONS), head_dim).contiguous()
    out, _ = phimoe.apply_rotary_pos_emb(q, q, cos, sin)
    # what PhimoeRotaryEmbedding.forward used: rope_init_fn(config) (no seq_len -> short factors) and short/long mscale
    inv, _ = rot.rope_init_fn(rot.config)
    seq = SEQ_LEN
    mscale = cfg.rope_parameters["long_mscale"] if seq > orig else cfg.rope_parameters["short_mscale"]
    scaling = {"type": "longrope", "shortFactor": short, "longFactor": long, "originalMax": orig, "maxPositions": max_pos,
               "attentionFactor": None, "shortMscale": cfg.rope_parameters["short_mscale"], "longMscale": cfg.rope_parameters["long_mscale"]}
    cases.append(case(name, "phimoe", rope_attr(theta, head_dim, scaling=scaling), head_dim, "half", inv, mscale,
                      half_cols(cos, head_dim // 2), half_cols(sin, head_dim // 2), x, out[0, 0],
                      note="PhimoeRotaryEmbedding.forward calls rope_init_fn(config) without seq_len: short factors always"))


phimoe_case("longrope-phimoe-short", 64)
phimoe_case("longrope-phimoe-long", 16)


def phi3_case(name, orig, head_dim=16, theta=10000.0, max_pos=256):
    short = factors(head_dim // 2, 1.0, 1.3)
    long = factors(head_dim // 2, 1.1, 9.5)
    cfg = small(Phi3Config, head_dim, max_position_embeddings=max_pos, rope_parameters={
        "rope_type": "longrope", "rope_theta": theta, "short_factor": short, "long_factor": long, "original_max_position_embeddings": orig})
    cfg.original_max_position_embeddings = orig
    rot, x, cos, sin, out = run_half(phi3.Phi3RotaryEmbedding, phi3.apply_rotary_pos_emb, cfg, head_dim, head_dim)
    scaling = {"type": "longrope", "shortFactor": short, "longFactor": long, "originalMax": orig, "maxPositions": max_pos,
               "attentionFactor": None, "shortMscale": None, "longMscale": None}
    cases.append(case(name, "phi3", rope_attr(theta, head_dim, scaling=scaling), head_dim, "half", rot.inv_freq, rot.attention_scaling,
                      cos, sin, x, out, note="generic longrope (dynamic_rope_update): long factors once seqLen > originalMax"))


phi3_case("longrope-phi3-short", 64)
phi3_case("longrope-phi3-long", 16)

doc = {
    "generator": "test/reference/make_rope_cases.py",
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "cpuCapability": torch.backends.cpu.get_cpu_capability(),
    "cases": cases,
}
with open(OUT, "w") as fh:
    fh.write(enc(doc))
    fh.write("\n")
print(f"wrote {len(cases)} cases to {OUT} ({os.path.getsize(OUT)} bytes)")
