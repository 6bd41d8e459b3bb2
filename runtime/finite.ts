// Non-finite values (NaN, ±Infinity) must stop a model, not turn into token 0. The checks are
// one pass over what is about to be used anyway: the logits a call returns or samples from
// (vocab floats per token, nothing next to a forward pass), and the weights at load where the
// caller asks for it.

export class NonFiniteError extends Error {
  override name = "NonFiniteError";
}

/** Index of the first NaN or ±Infinity in a[from, to), or −1. */
export function firstNonFinite(a: ArrayLike<number>, from = 0, to = a.length): number {
  for (let i = from; i < to; i++) {
    const v = a[i]!;
    // v − v is 0 for every finite v, NaN for NaN and ±Infinity.
    if (v - v !== 0) return i;
  }
  return -1;
}

export function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity";
}

/** The [row, column] of flat index i in a row-major tensor of `shape`, as "[r, c]". */
export function indexText(i: number, shape: readonly number[]): string {
  if (shape.length <= 1) return `[${i}]`;
  const at: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return `[${at.join(", ")}]`;
}

/**
 * Checks the logits a forward call returns, one array of [rows, vocab] per sequence; throws a
 * NonFiniteError naming the sequence, its position, the token id and the value.
 */
export function checkLogits(model: string, items: readonly { seq: number; ids: ArrayLike<number> }[], outs: readonly Float32Array[], vocab: number, startPositions: readonly number[], where: string | null = null): void {
  for (let j = 0; j < outs.length; j++) {
    const out = outs[j]!;
    const bad = firstNonFinite(out);
    if (bad < 0) continue;
    const row = Math.floor(bad / vocab);
    const seq = items[j]!.seq;
    throw new NonFiniteError(
      `${model}: the logits of sequence ${seq} at position ${startPositions[j]! + row} hold ${describeNonFinite(out[bad]!)} (token id ${bad % vocab}) — the weights hold NaN or Infinity, or an activation overflowed float32. ` +
        (where ? `In the pass that produced them, ${where}. ` : "") +
        `Check the weights (moec run MODEL --check-weights names the tensor${where ? "" : "; moec run --target reference names the layer where the first non-finite value appears"}). ` +
        `The KV cache of sequence ${seq} now holds non-finite values: reset(${seq}) before using it again.`,
    );
  }
}

/** Checks one row of logits before a token is sampled from it. */
export function checkRow(logits: ArrayLike<number>, what: string): void {
  const bad = firstNonFinite(logits);
  if (bad >= 0) throw new NonFiniteError(`${what}: the logits hold ${describeNonFinite(logits[bad]!)} at token id ${bad}; no token can be chosen from them — the weights hold NaN or Infinity, or an activation overflowed float32`);
}
