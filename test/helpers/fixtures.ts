// Loading the Hugging Face fixtures for tests: the imported graph, its weights, the prompt
// and what transformers computed.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadGraph, loadWeights } from "../../compiler/run/load.js";
import { fixture } from "./compile.js";

export const HF = fixture("hf");
export const hfFolders = readdirSync(HF, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

export async function loadFixture(name: string) {
  const dir = join(HF, name);
  const g = await loadGraph(dir);
  if (!("hfDir" in g)) throw new Error(`${dir} does not import: ${g.diagnostics.map((d) => d.message).join("; ")}`);
  const weights = await loadWeights(g.graph, g.hfDir, {});
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { logits_shape: [number, number]; greedy_continuation: number[] };
  const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[] | number[][];
  const prompt = (Array.isArray(ids[0]) ? ids[0] : ids) as number[];
  const raw = readFileSync(join(dir, "logits.f32"));
  const logits = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return { dir, graph: g.graph, weights, meta, prompt, logits };
}
