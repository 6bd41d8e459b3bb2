// llama.cpp (node-llama-cpp 3.21.1, its CPU build) as the independent answer of the GGUF parity
// tests: its greedy tokens after a prompt and its log-probabilities at each step, and the two
// small helpers the tests compare moec's logits with.
import type { Llama } from "node-llama-cpp";

/** llama.cpp's greedy tokens after `prompt` (`steps` of them), with its log-probabilities over the vocabulary at each step. */
export async function llamaSteps(llama: Llama, file: string, prompt: readonly number[], vocab: number, steps: number, contextSize: number): Promise<{ tokens: number[]; logp: Float64Array[] }> {
  const model = await llama.loadModel({ modelPath: file });
  // No flash attention (its CPU kernel rounds queries to F16) and an F32 key/value cache (F16 by
  // default): moec keeps attention in float32.
  const ctx = await model.createContext({ contextSize, threads: 1, sequences: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  try {
    const tokens: number[] = [];
    const logp: Float64Array[] = [];
    for await (const o of ctx.getSequence().evaluateWithMetadata(prompt as never, { probabilities: true }, { temperature: 0 })) {
      tokens.push(o.token as unknown as number);
      const row = new Float64Array(vocab).fill(-Infinity);
      for (const [t, p] of o.probabilities) row[t as unknown as number] = Math.log(p);
      logp.push(row);
      if (tokens.length >= steps) break;
    }
    return { tokens, logp };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

/** log softmax of a logit row, in float64. */
export function logSoftmax(row: Float32Array): Float64Array {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let s = 0;
  for (const x of row) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  return Float64Array.from(row, (x) => x - lse);
}

/** The index of the largest value (the first of equals). */
export function argmax(r: ArrayLike<number>): number {
  let a = 0;
  for (let i = 1; i < r.length; i++) if (r[i]! > r[a]!) a = i;
  return a;
}
