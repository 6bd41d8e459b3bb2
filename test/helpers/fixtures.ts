// Loading the Hugging Face fixtures for tests: the imported graph, its weights, the prompt
// and what transformers computed.
import { existsSync, readdirSync, readFileSync } from "node:fs";
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

function readF32(file: string): Float32Array {
  const raw = readFileSync(file);
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

/**
 * The logits model.generate returned at each greedy step ([steps, vocab]: step 0 is the prompt's last row, the
 * others decode one token through the KV cache), or null for fixtures made before make_fixtures.py wrote them.
 */
export function generateLogitsOf(dir: string): Float32Array | null {
  const file = join(dir, "generate_logits.f32");
  return existsSync(file) ? readF32(file) : null;
}

/**
 * Whether the fixture uses dynamic NTK RoPE, whose frequencies depend on the length of the sequence in each
 * forward call: transformers' token-by-token logits then differ from its one-pass logits (by design), so only
 * the one-pass logits and the cached generation (generate_logits.f32) can be compared.
 */
export function usesDynamicRope(dir: string): boolean {
  const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { rope_parameters?: { rope_type?: string } | null; rope_scaling?: { rope_type?: string; type?: string } | null };
  const p = c.rope_scaling ?? c.rope_parameters;
  return (p && "rope_type" in p ? p.rope_type : (p as { type?: string } | null | undefined)?.type) === "dynamic";
}

/** Max over steps of the relative error of each row of `got` against the same row of `want` ([rows, vocab]). */
export function rowwiseRelativeError(got: Float32Array, want: Float32Array, vocab: number): number {
  let worst = 0;
  for (let r = 0; r * vocab < want.length; r++) worst = Math.max(worst, relativeError(got.subarray(r * vocab, (r + 1) * vocab), want.subarray(r * vocab, (r + 1) * vocab)));
  return worst;
}

export async function loadFixture(name: string) {
  const dir = join(HF, name);
  const g = await loadGraph(dir);
  if (!("hfDir" in g)) throw new Error(`${dir} does not import: ${g.diagnostics.map((d) => d.message).join("; ")}`);
  const weights = await loadWeights(g.graph, g.hfDir, {});
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { logits_shape: [number, number]; greedy_continuation: number[] };
  const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[] | number[][];
  const prompt = (Array.isArray(ids[0]) ? ids[0] : ids) as number[];
  const logits = readF32(join(dir, "logits.f32"));
  return { dir, graph: g.graph, weights, meta, prompt, logits, generateLogits: generateLogitsOf(dir) };
}
