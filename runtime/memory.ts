// The memory layout of a loaded model in one linear memory (WASM or a plain ArrayBuffer):
//   [weights | KV caches | activation slots (for maxTokens rows) | scratch]
// Everything is 16-byte aligned so SIMD loads never straddle.
//
// A 32-bit WebAssembly memory holds 4 GiB. Bigger models get a 64-bit memory (Memory64)
// where the engine has one; today's engines cap those at 16 GiB.
import { moeScratch } from "./moe/scratch.js";
import { deltaNetScratchFloats } from "./math/deltanet.js";
import { mamba2ScratchFloats } from "./math/mamba2.js";
import { weightBytes } from "./plan/formats.js";
import { matmulQScratchFloats } from "./kernels/catalogue.js";
import type { Plan } from "./plan/plan.js";
import { allSteps } from "./plan/steps.js";
import { memoryProblem } from "./options.js";

export const WASM_PAGE = 65536;
export const MAX_MEMORY32 = 65536 * WASM_PAGE; // 4 GiB
export const MAX_MEMORY64 = 262144 * WASM_PAGE; // 16 GiB: V8's and SpiderMonkey's limit

/** A minimal module with a 64-bit memory: it validates iff the engine has Memory64. */
const MEMORY64_PROBE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x00]);

export function hasMemory64(): boolean {
  try {
    return typeof WebAssembly !== "undefined" && WebAssembly.validate(MEMORY64_PROBE);
  } catch {
    return false;
  }
}

export class MemoryLimitError extends Error {}

/**
 * The linear memory for a layout: 32-bit when it fits in 4 GiB (unless `memory64` is forced),
 * else 64-bit. Throws MemoryLimitError naming the limit that was hit and what to do.
 */
export function createMemory(what: string, totalBytes: number, opts: { shared: boolean; memory64: boolean }): WebAssembly.Memory {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  const need = `${what} needs ${gib(totalBytes)} of memory (weights, KV caches and activations)`;
  // The weights' size is the model's; only the cache and activation sizes are the caller's to lower.
  const fix = "lower maxContext, maxTokens or sequences (the KV caches and activations grow with them)";
  if (!opts.memory64 && totalBytes > MAX_MEMORY32) {
    throw new MemoryLimitError(hasMemory64()
      ? `${need}, more than the 4 GiB a 32-bit WebAssembly memory holds, and the kernels given are a 32-bit build; use a 64-bit build (wasmDevice(bytes, { memory64: true }) on kernels-*-m64.wasm — loadModel and moec run pick it themselves), or ${fix}`
      : `${need}, more than the 4 GiB a 32-bit WebAssembly memory holds, and this JavaScript engine has no 64-bit memories (Memory64: Node ≥ 24, Chrome ≥ 133, Firefox ≥ 134); use one that has, or ${fix}`);
  }
  if (totalBytes > MAX_MEMORY64) throw new MemoryLimitError(`${need}, more than the 16 GiB a 64-bit WebAssembly memory may hold in today's engines; ${fix}`);
  const pages = Math.max(1, Math.ceil(totalBytes / WASM_PAGE));
  try {
    if (!opts.memory64) return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: opts.shared });
    // Memory64 descriptors take BigInt sizes (and an `address` the lib types do not know yet).
    const descriptor = { initial: BigInt(pages), maximum: BigInt(pages), shared: opts.shared, address: "i64" };
    return new WebAssembly.Memory(descriptor as unknown as WebAssembly.MemoryDescriptor);
  } catch (e) {
    throw new MemoryLimitError(`${need}, and the engine could not reserve it (${(e as Error).message}); free memory, or ${fix}`);
  }
}

export interface Layout {
  readonly weightOffsets: readonly number[];
  /** KV cache of each sequence slot (`[sequence][cache]`): a batch runs up to `sequences` at once. */
  readonly cacheOffsets: readonly (readonly { k: number; v: number }[])[];
  readonly slotOffsets: readonly number[];
  readonly scratch: number;
  readonly scratchBytes: number;
  /** Working memory of the quantized matmuls (matmul_q's `scratch`), a share per thread; apart from `scratch`, which MoE routing holds while expert bodies run. */
  readonly quantScratch: number;
  readonly totalBytes: number;
  readonly maxTokens: number;
  readonly maxContext: number;
  readonly sequences: number;
}

const align = (n: number) => Math.ceil(n / 16) * 16;

export interface LayoutOptions {
  /** Rows per forward pass (activation slots are sized for it). */
  readonly maxTokens: number;
  /** Positions each KV cache holds. */
  readonly maxContext: number;
  /** Attention kernels running in parallel each need their own scratch row (default 1). */
  readonly threads?: number;
  /**
   * Bytes left unused before the weights (at least 64: a null pointer means "no bias" to the
   * kernels); tests set it above 4 GiB to run small models at 64-bit addresses.
   */
  readonly base?: number;
  /** Sequence slots, each with its own KV cache (batched generation; default 1). */
  readonly sequences?: number;
  /** The device's largest address space, when not a 64-bit WebAssembly memory's 16 GiB (DeviceFactory.addressLimit). */
  readonly limit?: { readonly bytes: number; readonly text: string };
}

/** Kernels index inside one tensor with 32-bit offsets (backends/wasm/README.md, ABI). */
const MAX_TENSOR_BYTES = 2 ** 32;

export function layoutFor(plan: Plan, opts: LayoutOptions): Layout {
  // Sizes are checked by arithmetic before anything is laid out (sequences: 1e9 must not build 1e9 caches).
  const limit = opts.limit ?? { bytes: MAX_MEMORY64, text: "the 16 GiB a 64-bit WebAssembly memory may hold in today's engines" };
  const over = memoryProblem(plan, { maxContext: opts.maxContext, maxTokens: opts.maxTokens, sequences: opts.sequences ?? 1 }, limit.bytes, limit.text);
  if (over) throw new MemoryLimitError(over);
  const { maxTokens, maxContext } = opts;
  const threads = opts.threads ?? 1;
  const sequences = opts.sequences ?? 1;
  const tooBig = (what: string, bytes: number) => {
    if (bytes >= MAX_TENSOR_BYTES) throw new MemoryLimitError(`${plan.model}: ${what} takes ${(bytes / 2 ** 30).toFixed(2)} GiB; the kernels address one tensor with 32-bit offsets, so each must stay under 4 GiB — lower maxContext or maxTokens`);
  };
  let at = align(Math.max(64, opts.base ?? 64));
  const weightOffsets = plan.weights.map((w) => {
    const o = at;
    const bytes = weightBytes(w.format, w.shape);
    if (bytes >= MAX_TENSOR_BYTES) throw new MemoryLimitError(`${plan.model}: weight ${w.name} [${w.shape.join(", ")}] takes ${(bytes / 2 ** 30).toFixed(2)} GiB as ${w.format}; the kernels address one tensor with 32-bit offsets, so each must stay under 4 GiB`);
    at = align(at + bytes);
    return o;
  });
  const cacheOffsets = Array.from({ length: sequences }, () =>
    plan.caches.map((c) => {
      if (c.state) {
        // linear attention: a fixed state per sequence (conv window at k, recurrent state at v)
        const k = at;
        at = align(at + 4 * c.state.k);
        const v = at;
        at = align(at + 4 * c.state.v);
        return { k, v };
      }
      const k = at;
      tooBig("one KV cache", 4 * maxContext * Math.max(c.kWidth, c.vWidth));
      at = align(at + 4 * maxContext * c.kWidth);
      const v = at;
      at = align(at + 4 * maxContext * c.vWidth);
      return { k, v };
    }),
  );
  const slotOffsets = plan.slots.map((w) => {
    const o = at;
    tooBig("one activation buffer", 4 * maxTokens * w);
    at = align(at + 4 * maxTokens * w);
    return o;
  });
  // Scratch: MoE routing (logits, offsets, token indices and weights, route_topk's work: see
  // moe/scratch.ts), rope tables, attention logits.
  let moeBytes = 0;
  let ropeHalf = 0;
  let deltaFloats = 0;
  for (const s of allSteps(plan.steps)) {
    if (s.op === "moe") moeBytes = Math.max(moeBytes, moeScratch(maxTokens, s.experts, s.router).bytes);
    if (s.op === "rope") ropeHalf = Math.max(ropeHalf, s.rope.dim / 2);
    if (s.op === "deltanet") deltaFloats = Math.max(deltaFloats, deltaNetScratchFloats(s));
    if (s.op === "mamba2") deltaFloats = Math.max(deltaFloats, mamba2ScratchFloats(s));
  }
  // Routing, RoPE tables, attention rows and temperature factors (maxTokens floats, within the
  // attention rows' share) each start at the scratch base and are never live at once (each is used
  // within one step), so scratch is the largest of them.
  // (Also room for the rows a pass keeps for its logits: one per sequence, of the widest value, with their indices.)
  const routing = Math.max(moeBytes / 4, 2 * maxTokens * ropeHalf, sequences * (Math.max(0, ...plan.slots) + 4));
  const attention = threads * (maxContext + maxTokens + 16);
  const scratchBytes = align(4 * (Math.max(routing, attention, deltaFloats) + 64));
  tooBig("the scratch area", scratchBytes);
  const scratch = at;
  at += scratchBytes;
  const quantScratch = at;
  at += align(threads * quantScratchBytes(plan, maxTokens));
  return { weightOffsets, cacheOffsets, slotOffsets, scratch, scratchBytes, quantScratch, totalBytes: at, maxTokens, maxContext, sequences };
}

/** Bytes one thread's share of matmul_q scratch needs: the largest of the plan's matmuls on non-f32 weights. */
export function quantScratchBytes(plan: Plan, maxTokens: number): number {
  if (plan.weights.every((w) => w.format === "f32")) return 0;
  let floats = 0;
  for (const s of allSteps(plan.steps)) {
    if (s.op !== "matmul") continue;
    const f = "w" in s.weight ? plan.weights[s.weight.w]?.format : undefined;
    // Expert-local weights resolve per expert; any of them may be quantized.
    if (f === "f32") continue;
    floats = Math.max(floats, matmulQScratchFloats(maxTokens, s.K));
  }
  return align(4 * floats);
}
