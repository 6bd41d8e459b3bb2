// Llama-4's attention temperature tuning (transformers 5.17, Llama4TextAttention): on its layers
// without RoPE, the queries at position p are multiplied by
//   1 + scale · ln(1 + floor((p + 1) / floor_scale))
// computed in float32 (torch.log1p of a float32 floor), before the scores. The reference interpreter and
// the executor's `temperature` step both use this function.

/** The factor of the query at position `p` (as float32). */
export function temperatureFactor(p: number, floorScale: number, scale: number): number {
  const fl = Math.floor(Math.fround((p + 1) / floorScale));
  return Math.fround(Math.fround(Math.fround(Math.log1p(fl)) * Math.fround(scale)) + 1);
}
