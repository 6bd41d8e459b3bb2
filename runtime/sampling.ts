// Choosing the next token from logits: greedy (argmax, lowest id on ties) or sampling with
// temperature, top-k and top-p from a seeded generator, so runs are reproducible. The options
// are validated (runtime/options.ts) and a row holding NaN or Infinity is refused, never
// turned into token 0.
import { checkRow, describeNonFinite, NonFiniteError } from "./finite.js";
import { checkSampling } from "./options.js";

export interface SamplingOptions {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** argmax that refuses a non-finite logit (one subtraction per logit, in the same pass). */
function greedy(logits: Float32Array): number {
  let best = 0;
  let top = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v - v !== 0) throw new NonFiniteError(`the logits hold ${describeNonFinite(v)} at token id ${i}; no token can be chosen from them — the weights hold NaN or Infinity, or an activation overflowed float32`);
    if (v > top) {
      top = v;
      best = i;
    }
  }
  return best;
}

export function makeSampler(opts: SamplingOptions): (logits: Float32Array) => number {
  checkSampling(opts);
  const temperature = opts.temperature ?? 0;
  if (temperature <= 0) return greedy;
  const random = seededRandom(opts.seed ?? 0);
  return (logits) => {
    checkRow(logits, "sampling");
    let ids = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
    if (opts.topK && opts.topK > 0) ids = ids.slice(0, opts.topK);
    const max = logits[ids[0]!]!;
    let probs = ids.map((i) => Math.exp((logits[i]! - max) / temperature));
    let sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
    if (opts.topP !== undefined && opts.topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < opts.topP) acc += probs[keep++]!;
      ids = ids.slice(0, Math.max(1, keep));
      probs = probs.slice(0, ids.length);
      sum = probs.reduce((a, b) => a + b, 0);
      probs = probs.map((p) => p / sum);
    }
    let u = random();
    for (let i = 0; i < ids.length; i++) {
      u -= probs[i]!;
      if (u < 0) return ids[i]!;
    }
    return ids[ids.length - 1]!;
  };
}
