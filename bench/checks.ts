// What the runtime's safety checks cost in decode: a small MoE decoder (4 layers, d 512, 16
// experts of width 256, top-2, vocabulary 32000 — the vocabulary is what the per-token logits
// check scans) on the WASM kernels, timed through the public API as an app uses it:
// `model.generate` (sampling, the non-finite logits check, the one-generator-at-a-time lock,
// option validation) and `model.forwardBatch` alone (the lock and the logits check only).
// Each is run `--rounds` times, alternating, and the median step is reported.
//
//   npm run build && node --experimental-strip-types bench/checks.ts [--tokens 64] [--rounds 5]
import { parseArgs } from "node:util";
import { expectedTensors } from "../dist/compiler/weights/expected.js";
import { randomTensor } from "../dist/compiler/weights/random.js";
import { modelSource } from "./model-decode.ts";
import { compileSource, moecKernels, moecModel } from "./moec.ts";
import { stats } from "./timing.ts";

const { values } = parseArgs({ options: { tokens: { type: "string", default: "64" }, rounds: { type: "string", default: "5" }, prompt: { type: "string", default: "8" } } });
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const prompt = Number(values.prompt);
const config = { layers: 4, d: 512, heads: 8, experts: 16, k: 2, ffn: 256, vocab: 32000 } as const;
// modelSource is typed for DECODE_MODEL's literal sizes; any sizes print a valid program.
const graph = compileSource("checks.moe", modelSource(config as unknown as Parameters<typeof modelSource>[0]));
const params = [...expectedTensors(graph).values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
const kernels = await moecKernels(1);
const model = await moecModel(graph, (name, into) => into.set(randomTensor(name, into.length, 7)), kernels, 64, prompt + tokens + 8);
const ids = Array.from({ length: prompt }, (_, i) => (i * 7919 + 11) % config.vocab);
const argmax = (l: Float32Array) => {
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i;
  return best;
};

async function viaGenerate(): Promise<number[]> {
  const times: number[] = [];
  let t = performance.now();
  let first = true;
  for await (const _ of model.generate(ids, { maxNewTokens: tokens })) {
    const now = performance.now();
    if (!first) times.push(now - t);
    first = false;
    t = now;
  }
  return times;
}

async function viaForward(): Promise<number[]> {
  model.reset();
  let next = argmax((await model.forward(ids)).subarray((prompt - 1) * config.vocab));
  const times: number[] = [];
  for (let i = 1; i < tokens; i++) {
    const a = performance.now();
    next = argmax((await model.forwardBatch([{ seq: 0, ids: [next] }]))[0]!);
    times.push(performance.now() - a);
  }
  return times;
}

await viaGenerate(); // warm-up
const gen: number[] = [];
const fwd: number[] = [];
for (let r = 0; r < rounds; r++) {
  gen.push(...(await viaGenerate()));
  fwd.push(...(await viaForward()));
}
await model.dispose();
const g = stats(gen);
const f = stats(fwd);
console.log(`${(params / 1e6).toFixed(0)} M parameters on ${kernels.label}; ${rounds} rounds of ${tokens} tokens`);
console.log(`generate:     median ${g.median.toFixed(3)} ms/token (p10 ${g.p10.toFixed(3)}, p90 ${g.p90.toFixed(3)}) = ${(1000 / g.median).toFixed(1)} tokens/s`);
console.log(`forwardBatch: median ${f.median.toFixed(3)} ms/token (p10 ${f.p10.toFixed(3)}, p90 ${f.p90.toFixed(3)}) = ${(1000 / f.median).toFixed(1)} tokens/s`);
