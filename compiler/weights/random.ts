// Deterministic random weights (`--random-weights SEED`): each tensor's values depend only on
// the seed and its name, so they do not change when unrelated parts of a model change.
// Norm weights are 1 ± 0.1 and everything else N(0, 0.02²), so activations stay tame.
import { expectedTensors } from "./expected.js";
import { seededRandom } from "../../runtime/sampling.js";
import type { Graph } from "../ir/graph.js";

function hash(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function randomTensor(name: string, size: number, seed: number): Float32Array {
  const next = seededRandom(hash(name, seed));
  const out = new Float32Array(size);
  const isNorm = /norm/.test(name) && !/proj/.test(name);
  for (let i = 0; i < size; i++) {
    // Box–Muller from two uniforms.
    const g = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    out[i] = isNorm ? 1 + 0.1 * g : 0.02 * g;
  }
  return out;
}

export function randomWeights(graph: Graph, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of expectedTensors(graph)) out.set(name, randomTensor(name, t.shape.reduce((a, b) => a * b, 1), seed));
  return out;
}
