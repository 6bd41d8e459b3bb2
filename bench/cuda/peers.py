# The peers of moec's CUDA MoE layer on the same card, in the same run (bench/cuda/device.sh):
#   - the card's read bandwidth (a bf16 sum over 4 GiB: read-only) and copy bandwidth (read + write)
#   - its bf16 matmul rate (8192³, random data)
#   - a torch._grouped_mm MoE layer: router matmul, softmax/sigmoid top-k, sort by expert, two grouped
#     matmuls (gate|up, then down) with SiLU·up between, weighted scatter-add; bf16 throughout
#   - transformers' own MoE block of each family (MixtralSparseMoeBlock, Qwen3MoeSparseMoeBlock,
#     OlmoeSparseMoeBlock, DeepseekV3MoE) with its default experts implementation, bf16
# vLLM's benchmark_moe.py protocol: random weights and inputs, the layer captured in a CUDA graph
# (where it can be: transformers' blocks that sync with the host are timed eagerly and say so),
# the mean of many replays between two events. One JSON line per measurement.
#
#   python3 peers.py layers.json [--tokens 1,2,4,...]
import json
import sys

import torch
import torch.nn.functional as F

TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
dev = torch.device("cuda")


def emit(**kw):
    print(json.dumps(kw), flush=True)


def timed(fn, graph=True, budget_ms=400.0, max_reps=200):
    """Mean ms per call: a CUDA graph of fn replayed, or fn itself when capture fails."""
    mode = "graph" if graph else "eager"
    g = None
    if graph:
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fn()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                fn()
        except Exception as e:  # data-dependent control flow, host syncs
            mode = f"eager ({type(e).__name__})"
            g = None
            torch.cuda.synchronize()
    call = g.replay if g is not None else fn
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    call()
    b.record()
    b.synchronize()
    one = max(a.elapsed_time(b), 1e-3)
    reps = int(max(5, min(max_reps, budget_ms / one)))
    a.record()
    for _ in range(reps):
        call()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / reps, reps, mode


def ceilings():
    n = 2 << 30  # 2 Gi bf16 elements: 4 GiB
    x = torch.randn(n, device=dev, dtype=torch.bfloat16)
    ms, reps, _ = timed(lambda: x.sum(dtype=torch.float32), graph=False)
    emit(peer="read_bandwidth", what="bf16 sum over 4 GiB (bytes read / time)", GBps=2 * n / ms / 1e6, ms=ms, reps=reps)
    y = torch.empty_like(x)
    ms, reps, _ = timed(lambda: y.copy_(x), graph=False)
    emit(peer="copy_bandwidth", what="4 GiB device copy ((read + write) / time)", GBps=4 * n / ms / 1e6, ms=ms, reps=reps)
    del x, y
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    ms, reps, _ = timed(lambda: a @ b, graph=False)
    emit(peer="bf16_matmul", what="8192x8192x8192 torch.matmul, random data", TFLOPs=2 * 8192**3 / ms / 1e9, ms=ms, reps=reps)
    del a, b
    torch.cuda.empty_cache()


class GroupedMM:
    """One MoE layer on torch._grouped_mm, bf16. Experts as [E, 2F, d] (gate|up) and [E, d, F]."""

    def __init__(self, s):
        E, d, f = s["experts"], s["d"], s["ffn"]
        self.s = s
        std = 0.02
        self.wr = torch.randn(E, d, device=dev, dtype=torch.bfloat16) * std
        self.w13 = torch.randn(E, 2 * f, d, device=dev, dtype=torch.bfloat16) * std
        self.w2 = torch.randn(E, d, f, device=dev, dtype=torch.bfloat16) * std
        self.bias = torch.randn(E, device=dev, dtype=torch.float32) * 0.01
        if s["shared"]:
            self.sw13 = torch.randn(2 * f, d, device=dev, dtype=torch.bfloat16) * std
            self.sw2 = torch.randn(d, f, device=dev, dtype=torch.bfloat16) * std

    def route(self, x):
        s = self.s
        logits = (x @ self.wr.t()).float()
        k = s["k"]
        if s["router"] == "deepseek":
            scores = logits.sigmoid()
            choice = scores + self.bias
            T, E = choice.shape
            grouped = choice.view(T, 8, E // 8)
            gscore = grouped.topk(2, dim=-1).values.sum(-1)
            keep = torch.zeros_like(gscore).scatter_(1, gscore.topk(4, dim=-1).indices, 1.0)
            choice = choice.masked_fill(keep.repeat_interleave(E // 8, dim=1) == 0, float("-inf"))
            ids = choice.topk(k, dim=-1).indices
            w = scores.gather(1, ids)
            w = w / w.sum(-1, keepdim=True) * 2.5
        else:
            p = logits.softmax(-1)
            w, ids = p.topk(k, dim=-1)
            if s["router"] == "softmax":
                w = w / w.sum(-1, keepdim=True)
        return w, ids

    def __call__(self, x):
        T, d = x.shape
        E, k = self.s["experts"], self.s["k"]
        w, ids = self.route(x)
        flat = ids.flatten()
        order = flat.argsort(stable=True)
        tok = order // k
        counts = torch.zeros(E, device=dev, dtype=torch.int32).scatter_add_(0, flat.int(), torch.ones_like(flat, dtype=torch.int32))
        offs = counts.cumsum(0, dtype=torch.int32)
        xs = x[tok]
        h = torch._grouped_mm(xs, self.w13.transpose(1, 2), offs=offs)
        g, u = h.chunk(2, dim=-1)
        a = F.silu(g) * u
        y = torch._grouped_mm(a, self.w2.transpose(1, 2), offs=offs)
        y = y * w.flatten()[order].unsqueeze(1).to(y.dtype)
        out = torch.zeros(T, d, device=dev, dtype=torch.bfloat16).index_add_(0, tok, y)
        if self.s["shared"]:
            hs = x @ self.sw13.t()
            gs, us = hs.chunk(2, dim=-1)
            out = out + (F.silu(gs) * us) @ self.sw2.t()
        return out


def transformers_block(s):
    import transformers as tf

    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        if s["name"] == "mixtral":
            from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

            block = MixtralSparseMoeBlock(tf.MixtralConfig(hidden_size=s["d"], intermediate_size=s["ffn"], num_local_experts=s["experts"], num_experts_per_tok=s["k"]))
        elif s["name"] == "qwen3_30b_a3b":
            from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock

            block = Qwen3MoeSparseMoeBlock(tf.Qwen3MoeConfig(hidden_size=s["d"], moe_intermediate_size=s["ffn"], num_experts=s["experts"], num_experts_per_tok=s["k"], norm_topk_prob=True))
        elif s["name"] == "olmoe":
            from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock

            block = OlmoeSparseMoeBlock(tf.OlmoeConfig(hidden_size=s["d"], intermediate_size=s["ffn"], num_experts=s["experts"], num_experts_per_tok=s["k"], norm_topk_prob=False))
        else:
            from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MoE

            block = DeepseekV3MoE(tf.DeepseekV3Config(hidden_size=s["d"], moe_intermediate_size=s["ffn"], n_routed_experts=s["experts"], num_experts_per_tok=s["k"], n_group=8, topk_group=4, n_shared_experts=1, routed_scaling_factor=2.5, norm_topk_prob=True))
    torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.02)
    return block.eval()


def main():
    layers = json.load(open(sys.argv[1]))
    tokens = TOKENS
    if "--tokens" in sys.argv:
        tokens = [int(t) for t in sys.argv[sys.argv.index("--tokens") + 1].split(",")]
    emit(peer="device", name=torch.cuda.get_device_name(), torch=torch.__version__)
    ceilings()
    for s in layers:
        try:
            layer = GroupedMM(s)
            for T in tokens:
                x = torch.randn(T, s["d"], device=dev, dtype=torch.bfloat16)
                with torch.no_grad():
                    ms, reps, mode = timed(lambda: layer(x))
                emit(peer="grouped_mm", layer=s["name"], tokens=T, mean_ms=ms, reps=reps, mode=mode)
        except Exception as e:
            emit(peer="grouped_mm", layer=s["name"], error=f"{type(e).__name__}: {e}"[:400])
        layer = None
        torch.cuda.empty_cache()
        try:
            import transformers

            block = transformers_block(s)
            for T in tokens:
                x = torch.randn(1, T, s["d"], device=dev, dtype=torch.bfloat16)
                with torch.no_grad():
                    ms, reps, mode = timed(lambda: block(x), graph=False)
                emit(peer="transformers", version=transformers.__version__, layer=s["name"], tokens=T, mean_ms=ms, reps=reps, mode=mode)
        except Exception as e:
            emit(peer="transformers", layer=s["name"], error=f"{type(e).__name__}: {e}"[:400])
        block = None
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
