// The WASM SIMD kernels (backends/wasm builds them; see backends/wasm/README.md for the ABI)
// behind the Kernels interface. Two builds ship: with relaxed SIMD (fused multiply-add) for
// engines that have it, detected here at load, and plain SIMD128 for the rest.
import { jsKernels } from "./js.js";
import type { KernelFactory } from "../model.js";
import type { Kernels } from "./kernels.js";

/** A minimal module whose only function uses f32x4.relaxed_madd: it validates iff relaxed SIMD is there. */
function relaxedProbe(): Uint8Array<ArrayBuffer> {
  const v128 = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...v128, ...v128, ...v128, 0xfd, 0x85, 0x02, 0x0b];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // function 0 of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
}

export function hasRelaxedSimd(): boolean {
  try {
    return WebAssembly.validate(relaxedProbe());
  } catch {
    return false;
  }
}

export const KERNEL_FILES = { relaxed: "kernels-relaxed.wasm", plain: "kernels.wasm" } as const;

export function pickKernelFile(): string {
  return hasRelaxedSimd() ? KERNEL_FILES.relaxed : KERNEL_FILES.plain;
}

type Fn = (...args: number[]) => void;

/** Kernels from a compiled kernel module, instantiated on the model's memory. */
export function wasmKernels(bytes: Uint8Array): KernelFactory {
  return async (memory) => {
    const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const e = instance.exports as Record<string, Fn>;
    const js = jsKernels(() => memory.buffer);
    const k: Kernels = {
      name: "wasm",
      matmul: (...a) => e["matmul"]!(...a),
      matmul_kn: (...a) => e["matmul_kn"]!(...a),
      rmsnorm: (...a) => e["rmsnorm"]!(...a),
      layernorm: (...a) => e["layernorm"]!(...a),
      unary: (...a) => e["unary"]!(...a),
      binary: (...a) => e["binary"]!(...a),
      scale: (...a) => e["scale"]!(...a),
      clamp: (...a) => e["clamp"]!(...a),
      swiglu: (...a) => e["swiglu"]!(...a),
      deinterleave: (...a) => e["deinterleave"]!(...a),
      rope: (...a) => e["rope"]!(...a),
      attention(q, kk, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal) {
        // The kernel's ABI has one head dim and is causal; MLA (vDim ≠ headDim) and
        // bidirectional attention take the TypeScript path.
        if (vDim !== headDim || !causal) return js.attention(q, kk, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal);
        e["attention"]!(q, kk, v, out, T, start, heads, kvHeads, headDim, kStride, vStride, scale, window, softcap, sinks, scratch);
      },
      gather_rows: (...a) => e["gather_rows"]!(...a),
      scatter_add_rows: (...a) => e["scatter_add_rows"]!(...a),
      fill: (...a) => e["fill"]!(...a),
    };
    return k;
  };
}
