// The fixture parity run for the GPU machine (Deno, WebGPU): each folder under the given one
// holds a fixture's plan.json and weights.safetensors (moec compile --target webgpu) beside
// transformers' logits.f32, meta.json and input_ids.json. Prints one JSON line per fixture:
// the relative logit error of the prompt pass and whether the greedy continuation matches.
import { loadModel } from "../../runtime/load.js";

declare const Deno: { args: string[]; readDir(p: string): AsyncIterable<{ name: string; isDirectory: boolean }>; readFile(p: string): Promise<Uint8Array>; readTextFile(p: string): Promise<string> };

const root = Deno.args[0] ?? "parity";
const names: string[] = [];
for await (const e of Deno.readDir(root)) if (e.isDirectory) names.push(e.name);
names.sort();
let pass = 0;
for (const name of names) {
  const dir = `${root}/${name}`;
  try {
    const meta = JSON.parse(await Deno.readTextFile(`${dir}/meta.json`)) as { greedy_continuation: number[] };
    const ids = JSON.parse(await Deno.readTextFile(`${dir}/input_ids.json`)) as number[] | number[][];
    const prompt = (Array.isArray(ids[0]) ? ids[0] : ids) as number[];
    const raw = await Deno.readFile(`${dir}/logits.f32`);
    const want = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const model = await loadModel(new URL(`file://${Deno.args[1] ?? ""}/${dir}/`), { backend: "webgpu", maxContext: 64, maxTokens: 16, tokenizer: false });
    const got = await model.forward(prompt);
    let num = 0;
    let den = 0;
    for (let i = 0; i < want.length; i++) {
      num += (got[i]! - want[i]!) ** 2;
      den += want[i]! ** 2;
    }
    const err = Math.sqrt(num / den);
    const out: number[] = [];
    for await (const t of model.generate(prompt, { maxNewTokens: meta.greedy_continuation.length })) out.push(t as number);
    const tokens = out.join(",") === meta.greedy_continuation.join(",");
    await model.dispose();
    if (err < 1e-4 && tokens) pass++;
    console.log(JSON.stringify({ kind: "parity", fixture: name, relativeError: err, greedyMatches: tokens, kernels: model.kernels }));
  } catch (e) {
    console.log(JSON.stringify({ kind: "parity", fixture: name, error: (e as Error).message.slice(0, 300) }));
  }
}
console.log(JSON.stringify({ kind: "parity-summary", fixtures: names.length, pass }));
