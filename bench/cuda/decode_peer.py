# The peer of moec's whole-model decode on the same card (bench/cuda/device.sh decode): transformers'
# own model of each family in decode.json (bench/cuda/layers.ts: real shapes cut to a few layers),
# random bf16 weights initialised on the GPU, greedy `generate` (eager, its default experts
# implementation) from the same 32-token prompt. Time per decoded token: generate with 65 new tokens
# minus generate with 1 (the prefill and the first token), over 64; best of two after a warm-up.
#
#   python3 decode_peer.py decode.json
import json
import random
import sys
import time

import torch
import transformers


def emit(**kw):
    print(json.dumps(kw), flush=True)


def generate_ms(model, ids, new):
    best = 1e30
    for rep in range(3):  # a warm-up, then two timed
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        if rep:
            best = min(best, (time.perf_counter() - t) * 1e3)
    assert out.shape[1] == ids.shape[1] + new
    return best


def main():
    models = json.load(open(sys.argv[1]))
    random.seed(5)
    prompt = [random.randrange(1000, 30000) for _ in range(32)]
    for dm in models:
        try:
            hf = dict(dm["hf"])
            model_type = hf.pop("model_type")
            hf.pop("architectures", None)
            config = transformers.AutoConfig.for_model(model_type, **hf)
            torch.manual_seed(0)
            with torch.device("cuda"):
                model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
            model.eval()
            ids = torch.tensor([prompt], device="cuda")
            with torch.no_grad():
                one = generate_ms(model, ids, 1)
                full = generate_ms(model, ids, 65)
            emit(peer="transformers_generate", model=dm["name"], version=transformers.__version__, ms_per_token=(full - one) / 64,
                 first_token_ms=one, experts_implementation=str(getattr(model.config, "_experts_implementation", None)))
            del model
            torch.cuda.empty_cache()
        except Exception as e:
            emit(peer="transformers_generate", model=dm["name"], error=f"{type(e).__name__}: {e}"[:400])


if __name__ == "__main__":
    main()
