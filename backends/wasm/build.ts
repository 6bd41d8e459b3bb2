// Builds the WASM SIMD kernel library (see README.md in this folder for the ABI): one module
// that imports `env.memory` and exports every kernel, validated and optimised by binaryen.
import { KernelModule } from "./module.js";
import { addAttention } from "./kernels/attention.js";
import { addBinary, addClamp, addDeinterleave, addScale, addSwiglu, addUnary } from "./kernels/elementwise.js";
import { addMatmul, addMatmulKn, MATMUL_CONFIG, MATMUL_CONFIG_PLAIN, MATMUL_KN_CONFIG, type MatmulConfig, type MatmulKnConfig } from "./kernels/matmul.js";
import { addFill, addGatherRows, addScatterAddRows } from "./kernels/moe.js";
import { addLayernorm, addRmsnorm } from "./kernels/norm.js";
import { addRope } from "./kernels/rope.js";
import { addRouteTopk } from "./kernels/routing.js";

export interface KernelBuildOptions {
  /** Use f32x4.relaxed_madd in the matmul and attention dot products (engines with relaxed SIMD). */
  readonly relaxedSimd: boolean;
  /** Import `env.memory` as shared (for workers on one `WebAssembly.Memory({ shared: true })`). */
  readonly sharedMemory: boolean;
  /** Import a 64-bit memory (Memory64): pointers are i64 inside, f64 at the exports. */
  readonly memory64?: boolean;
  /** Also return the module as text (after optimisation). */
  readonly text?: boolean;
  /** binaryen optimize level (default 3). */
  readonly optimizeLevel?: number;
  /** Tile and block sizes (for tuning; the defaults are the shipped ones). */
  readonly matmul?: MatmulConfig;
  readonly matmulKn?: MatmulKnConfig;
}

/** The names the module exports, in ABI order. */
export const KERNEL_EXPORTS = [
  "matmul",
  "matmul_kn",
  "rmsnorm",
  "layernorm",
  "unary",
  "binary",
  "scale",
  "clamp",
  "swiglu",
  "deinterleave",
  "rope",
  "attention",
  "attention_heads",
  "gather_rows",
  "scatter_add_rows",
  "fill",
  "route_topk",
] as const;

export function buildKernelModule(opts: KernelBuildOptions): { binary: Uint8Array; text?: string } {
  const m = new KernelModule({ relaxedSimd: opts.relaxedSimd, sharedMemory: opts.sharedMemory, memory64: opts.memory64 ?? false });
  try {
    addMatmul(m, opts.matmul ?? (opts.relaxedSimd ? MATMUL_CONFIG : MATMUL_CONFIG_PLAIN));
    addMatmulKn(m, opts.matmulKn ?? MATMUL_KN_CONFIG);
    addRmsnorm(m);
    addLayernorm(m);
    addUnary(m);
    addBinary(m);
    addScale(m);
    addClamp(m);
    addSwiglu(m);
    addDeinterleave(m);
    addRope(m);
    addAttention(m);
    addGatherRows(m);
    addScatterAddRows(m);
    addFill(m);
    addRouteTopk(m);
    if (!m.validate()) throw new Error("buildKernelModule: binaryen rejected the kernel module");
    m.optimize(opts.optimizeLevel ?? 3, 0);
    if (!m.validate()) throw new Error("buildKernelModule: the optimised kernel module does not validate");
    const binary = m.emitBinary();
    return opts.text ? { binary, text: m.emitText() } : { binary };
  } finally {
    m.dispose();
  }
}
