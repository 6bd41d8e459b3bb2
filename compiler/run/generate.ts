// Prompt processing and token generation on the reference interpreter.
import { ReferenceSession } from "../reference/interpreter.js";
import type { Tensor } from "../reference/tensor.js";
import type { LoadedModel } from "./load.js";
import { makeSampler, type SamplingOptions } from "../../runtime/sampling.js";

export interface GenerateResult {
  readonly ids: number[];
  readonly prefillMs: number;
  readonly decodeMs: number;
}

function lastRow(t: Tensor): Float32Array {
  const w = t.shape[t.shape.length - 1]!;
  return t.data.subarray(t.data.length - w);
}

function logitsOf(graph: LoadedModel["graph"], outs: Map<string, Tensor>): Tensor {
  return outs.get(graph.outputs[0]!.name)!;
}

/** Logits of the prompt in one forward pass without a cache: [seq, vocab]. */
export function promptLogits(model: LoadedModel, ids: readonly number[]): Tensor {
  const session = new ReferenceSession(model.graph, model.weights);
  return logitsOf(model.graph, session.forward(Int32Array.from(ids)));
}

/** Prefill, then decode one token at a time through the KV cache. */
export function generate(model: LoadedModel, ids: readonly number[], maxNewTokens: number, sampling: SamplingOptions = {}): GenerateResult {
  const session = new ReferenceSession(model.graph, model.weights);
  const sample = makeSampler(sampling);
  const out: number[] = [];
  const t0 = performance.now();
  let logits = lastRow(logitsOf(model.graph, session.forward(Int32Array.from(ids))));
  const t1 = performance.now();
  for (let i = 0; i < maxNewTokens; i++) {
    const next = sample(logits);
    out.push(next);
    if (i + 1 < maxNewTokens) logits = lastRow(logitsOf(model.graph, session.forward(Int32Array.of(next))));
  }
  return { ids: out, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}
