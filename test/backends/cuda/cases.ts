// The case file of backends/cuda/csrc/tests/kernel_test.cu: weights in every storage format with
// the values runtime/weights decodes them to, and routing problems with route()'s answers. Also
// written for the GPU run (bench/cuda/prepare.ts), where the same program checks the real kernels.
import { enumCode } from "../../../runtime/kernels/catalogue.js";
import { mamba2Channels, mamba2Scan, type Mamba2Shape } from "../../../runtime/math/mamba2.js";
import { causalConv1d, mambaScan } from "../../../runtime/math/mamba.js";
import { route } from "../../../runtime/moe/routing.js";
import { STORAGE_FORMATS, FORMATS, type StorageFormat } from "../../../runtime/plan/formats.js";
import { decodeScaled, encode } from "../../helpers/formats-codec.js";
import { routeCases } from "../../helpers/routing-cases.js";

class Writer {
  private readonly parts: Uint8Array[] = [];
  i32(...v: number[]): void {
    this.parts.push(new Uint8Array(Int32Array.from(v).buffer));
  }
  f64(...v: number[]): void {
    this.parts.push(new Uint8Array(Float64Array.from(v).buffer));
  }
  f32(v: ArrayLike<number>): void {
    this.parts.push(new Uint8Array(Float32Array.from(v).buffer));
  }
  bytes(b: Uint8Array): void {
    this.parts.push(b);
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

/** Weights [4 experts × 40 rows, K] per format (K = 256, and K = 38 for float and channel rows that are not whole 16-byte chunks). */
export function weightCases(r: () => number, formats: readonly StorageFormat[] = STORAGE_FORMATS): { format: StorageFormat; K: number; rows: number; bytes: Uint8Array; values: Float32Array }[] {
  const out = [];
  for (const format of formats) {
    for (const K of FORMATS[format].kind === "block" ? [256] : [256, 38]) {
      const rows = 4 * 40;
      const x = Float32Array.from({ length: rows * K }, () => 0.5 * randn(r));
      const bytes = encode(format, rows, K, x);
      out.push({ format, K, rows, bytes, values: decodeScaled(format, rows, K, bytes) });
    }
  }
  return out;
}

export function kernelCases(r: () => number, opts: { routes?: number } = {}): Uint8Array {
  const w = new Writer();
  for (const c of weightCases(r)) {
    w.i32(1, STORAGE_FORMATS.indexOf(c.format), c.rows, c.K, c.bytes.length);
    w.bytes(c.bytes);
    w.f32(c.values);
  }
  // Routing: finite logits (the GPU router, like transformers', is not defined on −∞ rows).
  let n = 0;
  for (const c of routeCases(r)) {
    if (c.logits.some((x) => !Number.isFinite(x))) continue;
    if (opts.routes !== undefined && n++ >= opts.routes) break;
    const ro = c.router;
    const assignments = route(ro, Float64Array.from(c.logits), c.T, c.E, c.bias);
    const ids = new Int32Array(c.T * ro.k), weights = new Float32Array(c.T * ro.k);
    for (const a of assignments) {
      ids[a.token * ro.k + a.rank] = a.expert;
      weights[a.token * ro.k + a.rank] = a.weight;
    }
    w.i32(2, ro.k, enumCode("scoring", ro.scoring), ro.groups, ro.topkGroups, enumCode("group_scoring", ro.groupScoring), ro.renormalize ? 1 : 0);
    w.f64(ro.scale, ro.jitterEps);
    w.i32(c.bias ? 1 : 0, c.T, c.E);
    w.f32(c.logits);
    w.f32(c.bias ?? new Float32Array(c.E));
    w.bytes(new Uint8Array(ids.buffer));
    w.f32(weights);
  }
  for (const c of mamba2Cases(r)) writeMamba2(w, c);
  for (const c of mambaCases(r)) writeMamba(w, c);
  return w.done();
}

/** One pass of the CUDA runtime through a mamba2 step: rows of several sequences, each segment scanned from its sequence's state. */
export interface Mamba2Case {
  readonly shape: Mamba2Shape;
  readonly bias: boolean;
  readonly dtMin: number;
  readonly eps: number;
  readonly pos: Int32Array;
  readonly seq: Int32Array;
  readonly sequences: number;
  readonly inputs: Record<"xbc" | "dt" | "z" | "convW" | "convB" | "aLog" | "dtBias" | "d" | "normW" | "conv0" | "state0", Float32Array>;
  readonly want: { readonly y: Float32Array; readonly conv: Float32Array; readonly state: Float32Array };
}

/**
 * Shapes with head dims and state sizes that are not powers of two, more (head, p) rows than a
 * block has threads, and a pass of three segments: sequence 0 continuing at position 7 (3 rows),
 * sequence 2 starting (position 0, 5 rows: its stale state must be ignored), sequence 1 decoding
 * one row at position 12; sequence 3 is not in the pass (its state must stay as it was).
 */
export function mamba2Cases(r: () => number): Mamba2Case[] {
  const normal = (n: number, mean = 0, sd = 1) => Float32Array.from({ length: n }, () => mean + sd * randn(r));
  const seq = Int32Array.from([0, 0, 0, 2, 2, 2, 2, 2, 1]);
  const pos = Int32Array.from([7, 8, 9, 0, 1, 2, 3, 4, 12]);
  const sequences = 4;
  const out: Mamba2Case[] = [];
  for (const [H, P, N, G, K, bias, dtMin] of [[4, 8, 8, 2, 4, true, 0.001], [2, 3, 5, 1, 3, false, 0.4], [6, 5, 16, 3, 4, true, 0], [24, 16, 12, 2, 4, true, 0.01]] as const) {
    const shape = { heads: H, headDim: P, stateDim: N, groups: G, kernel: K };
    const C = mamba2Channels(shape), XP = H * P, T = seq.length;
    const windowF = (K - 1) * C, stateF = H * P * N;
    const inputs = {
      xbc: normal(T * C), dt: normal(T * H, 0, 1.5), z: normal(T * XP), convW: normal(C * K, 0, 0.5), convB: normal(C, 0, 0.2), aLog: normal(H, 0, 0.5),
      dtBias: normal(H, 0, 0.5), d: normal(H), normW: normal(XP, 1, 0.1), conv0: normal(sequences * windowF), state0: normal(sequences * stateF, 0, 0.3),
    };
    const conv = Float32Array.from(inputs.conv0), state = Float32Array.from(inputs.state0), y = new Float32Array(T * XP);
    for (let r0 = 0; r0 < T; ) {
      let end = r0 + 1;
      while (end < T && seq[end] === seq[r0]) end++;
      const s = seq[r0]!;
      const rows = (a: Float32Array, w: number) => a.subarray(r0 * w, end * w);
      mamba2Scan(shape, end - r0, pos[r0] === 0, dtMin, 1e-5, rows(inputs.xbc, C), rows(inputs.dt, H), rows(inputs.z, XP), inputs.convW, bias ? inputs.convB : null, inputs.aLog, inputs.dtBias, inputs.d, inputs.normW,
        conv.subarray(s * windowF, (s + 1) * windowF), state.subarray(s * stateF, (s + 1) * stateF), rows(y, XP));
      r0 = end;
    }
    out.push({ shape, bias, dtMin, eps: 1e-5, pos, seq, sequences, inputs, want: { y, conv, state } });
  }
  return out;
}

function writeMamba2(w: Writer, c: Mamba2Case): void {
  const s = c.shape;
  w.i32(3, s.heads, s.headDim, s.stateDim, s.groups, s.kernel, c.bias ? 1 : 0, c.pos.length, c.sequences);
  w.f32([c.dtMin, c.eps]);
  w.bytes(new Uint8Array(c.pos.buffer));
  w.bytes(new Uint8Array(c.seq.buffer));
  const i = c.inputs;
  for (const a of [i.xbc, i.dt, i.z, i.convW, i.convB, i.aLog, i.dtBias, i.d, i.normW, i.conv0, i.state0, c.want.y, c.want.conv, c.want.state]) w.f32(a);
}

/** One pass of the CUDA runtime through a Mamba-1 layer's conv1d and mamba steps (Jamba): rows of several sequences, as mamba2Cases. */
export interface MambaCase {
  readonly channels: number;
  readonly stateDim: number;
  readonly kernel: number;
  readonly bias: boolean;
  readonly pos: Int32Array;
  readonly seq: Int32Array;
  readonly sequences: number;
  readonly inputs: Record<"x" | "convW" | "convB" | "conv0" | "dt" | "b" | "c" | "z" | "aLog" | "d" | "state0", Float32Array>;
  /** conv: the causal_conv1d output (also the scan's x); window: the conv windows after; y, state: the scan's. */
  readonly want: { readonly conv: Float32Array; readonly window: Float32Array; readonly y: Float32Array; readonly state: Float32Array };
}

/** The segments of mamba2Cases (continuing, starting over a stale state, decoding one row, untouched), channel counts past a block's 256 threads. */
export function mambaCases(r: () => number): MambaCase[] {
  const normal = (n: number, mean = 0, sd = 1) => Float32Array.from({ length: n }, () => mean + sd * randn(r));
  const seq = Int32Array.from([0, 0, 0, 2, 2, 2, 2, 2, 1]);
  const pos = Int32Array.from([7, 8, 9, 0, 1, 2, 3, 4, 12]);
  const sequences = 4;
  const out: MambaCase[] = [];
  for (const [I, N, K, bias] of [[37, 8, 4, true], [6, 5, 3, false], [300, 16, 4, true]] as const) {
    const T = seq.length, windowF = (K - 1) * I, stateF = I * N;
    const inputs = {
      x: normal(T * I), convW: normal(I * K, 0, 0.5), convB: normal(I, 0, 0.2), conv0: normal(sequences * windowF),
      dt: normal(T * I, -1, 1.5), b: normal(T * N), c: normal(T * N), z: normal(T * I), aLog: normal(I * N, 0, 0.5), d: normal(I), state0: normal(sequences * stateF, 0, 0.3),
    };
    const window = Float32Array.from(inputs.conv0), state = Float32Array.from(inputs.state0), conv = new Float32Array(T * I), y = new Float32Array(T * I);
    for (let r0 = 0; r0 < T; ) {
      let end = r0 + 1;
      while (end < T && seq[end] === seq[r0]) end++;
      const s = seq[r0]!;
      const rows = (a: Float32Array, w: number) => a.subarray(r0 * w, end * w);
      causalConv1d(I, K, end - r0, pos[r0] === 0, rows(inputs.x, I), inputs.convW, bias ? inputs.convB : null, window.subarray(s * windowF, (s + 1) * windowF), rows(conv, I));
      mambaScan(I, N, end - r0, pos[r0] === 0, rows(conv, I), rows(inputs.dt, I), rows(inputs.b, N), rows(inputs.c, N), rows(inputs.z, I), inputs.aLog, inputs.d, state.subarray(s * stateF, (s + 1) * stateF), rows(y, I));
      r0 = end;
    }
    out.push({ channels: I, stateDim: N, kernel: K, bias, pos, seq, sequences, inputs, want: { conv, window, y, state } });
  }
  return out;
}

function writeMamba(w: Writer, c: MambaCase): void {
  w.i32(4, c.channels, c.stateDim, c.kernel, c.bias ? 1 : 0, c.pos.length, c.sequences);
  w.bytes(new Uint8Array(c.pos.buffer));
  w.bytes(new Uint8Array(c.seq.buffer));
  const i = c.inputs;
  for (const a of [i.x, i.convW, i.convB, i.conv0, i.dt, i.b, i.c, i.z, i.aLog, i.d, i.state0, c.want.conv, c.want.window, c.want.y, c.want.state]) w.f32(a);
}
