"""Writes the benchmark's GGUF files with llama.cpp's own writer (the `gguf` Python package, 0.19.0):
OLMoE-1B-7B and Qwen3-30B-A3B shapes, whole or cut to a few layers, random weights, in F32, Q8_0,
Q4_0 or Q4_K. Tensor names, metadata keys and stacked experts are those convert_hf_to_gguf.py
writes. F32 weights are uniform in +-0.035 (a spread of about 0.02, as an initialisation); Q8_0 and
Q4_0 are those floats quantized by gguf-py (as the converter does); gguf-py has no Q4_K quantizer
(llama.cpp makes Q4_K with llama-quantize), so Q4_K tensors are random blocks with scales set for
the same spread, written as raw blocks. Norm weights are ones. The vocabulary is a placeholder
(`<tN>` tokens, one merge) that llama.cpp and moec both accept; the benchmarks feed token ids.
Tensors are written one at a time, so a 7 GB file never sits in memory.

    pip install gguf==0.19.0
    python3 bench/gguf_models.py olmoe|qwen3|tiny|tiny-qwen3|small LAYERS F32|Q8_0|Q4_0|Q4_K OUT.gguf
"""
import sys
import time

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

SHAPES = {
    # config.json of allenai/OLMoE-1B-7B-0924 and Qwen/Qwen3-30B-A3B.
    "olmoe": dict(arch="olmoe", layers=16, d=2048, ffn=1024, experts=64, used=8, heads=16, kv=16, hd=128, vocab=50304, ctx=4096, theta=1e4, eps=1e-5),
    "qwen3": dict(arch="qwen3moe", layers=48, d=2048, ffn=768, experts=128, used=8, heads=32, kv=4, hd=128, vocab=151936, ctx=40960, theta=1e6, eps=1e-6),
    # The parity test's file: OLMoE's layout at a size that fits in the repository (Q4_K needs K % 256 == 0).
    # Its weights are spread 6x wider, so that logits differ by whole units and greedy tokens are clear.
    "tiny": dict(arch="olmoe", layers=2, d=256, ffn=256, experts=4, used=2, heads=4, kv=4, hd=64, vocab=512, ctx=512, theta=1e4, eps=1e-5, spread=6.0),
    # Mixed precision's benchmark (bench/quant-error.ts): OLMoE's layout with 16 experts per layer, rows
    # of 512 and 256 (whole Q2_K..Q6_K super-blocks), small enough for a calibration pass on a CPU.
    "small": dict(arch="olmoe", layers=2, d=512, ffn=256, experts=16, used=4, heads=8, kv=8, hd=64, vocab=2048, ctx=512, theta=1e4, eps=1e-5, spread=6.0),
    # Qwen3-MoE's layout (grouped-query attention, per-head q/k norms, normalised top-k weights).
    "tiny-qwen3": dict(arch="qwen3moe", layers=1, d=256, ffn=256, experts=4, used=2, heads=4, kv=2, hd=64, vocab=512, ctx=512, theta=1e6, eps=1e-6, spread=6.0),
}
KIND = {"F32": T.F32, "Q8_0": T.Q8_0, "Q4_0": T.Q4_0, "Q4_K": T.Q4_K}


def q4_k_blocks(rng, rows, K, spread):
    """Random Q4_K blocks: w = d*sc*q - dmin*m with m = sc and dmin = 7.5*d, so w = d*sc*(q - 7.5)."""
    nb = rows * K // 256
    b = rng.integers(0, 256, size=(nb, 144), dtype=np.uint8)
    d = spread * 0.02 / (48 * 4.6)
    b[:, 0:2] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    b[:, 2:4] = np.frombuffer(np.float16(7.5 * d).tobytes(), dtype=np.uint8)
    s = 32 + (b[:, 4:12] & 31)  # eight 6-bit sub-block scales in [32, 63]
    lo, hi = s[:, :4], s[:, 4:]
    b[:, 4:8] = (lo & 63) | ((hi >> 4) << 6)  # scales of sub-blocks 0-3 (+ high bits of 4-7)
    b[:, 8:12] = (lo & 63) | ((hi >> 4) << 6)  # mins, the same
    b[:, 12:16] = (hi & 0xF) | ((hi & 0xF) << 4)  # low bits of scales and mins 4-7
    return b.reshape(rows, K // 256 * 144)


def weight(rng, kind, shape, spread):
    """numpy shape (rows..., K): the array gguf-py writes for a tensor of ggml ne reversed(shape)."""
    K = shape[-1]
    rows = int(np.prod(shape[:-1]))
    if kind == "Q4_K":
        return q4_k_blocks(rng, rows, K, spread).reshape(*shape[:-1], -1)
    w = rng.uniform(-0.035 * spread, 0.035 * spread, size=shape).astype(np.float32)
    return w if kind == "F32" else gguf.quants.quantize(w, KIND[kind])


def tensors(s, kind):
    """(name, numpy shape, kind or 'ones') in the order the converter writes them."""
    block = {"F32": 1, "Q8_0": 32, "Q4_0": 32, "Q4_K": 256}[kind]
    q = lambda K: kind if K % block == 0 else "F32"
    d, hd = s["d"], s["hd"]
    out = [("token_embd.weight", (s["vocab"], d), q(d))]
    for l in range(s["layers"]):
        b = f"blk.{l}"
        out.append((f"{b}.attn_norm.weight", (d,), "ones"))
        out += [(f"{b}.attn_q.weight", (s["heads"] * hd, d), q(d)), (f"{b}.attn_k.weight", (s["kv"] * hd, d), q(d)), (f"{b}.attn_v.weight", (s["kv"] * hd, d), q(d))]
        out.append((f"{b}.attn_output.weight", (d, s["heads"] * hd), q(s["heads"] * hd)))
        qn, kn = (s["heads"] * hd, s["kv"] * hd) if s["arch"] == "olmoe" else (hd, hd)
        out += [(f"{b}.attn_q_norm.weight", (qn,), "ones"), (f"{b}.attn_k_norm.weight", (kn,), "ones")]
        out.append((f"{b}.ffn_norm.weight", (d,), "ones"))
        out.append((f"{b}.ffn_gate_inp.weight", (s["experts"], d), "F32"))
        E, F = s["experts"], s["ffn"]
        out += [(f"{b}.ffn_gate_exps.weight", (E, F, d), q(d)), (f"{b}.ffn_up_exps.weight", (E, F, d), q(d)), (f"{b}.ffn_down_exps.weight", (E, d, F), q(F))]
    out += [("output_norm.weight", (d,), "ones"), ("output.weight", (s["vocab"], d), q(d))]
    return out


def metadata(w, s):
    a = s["arch"]
    w.add_name(f"moec benchmark {a} ({s['layers']} layers, random weights)")
    w.add_block_count(s["layers"])
    w.add_context_length(s["ctx"])
    w.add_embedding_length(s["d"])
    w.add_feed_forward_length(s["ffn"] if a == "olmoe" else 6144)
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv"])
    w.add_rope_freq_base(s["theta"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_expert_count(s["experts"])
    w.add_expert_used_count(s["used"])
    if a == "qwen3moe":
        w.add_key_length(s["hd"])
        w.add_value_length(s["hd"])
        w.add_expert_feed_forward_length(s["ffn"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list([f"<t{i}>" for i in range(s["vocab"])])
    w.add_token_types([1] * s["vocab"])
    w.add_token_merges(["<t0> <t1>"])  # gguf-py drops an empty list; llama.cpp wants the key
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)


def write(shape, layers, kind, path, seed=1):
    s = dict(SHAPES[shape], layers=layers)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, s["arch"])
    metadata(w, s)
    spec = tensors(s, kind)
    for name, shp, k in spec:
        if k in ("ones", "F32"):
            w.add_tensor_info(name, shp, np.dtype(np.float32), int(np.prod(shp)) * 4)
        else:
            bs, ts = gguf.GGML_QUANT_SIZES[KIND[k]]
            nbytes = int(np.prod(shp)) // bs * ts
            w.add_tensor_info(name, (*shp[:-1], shp[-1] // bs * ts), np.dtype(np.uint8), nbytes, raw_dtype=KIND[k])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shp, k in spec:
        w.write_tensor_data(np.ones(shp, dtype=np.float32) if k == "ones" else weight(rng, k, shp, s.get("spread", 1.0)))
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in SHAPES or sys.argv[3] not in KIND:
        sys.exit(__doc__)
    t0 = time.time()
    write(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
    print(f"wrote {sys.argv[4]} in {time.time() - t0:.1f} s")
