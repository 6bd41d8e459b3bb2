# The PyTorch peers of bench/webgpu/gpu-bench.ts, on the same card in the same run: one MoE layer
# (softmax router, top-k, SwiGLU experts, weighted combine) in bf16 at the OLMoE, Qwen3-30B-A3B and
# Mixtral-8x7B shapes, as transformers runs it (a loop over the experts that got tokens) and as a
# grouped pipeline (sort by expert, torch._grouped_mm for gate/up and down, index_add combine).
# Prints one JSON line per result; times are CUDA-event medians.
import json, sys, torch

SHAPES = [("OLMoE-1B-7B", 2048, 1024, 64, 8, False), ("Qwen3-30B-A3B", 2048, 768, 128, 8, True), ("Mixtral-8x7B", 4096, 14336, 8, 2, True)]
TOKENS = [1, 4, 16, 64, 256, 1024, 4096]
dev = "cuda"
F32 = torch.float32


def route(x, wr, k, renorm):
    probs = torch.softmax((x @ wr.t()).float(), dim=-1)
    w, sel = torch.topk(probs, k, dim=-1)
    if renorm:
        w = w / w.sum(-1, keepdim=True)
    return w.to(x.dtype), sel


def loop_moe(x, wr, w1, w3, w2, k, renorm):
    E = wr.shape[0]
    w, sel = route(x, wr, k, renorm)
    out = torch.zeros_like(x)
    mask = torch.nn.functional.one_hot(sel, num_classes=E).permute(2, 1, 0)
    hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
    for e in hit:
        e = e[0]
        idx, top_x = torch.where(mask[e])
        cur = x[top_x]
        h = torch.nn.functional.silu(cur @ w1[e].t()) * (cur @ w3[e].t())
        out.index_add_(0, top_x, (h @ w2[e].t()) * w[top_x, idx, None])
    return out


def grouped_moe(x, wr, w13t, w2t, k, renorm):
    E = wr.shape[0]
    w, sel = route(x, wr, k, renorm)
    flat = sel.flatten()
    order = torch.argsort(flat, stable=True)
    offs = torch.cumsum(torch.bincount(flat, minlength=E), 0, dtype=torch.int32)
    tok = order // k
    gu = torch._grouped_mm(x[tok], w13t, offs=offs)
    g, u = gu.chunk(2, dim=-1)
    h = (torch.nn.functional.silu(g) * u).contiguous()
    y = torch._grouped_mm(h, w2t, offs=offs) * w.flatten()[order, None]
    return torch.zeros_like(x).index_add_(0, tok, y)


def timed(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e3)
    times.sort()
    return times[len(times) // 2]


print(json.dumps({"kind": "torch-env", "torch": torch.__version__, "device": torch.cuda.get_device_name()}), flush=True)
for name, d, F, E, k, renorm in SHAPES:
    g = torch.Generator(device=dev).manual_seed(0)
    bf = torch.bfloat16
    wr = torch.randn(E, d, device=dev, dtype=bf, generator=g)
    w1 = (torch.randn(E, F, d, device=dev, dtype=bf, generator=g) / d**0.5)
    w3 = (torch.randn(E, F, d, device=dev, dtype=bf, generator=g) / d**0.5)
    w2 = (torch.randn(E, d, F, device=dev, dtype=bf, generator=g) / F**0.5)
    w13t = torch.cat([w1, w3], dim=1).transpose(1, 2)  # [E, d, 2F], column-major as _grouped_mm wants
    w2t = w2.transpose(1, 2)  # [E, F, d]
    for T in TOKENS:
        x = torch.randn(T, d, device=dev, dtype=bf, generator=g)
        reps = 30 if T <= 64 else 8
        flops = 2 * T * k * 3 * F * d
        for impl, fn in (("loop", lambda: loop_moe(x, wr, w1, w3, w2, k, renorm)), ("grouped_mm", lambda: grouped_moe(x, wr, w13t, w2t, k, renorm))):
            try:
                us = timed(fn, reps)
                print(json.dumps({"kind": "torch", "impl": impl, "shape": name, "T": T, "us": us, "tflops": flops / (us * 1e-6) / 1e12}), flush=True)
            except Exception as e:  # report, keep going
                print(json.dumps({"kind": "torch", "impl": impl, "shape": name, "T": T, "error": str(e)[:300]}), flush=True)
    del wr, w1, w3, w2, w13t, w2t
    torch.cuda.empty_cache()
