# Writes test/quant/lowbit-golden.json: random Q2_K and Q3_K blocks and the values gguf-py's
# dequantiser (an implementation independent of moec's, numpy over ggml's layout) gives them.
# Run once: python3 test/quant/make-lowbit-golden.py  (gguf 0.19.0 made the checked-in file).
import json, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

rng = np.random.default_rng(20261203)
out = {"gguf": gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0", "cases": []}
# (type, bytes per block, offsets of f16 scale fields)
for t, size, halves in [(Q.Q2_K, 84, [80, 82]), (Q.Q3_K, 110, [108])]:
    nb = 3
    raw = rng.integers(0, 256, size=nb * size, dtype=np.uint8)
    for b in range(nb):
        for h in halves:
            # finite scales of mixed sign and magnitude (random bytes could be inf or NaN)
            v = np.float16(rng.normal() * 10.0 ** rng.integers(-3, 1))
            raw[b * size + h: b * size + h + 2] = np.frombuffer(v.tobytes(), dtype=np.uint8)
    y = dequantize(raw, t).astype(np.float32).reshape(-1)
    out["cases"].append({"type": t.name, "blocks": raw.tobytes().hex(), "values": y.tobytes().hex()})
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "test/quant/lowbit-golden.json", "w"), indent=0)
