// The plan format, version 2 (documented in runtime/plan/README.md). Steps are kernel calls
// in order; values are activation buffers [tokens, width] assigned to slots by liveness. What
// each step reads and writes, and how it is described, is in the step table (steps.ts).
import type { EnumValue } from "../kernels/catalogue.js";
import type { StorageFormat } from "./formats.js";
import type { RopeAttr, RouterAttr } from "./types.js";

export type { ExpertGroupAttr, RopeAttr, RopeScaling, RouterAttr, Scoring } from "./types.js";
export { PLAN_FORMAT, PLAN_VERSION } from "./types.js";

export interface PlanWeight {
  readonly name: string;
  readonly shape: readonly number[];
  /** How the weight is stored in memory and in the weight pack (formats.ts). */
  readonly format: StorageFormat;
}

/**
 * A weight operand: a global weight (`w`), or inside an expert body the group's `local`-th
 * parameter, resolved per expert through `MoeGroup.bind`.
 */
export type WRef = { readonly w: number } | { readonly local: number };

export interface PlanValue {
  /** Floats per token row. */
  readonly width: number;
  /** Values with disjoint lifetimes share a slot; a slot is as wide as its widest value. */
  readonly slot: number;
}

type V = number;

export type Step =
  /** Gathers the embedding rows of the token ids in `ids` (the plan's input). */
  | { readonly op: "embed"; readonly ids: V; readonly out: V; readonly weight: WRef; readonly vocab: number; readonly dim: number }
  | { readonly op: "matmul"; readonly x: V; readonly out: V; readonly weight: WRef; readonly bias: WRef | null; readonly K: number; readonly N: number; readonly layout: "out_in" | "in_out" }
  /** Normalises every `n`-wide segment of each row (n = width, or one head for per-head q/k norms); no weight: Llama-4's L2 norm. */
  | { readonly op: "rmsnorm"; readonly x: V; readonly out: V; readonly weight: WRef | null; readonly n: number; readonly eps: number; readonly offset?: number }
  | { readonly op: "layernorm"; readonly x: V; readonly out: V; readonly weight: WRef; readonly bias: WRef | null; readonly n: number; readonly eps: number }
  | { readonly op: "unary"; readonly kind: UnaryKind; readonly x: V; readonly out: V }
  | { readonly op: "binary"; readonly kind: EnumValue<"binary">; readonly a: V; readonly b: V; readonly out: V }
  | { readonly op: "scale"; readonly x: V; readonly out: V; readonly factor: number }
  /** out = x times the one float32 value of `weight` (Gemma-4's layer_scalar): launched as a [T·width, 1] × [1, 1] matmul. */
  | { readonly op: "learned_scale"; readonly x: V; readonly out: V; readonly weight: WRef }
  | { readonly op: "swiglu"; readonly gate: V; readonly up: V; readonly out: V; readonly alpha: number; readonly limit: number | null; readonly upOffset: number }
  /**
   * The fuse-experts pass's gate and up projections with SwiGLU in the epilogue (the fused
   * kernel glu_matmul): out[t, n] = swiglu(x·gate_n, x·up_n). `gate` and `up` are f32 [N, K]
   * rows `rowStride` floats apart, from `offset` floats into their weight (the halves or the
   * interleaved rows of one [2N, K] tensor); their biases step `biasStride` floats per column.
   * `unfused`: where the gate and up projections go when a device runs the step as matmul, matmul,
   * swiglu (more rows than its fused kernel is fast for: Device.fusedMaxRows); null for
   * interleaved rows, which only the fused kernel reads.
   */
  | {
      readonly op: "glu"; readonly x: V; readonly out: V; readonly K: number; readonly N: number;
      readonly gate: GluOperand; readonly up: GluOperand; readonly rowStride: number; readonly biasStride: number;
      readonly alpha: number; readonly limit: number | null; readonly upOffset: number;
      readonly unfused: { readonly gate: V; readonly up: V } | null;
    }
  /** Splits each row into two halves, or into even and odd columns. */
  | { readonly op: "split"; readonly x: V; readonly a: V; readonly b: V; readonly interleaved: boolean }
  | { readonly op: "clamp"; readonly x: V; readonly limit: number }
  /**
   * Copies `len` columns per head: out[t, h·outStride + outOffset + j] = x[t, h·inStride + inOffset + j]
   * for h < heads (inStride 0 broadcasts one block to every head).
   */
  | { readonly op: "copy"; readonly x: V; readonly out: V; readonly heads: number; readonly len: number; readonly inStride: number; readonly inOffset: number; readonly outStride: number; readonly outOffset: number }
  /** Rotates, in place, `rope.dim` dims starting at `offset` of each of `heads` blocks of `stride` floats. */
  | { readonly op: "rope"; readonly x: V; readonly heads: number; readonly stride: number; readonly offset: number; readonly rope: RopeAttr }
  /**
   * Llama-4's attention temperature tuning, in place: each row of x (a query at position p) times
   * 1 + scale·ln(1 + ⌊(p + 1) / floorScale⌋) (runtime/math/temperature.ts).
   */
  | { readonly op: "temperature"; readonly x: V; readonly floorScale: number; readonly scale: number }
  /**
   * Appends this step's k and v rows to the cache, then attends causally over it. With `chunk`, a query at
   * position p sees only keys from ⌊p / chunk⌋·chunk on (Llama-4's chunked local attention).
   */
  | {
      readonly op: "attention"; readonly q: V; readonly k: V; readonly v: V; readonly out: V; readonly cache: number;
      readonly heads: number; readonly kvHeads: number; readonly headDim: number; readonly vDim: number;
      readonly scale: number; readonly window: number | null; readonly softcap: number | null; readonly sinks: WRef | null; readonly causal: boolean;
      readonly chunk?: number | null;
    }
  /**
   * Gated DeltaNet (runtime/math/deltanet.ts) for each sequence's rows: x [T, C] the conv input [q | k | v],
   * b and a [T, vHeads], out [T, vHeads·vDim]; the conv window and the recurrent state are cache `state`'s
   * (its k and v areas), read as zeros at a sequence's position 0.
   */
  | {
      readonly op: "deltanet"; readonly x: V; readonly b: V; readonly a: V; readonly out: V; readonly state: number;
      readonly kHeads: number; readonly vHeads: number; readonly kDim: number; readonly vDim: number; readonly kernel: number;
      readonly convWeight: WRef; readonly aLog: WRef; readonly dtBias: WRef;
    }
  /**
   * Mamba-2's selective scan and gated RMSNorm (runtime/math/mamba2.ts) for each sequence's rows: xbc [T, C] the
   * conv input [x | B | C], dt [T, heads] the raw time steps, z [T, heads·headDim] the gate, out [T, heads·headDim];
   * the conv window and the SSM state are
   * cache `state`'s (its k and v areas), read as zeros at a sequence's position 0.
   */
  | {
      readonly op: "mamba2"; readonly xbc: V; readonly dt: V; readonly z: V; readonly out: V; readonly state: number;
      readonly heads: number; readonly headDim: number; readonly stateDim: number; readonly groups: number; readonly kernel: number; readonly dtMin: number; readonly eps: number;
      readonly convWeight: WRef; readonly convBias: WRef | null; readonly aLog: WRef; readonly dtBias: WRef; readonly d: WRef; readonly norm: WRef;
    }
  /**
   * A causal depthwise conv1d + SiLU (runtime/math/mamba.ts `causalConv1d`) for each sequence's rows: x and out
   * [T, channels]; the conv window is cache `state`'s k area, read as zeros at a sequence's position 0 (Jamba's
   * Mamba-1 mixer, whose `mamba` step keeps its SSM state in the same cache's v area).
   */
  | {
      readonly op: "conv1d"; readonly x: V; readonly out: V; readonly state: number; readonly channels: number; readonly kernel: number;
      readonly weight: WRef; readonly bias: WRef | null;
    }
  /**
   * Mamba-1's selective scan (runtime/math/mamba.ts `mambaScan`) for each sequence's rows: x [T, channels] the conv
   * output, dt [T, channels] dt_proj's output, b and c [T, stateDim], z [T, channels] the gate, out [T, channels];
   * the SSM state is cache `state`'s v area, read as zeros at a sequence's position 0.
   */
  | {
      readonly op: "mamba"; readonly x: V; readonly dt: V; readonly b: V; readonly c: V; readonly z: V; readonly out: V; readonly state: number;
      readonly channels: number; readonly stateDim: number; readonly aLog: WRef; readonly d: WRef;
    }
  | MoeStep;

export type UnaryKind = EnumValue<"unary">;

/** One projection of a `glu` step: its weight and bias, each from a float offset. */
export interface GluOperand {
  readonly weight: WRef;
  readonly offset: number;
  readonly bias: WRef | null;
  readonly biasOffset: number;
}

/** The step of one op. */
export type StepOf<K extends Step["op"]> = Extract<Step, { readonly op: K }>;

export interface MoeGroup {
  readonly kind: "ffn" | "zero" | "identity";
  readonly count: number;
  /** Body steps run once per chosen expert over its tokens: input value, output value. */
  readonly steps: readonly Step[];
  readonly input: V;
  readonly output: V;
  /** bind[e][j]: the j-th parameter of expert e of this group → weight index and float offset (stacked tensors). */
  readonly bind: readonly (readonly (readonly [weight: number, offset: number])[])[];
  /**
   * Set by the fuse-experts pass: the body's last step is an f32 out_in matmul writing `output`,
   * and the MoE step launches it as matmul_scatter_add straight into its output rows (the
   * routing weights and scatter-add in the down projection's epilogue) instead of running it.
   */
  readonly fusedDown?: boolean;
}

export interface MoeStep {
  readonly op: "moe";
  readonly x: V;
  readonly routerInput: V;
  readonly out: V;
  readonly router: RouterAttr;
  /**
   * Where tokens are routed: `kernel` — the route_topk kernel on the device, which reads back
   * only the E+1 expert offsets; `host` — capacity factors and expert choice, which are
   * cross-token: the router logits are read back, routed by runtime/moe/routing.ts, and the
   * assignments uploaded. Lowering decides; a runtime only follows.
   */
  readonly routing: "kernel" | "host";
  readonly routerWeight: WRef;
  readonly routerBias: WRef | null;
  readonly selectionBias: WRef | null;
  /** Gemma-4's per-expert scale [experts] on the mixing weights (routed on the host); absent: none. */
  readonly expertScale?: WRef | null;
  readonly experts: number;
  readonly groups: readonly MoeGroup[];
  /** The shared expert (always on), with an optional sigmoid gate weight [1, width]. */
  readonly shared: { readonly steps: readonly Step[]; readonly input: V; readonly output: V; readonly fusedDown?: boolean } | null;
  readonly sharedGate: WRef | null;
}

export interface PlanCache {
  readonly kWidth: number;
  readonly vWidth: number;
  /**
   * A fixed-size state per sequence instead of rows per position (linear attention): `k` floats (the conv
   * window) and `v` floats (the recurrent state); kWidth and vWidth are then 0.
   */
  readonly state?: { readonly k: number; readonly v: number };
}

export interface Plan {
  readonly format: typeof import("./types.js").PLAN_FORMAT;
  readonly version: typeof import("./types.js").PLAN_VERSION;
  readonly model: string;
  readonly vocab: number;
  readonly input: { readonly name: string; readonly value: V };
  readonly output: { readonly name: string; readonly value: V; readonly width: number };
  readonly weights: readonly PlanWeight[];
  readonly values: readonly PlanValue[];
  readonly slots: readonly number[];
  readonly caches: readonly PlanCache[];
  readonly steps: readonly Step[];
}
