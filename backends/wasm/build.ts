// Builds the WASM SIMD kernel library (see README.md in this folder for the ABI): one module
// that imports `env.memory` and exports every kernel, validated and optimised by binaryen.
import { KERNEL_NAMES, type KernelName } from "../../runtime/kernels/catalogue.js";
import { FUSED_NAMES, type FusedName } from "../../runtime/kernels/fused.js";
import { addGluMatmul, addMatmulScatterAdd } from "./kernels/fused.js";
import { KernelModule } from "./module.js";
import { addAttention } from "./kernels/attention.js";
import { addGatedDeltaRule } from "./kernels/deltanet.js";
import { addMamba2Scan } from "./kernels/mamba2.js";
import { addCausalConv1d, addMambaScan } from "./kernels/mamba.js";
import { addBinary, addClamp, addDeinterleave, addScale, addScaleRows, addSwiglu, addUnary } from "./kernels/elementwise.js";
import { addMatmul, addMatmulKn, MATMUL_CONFIG, MATMUL_CONFIG_PLAIN, MATMUL_KN_CONFIG, type MatmulConfig, type MatmulKnConfig } from "./kernels/matmul.js";
import { addCopyBlocks, addFill, addGateAddRows, addGatherRows, addScatterAddRows } from "./kernels/moe.js";
import { addLayernorm, addRmsnorm } from "./kernels/norm.js";
import { addRope } from "./kernels/rope.js";
import { addRouteTopk } from "./kernels/routing.js";
import { addGatherRowsQ, addMatmulQ } from "./kernels/quant.js";

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

/**
 * How each kernel of the catalogue (runtime/kernels/catalogue.ts) is built: a mapped type, so a
 * kernel the catalogue lists and this backend lacks does not type-check.
 */
const BUILDERS: { readonly [K in KernelName]: (m: KernelModule, opts: KernelBuildOptions) => void } = {
  matmul: (m, o) => addMatmul(m, o.matmul ?? (o.relaxedSimd ? MATMUL_CONFIG : MATMUL_CONFIG_PLAIN)),
  matmul_kn: (m, o) => addMatmulKn(m, o.matmulKn ?? MATMUL_KN_CONFIG),
  matmul_q: addMatmulQ,
  gather_rows_q: addGatherRowsQ,
  rmsnorm: addRmsnorm,
  layernorm: addLayernorm,
  unary: addUnary,
  binary: addBinary,
  scale: addScale,
  scale_rows: addScaleRows,
  clamp: addClamp,
  swiglu: addSwiglu,
  deinterleave: addDeinterleave,
  copy_blocks: addCopyBlocks,
  rope: addRope,
  attention: addAttention,
  gated_delta_rule: addGatedDeltaRule,
  mamba2_scan: addMamba2Scan,
  causal_conv1d: addCausalConv1d,
  mamba_scan: addMambaScan,
  gather_rows: addGatherRows,
  scatter_add_rows: addScatterAddRows,
  gate_add_rows: addGateAddRows,
  fill: addFill,
  route_topk: addRouteTopk,
};

/** The optional fused kernels (runtime/kernels/fused.ts): this backend has all of them. */
const FUSED_BUILDERS: { readonly [K in FusedName]: (m: KernelModule, opts: KernelBuildOptions) => void } = {
  glu_matmul: addGluMatmul,
  matmul_scatter_add: addMatmulScatterAdd,
};

/** The names the module exports: every kernel of the catalogue, in its order, then the fused kernels. */
export const KERNEL_EXPORTS: readonly (KernelName | FusedName)[] = [...KERNEL_NAMES, ...FUSED_NAMES];

export function buildKernelModule(opts: KernelBuildOptions): { binary: Uint8Array; text?: string } {
  const m = new KernelModule({ relaxedSimd: opts.relaxedSimd, sharedMemory: opts.sharedMemory, memory64: opts.memory64 ?? false });
  try {
    for (const name of KERNEL_NAMES) BUILDERS[name](m, opts);
    for (const name of FUSED_NAMES) FUSED_BUILDERS[name](m, opts);
    if (!m.validate()) throw new Error("buildKernelModule: binaryen rejected the kernel module");
    m.optimize(opts.optimizeLevel ?? 3, 0);
    if (!m.validate()) throw new Error("buildKernelModule: the optimised kernel module does not validate");
    const binary = m.emitBinary();
    return opts.text ? { binary, text: m.emitText() } : { binary };
  } finally {
    m.dispose();
  }
}
