// Every C-style program the CUDA backend prints into cstyle.cu: the shared base's kernels
// (backends/cstyle/kernels) that compute what the catalogue says, and the backend's own (rope,
// which computes its tables from positions on the GPU). Matmuls, attention, routing, the MoE
// permutation and combine, and the gated DeltaNet stay hand-written (csrc/*.cuh): their speed
// depends on the hardware (tensor cores, warp shuffles, a block per head).
import * as elementwise from "../../cstyle/kernels/elementwise.js";
import { mamba2Scan } from "../../cstyle/kernels/mamba2.js";
import { causalConv1d, mambaScan } from "../../cstyle/kernels/mamba.js";
import * as norm from "../../cstyle/kernels/norm.js";
import type { CudaProgram } from "../programs.js";
import { ropePositions } from "./rope.js";

/** mamba2_scan per segment: xbc [T, C], dt [T, heads], z and y [T, heads·head_dim]; conv window and SSM state per sequence. */
const MAMBA2_CHANNELS = "a_heads * a_head_dim + 2 * a_groups * a_state_dim";
const mamba2: CudaProgram = {
  program: mamba2Scan,
  sequence: { rows: { xbc: MAMBA2_CHANNELS, dt: "a_heads", z: "a_heads * a_head_dim", y: "a_heads * a_head_dim" }, states: ["conv_state", "state"], scratch: MAMBA2_CHANNELS },
};

/** Jamba's Mamba-1 mixer per segment: x, y (and dt, z) [T, channels], B and C [T, state_dim]; the conv window or the SSM state per sequence; no scratch. */
const conv1d: CudaProgram = { program: causalConv1d, sequence: { rows: { x: "a_channels", y: "a_channels" }, states: ["conv_state"], scratch: "0" } };
const mamba: CudaProgram = {
  program: mambaScan,
  sequence: { rows: { x: "a_channels", dt: "a_channels", b: "a_state_dim", c: "a_state_dim", z: "a_channels", y: "a_channels" }, states: ["state"], scratch: "0" },
};

export const CUDA_PROGRAMS: readonly CudaProgram[] = [
  ...[elementwise.unary, elementwise.binary, elementwise.scale, elementwise.clamp, elementwise.swiglu, elementwise.deinterleave, elementwise.copy_blocks, norm.rmsnorm, norm.layernorm].map((program) => ({ program })),
  ropePositions,
  mamba2,
  conv1d,
  mamba,
];
