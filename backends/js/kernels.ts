// The kernels in TypeScript: float32 storage, float64 accumulation. Slower than WASM SIMD;
// used where WebAssembly is unavailable and to cross-check the WASM kernels. Typed by the
// kernel catalogue (runtime/kernels/catalogue.ts): a kernel missing here does not compile.
import { ENUMS, type EnumValue, type Kernels } from "../../runtime/kernels/catalogue.js";
import { erf } from "../../runtime/math/erf.js";
import { byExpert } from "../../runtime/moe/permute.js";
import { route } from "../../runtime/moe/routing.js";
import { gatedDeltaRule } from "../../runtime/math/deltanet.js";
import { mamba2Channels, mamba2Scan } from "../../runtime/math/mamba2.js";
import { causalConv1d, mambaScan } from "../../runtime/math/mamba.js";
import type { RouterAttr } from "../../runtime/plan/types.js";
import { decodeRow } from "../../runtime/weights/decode.js";
import { FORMATS, rowBytes } from "../../runtime/plan/formats.js";

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const UNARY: Record<EnumValue<"unary">, (v: number) => number> = {
  silu: (v) => v * sigmoid(v),
  gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  gelu_tanh: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
  relu: (v) => (v > 0 ? v : 0),
  sigmoid,
  tanh: Math.tanh,
};
const UNARY_FNS = ENUMS.unary.map((k) => UNARY[k]);

const BINARY: Record<EnumValue<"binary">, (p: number, q: number) => number> = {
  add: (p, q) => p + q,
  sub: (p, q) => p - q,
  mul: (p, q) => p * q,
  div: (p, q) => p / q,
};
const BINARY_FNS = ENUMS.binary.map((k) => BINARY[k]);

/** The TypeScript kernels on a linear memory (`memory()` may return a grown buffer). */
export function jsKernels(memory: () => ArrayBuffer): Kernels {
  let buf: ArrayBuffer | null = null;
  let F = new Float32Array(0);
  let I = new Int32Array(0);
  let U = new Uint8Array(0);
  const f = () => {
    const b = memory();
    if (b !== buf) {
      buf = b;
      F = new Float32Array(b);
      I = new Int32Array(b);
      U = new Uint8Array(b);
    }
    return F;
  };
  let row = new Float32Array(0);
  /** Row r of a weight stored in `format` (code), decoded to float32 (a channel format's scale from `scales`). */
  const decoded = (w: number, scales: number, r: number, K: number, format: number): Float32Array => {
    const name = ENUMS.format[format];
    if (name === undefined) throw new RangeError(`unknown storage format code ${format}`);
    if (row.length < K) row = new Float32Array(K);
    f();
    // A channel format's scales follow its rows, so they may sit at any byte.
    const scale = FORMATS[name].kind === "channel" ? new DataView(U.buffer, scales + 4 * r, 4).getFloat32(0, true) : 1;
    decodeRow(name, U, w + r * rowBytes(name, K), K, row, 0, scale);
    return row;
  };
  const at = (p: number) => p / 4; // not p >> 2: pointers of a 64-bit memory pass 2^31
  return {
    matmul(x, w, bias, y, T, K, N, n0, n1) {
      const m = f();
      for (let t = 0; t < T; t++) {
        const xo = at(x) + t * K;
        for (let n = n0; n < n1; n++) {
          const wo = at(w) + n * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += m[xo + k]! * m[wo + k]!;
          m[at(y) + t * N + n] = bias ? s + m[at(bias) + n]! : s;
        }
      }
    },
    matmul_kn(x, w, bias, y, T, K, N, n0, n1) {
      const m = f();
      for (let t = 0; t < T; t++) {
        const xo = at(x) + t * K;
        for (let n = n0; n < n1; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += m[xo + k]! * m[at(w) + k * N + n]!;
          m[at(y) + t * N + n] = bias ? s + m[at(bias) + n]! : s;
        }
      }
    },
    matmul_q(x, w, scales, bias, y, T, K, N, n0, n1, format, scratch) {
      // Exact dequantisation (ggml's float32 steps), float64 accumulation: the reference other devices meet.
      for (let n = n0; n < n1; n++) {
        const wr = decoded(w, scales, n, K, format);
        const m = f();
        for (let t = 0; t < T; t++) {
          const xo = at(x) + t * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += m[xo + k]! * wr[k]!;
          m[at(y) + t * N + n] = bias ? s + m[at(bias) + n]! : s;
        }
      }
      void scratch;
    },
    gather_rows_q(src, scales, idx, dst, count, d, format) {
      for (let i = 0; i < count; i++) {
        const r = (f(), I[at(idx) + i]!);
        const wr = decoded(src, scales, r, d, format);
        f().set(wr.subarray(0, d), at(dst) + i * d);
      }
    },
    rmsnorm(x, w, y, rows, n, eps, offset) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        const xo = at(x) + r * n;
        let ss = 0;
        for (let k = 0; k < n; k++) ss += m[xo + k]! ** 2;
        const inv = 1 / Math.sqrt(ss / n + eps);
        for (let k = 0; k < n; k++) m[at(y) + r * n + k] = w ? Math.fround(m[at(w) + k]! + offset) * Math.fround(m[xo + k]! * inv) : Math.fround(m[xo + k]! * inv);
      }
    },
    layernorm(x, w, b, y, rows, n, eps) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        const xo = at(x) + r * n;
        let s = 0;
        for (let k = 0; k < n; k++) s += m[xo + k]!;
        const mean = s / n;
        let vs = 0;
        for (let k = 0; k < n; k++) vs += (m[xo + k]! - mean) ** 2;
        const inv = 1 / Math.sqrt(vs / n + eps);
        for (let k = 0; k < n; k++) m[at(y) + r * n + k] = (m[xo + k]! - mean) * inv * m[at(w) + k]! + (b ? m[at(b) + k]! : 0);
      }
    },
    unary(x, y, n, kind) {
      const m = f();
      const fn = UNARY_FNS[kind]!;
      for (let i = 0; i < n; i++) m[at(y) + i] = fn(m[at(x) + i]!);
    },
    binary(a, b, y, n, kind) {
      const m = f();
      const fn = BINARY_FNS[kind]!;
      for (let i = 0; i < n; i++) m[at(y) + i] = fn(m[at(a) + i]!, m[at(b) + i]!);
    },
    scale(x, y, n, factor) {
      const m = f();
      for (let i = 0; i < n; i++) m[at(y) + i] = m[at(x) + i]! * factor;
    },
    gated_delta_rule(x, b, a, convW, aLog, dtBias, convState, state, y, T, fresh, kHeads, vHeads, kDim, vDim, kernel, scratch) {
      // gatedDeltaRule itself, on views of the memory
      const m = f();
      const s = { kHeads, vHeads, kDim, vDim, kernel };
      const C = 2 * kHeads * kDim + vHeads * vDim;
      const view = (p: number, n: number) => m.subarray(at(p), at(p) + n);
      gatedDeltaRule(
        s, T, fresh !== 0, view(x, T * C), view(b, T * vHeads), view(a, T * vHeads), view(convW, C * kernel), view(aLog, vHeads), view(dtBias, vHeads),
        view(convState, (kernel - 1) * C), view(state, vHeads * kDim * vDim), view(y, T * vHeads * vDim),
      );
      void scratch;
    },
    mamba2_scan(xbc, dt, z, convW, convB, aLog, dtBias, d, normW, convState, state, y, T, fresh, heads, headDim, stateDim, groups, kernel, dtMin, eps, scratch) {
      // mamba2Scan itself, on views of the memory
      const m = f();
      const s = { heads, headDim, stateDim, groups, kernel };
      const C = mamba2Channels(s);
      const view = (p: number, n: number) => m.subarray(at(p), at(p) + n);
      mamba2Scan(
        s, T, fresh !== 0, dtMin, eps, view(xbc, T * C), view(dt, T * heads), view(z, T * heads * headDim), view(convW, C * kernel), convB ? view(convB, C) : null,
        view(aLog, heads), view(dtBias, heads), view(d, heads), view(normW, heads * headDim), view(convState, (kernel - 1) * C), view(state, heads * headDim * stateDim), view(y, T * heads * headDim),
      );
      void scratch;
    },
    causal_conv1d(x, convW, convB, convState, y, T, fresh, C, K) {
      // causalConv1d itself, on views of the memory
      const m = f();
      const view = (p: number, n: number) => m.subarray(at(p), at(p) + n);
      causalConv1d(C, K, T, fresh !== 0, view(x, T * C), view(convW, C * K), convB ? view(convB, C) : null, view(convState, (K - 1) * C), view(y, T * C));
    },
    mamba_scan(x, dt, b, c, z, aLog, d, state, y, T, fresh, I, N) {
      // mambaScan itself, on views of the memory
      const m = f();
      const view = (p: number, n: number) => m.subarray(at(p), at(p) + n);
      mambaScan(I, N, T, fresh !== 0, view(x, T * I), view(dt, T * I), view(b, T * N), view(c, T * N), view(z, T * I), view(aLog, I * N), view(d, I), view(state, I * N), view(y, T * I));
    },
    scale_rows(x, fp, y, rows, d) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        const g = m[at(fp) + r]!;
        for (let k = 0; k < d; k++) m[at(y) + r * d + k] = m[at(x) + r * d + k]! * g;
      }
    },
    clamp(x, n, lo, hi) {
      const m = f();
      for (let i = 0; i < n; i++) m[at(x) + i] = Math.min(hi, Math.max(lo, m[at(x) + i]!));
    },
    swiglu(g, u, y, n, alpha, limit, upOffset) {
      const m = f();
      for (let i = 0; i < n; i++) {
        let gv = m[at(g) + i]!;
        let uv = m[at(u) + i]!;
        if (limit > 0) {
          gv = Math.min(gv, limit);
          uv = Math.min(limit, Math.max(-limit, uv));
        }
        m[at(y) + i] = Math.fround(gv * sigmoid(alpha * gv)) * (uv + upOffset);
      }
    },
    deinterleave(x, a, b, rows, half, interleaved) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < half; j++) {
          const [gi, ui] = interleaved ? [2 * j, 2 * j + 1] : [j, half + j];
          m[at(a) + r * half + j] = m[at(x) + r * 2 * half + gi]!;
          m[at(b) + r * half + j] = m[at(x) + r * 2 * half + ui]!;
        }
      }
    },
    copy_blocks(src, dst, rows, blocks, len, srcRow, srcBlock, dstRow, dstBlock) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < blocks; b++) {
          const from = at(src) + r * srcRow + b * srcBlock;
          m.copyWithin(at(dst) + r * dstRow + b * dstBlock, from, from + len);
        }
      }
    },
    rope(x, cos, sin, rows, heads, headDim, ropeDim, interleaved) {
      const m = f();
      const half = ropeDim / 2;
      for (let r = 0; r < rows; r++) {
        for (let h = 0; h < heads; h++) {
          const base = at(x) + (r * heads + h) * headDim;
          for (let j = 0; j < half; j++) {
            const c = m[at(cos) + r * half + j]!;
            const s = m[at(sin) + r * half + j]!;
            const [i0, i1] = interleaved ? [base + 2 * j, base + 2 * j + 1] : [base + j, base + j + half];
            const p = m[i0]!;
            const q = m[i1]!;
            // The f32 roundings of runtime/math/rope.ts (and of the WASM kernel): products rounded, then summed.
            m[i0] = Math.fround(p * c) - Math.fround(q * s);
            m[i1] = Math.fround(q * c) + Math.fround(p * s);
          }
        }
      }
    },
    attention(q, k, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal, h0, h1) {
      const m = f();
      const group = heads / kvHeads;
      const logits = new Float64Array(start + T);
      for (let t = 0; t < T; t++) {
        const pos = start + t;
        const lastKey = causal ? pos : start + T - 1;
        const first = window > 0 ? Math.max(0, pos - window + 1) : 0;
        for (let h = h0; h < h1; h++) {
          const kvh = Math.floor(h / group);
          const qo = at(q) + (t * heads + h) * headDim;
          let max = sinks ? m[at(sinks) + h]! : -Infinity;
          for (let j = first; j <= lastKey; j++) {
            const ko = at(k) + j * kStride + kvh * headDim;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += m[qo + d]! * m[ko + d]!;
            let l = Math.fround(dot) * scale;
            if (softcap > 0) l = softcap * Math.tanh(l / softcap);
            logits[j] = l;
            if (l > max) max = l;
          }
          let denom = sinks ? Math.exp(m[at(sinks) + h]! - max) : 0;
          for (let j = first; j <= lastKey; j++) denom += logits[j] = Math.exp(logits[j]! - max);
          const oo = at(out) + (t * heads + h) * vDim;
          for (let d = 0; d < vDim; d++) {
            let acc = 0;
            for (let j = first; j <= lastKey; j++) acc += logits[j]! * m[at(v) + j * vStride + kvh * vDim + d]!;
            m[oo + d] = acc / denom;
          }
        }
      }
      void scratch;
    },
    gather_rows(src, idx, dst, count, d) {
      const m = f();
      for (let i = 0; i < count; i++) {
        const r = I[at(idx) + i]!;
        m.copyWithin(at(dst) + i * d, at(src) + r * d, at(src) + (r + 1) * d);
      }
    },
    scatter_add_rows(src, idx, weights, dst, count, d) {
      const m = f();
      for (let i = 0; i < count; i++) {
        const r = I[at(idx) + i]!;
        const wv = m[at(weights) + i]!;
        for (let k = 0; k < d; k++) m[at(dst) + r * d + k]! += Math.fround(wv * m[at(src) + i * d + k]!);
      }
    },
    gate_add_rows(gate, src, dst, rows, d) {
      const m = f();
      for (let r = 0; r < rows; r++) {
        const g = Math.fround(sigmoid(m[at(gate) + r]!));
        for (let k = 0; k < d; k++) m[at(dst) + r * d + k]! += Math.fround(g * m[at(src) + r * d + k]!);
      }
    },
    fill(x, n, value) {
      f().fill(value, at(x), at(x) + n);
    },
    route_topk(logits, T, E, k, scoring, bias, groups, topkGroups, groupScoring, renormalize, scale, eps, counts, tokOut, wOut, work) {
      // route() itself on the same numbers, then its assignments laid out by expert.
      const m = f();
      const name = ENUMS.scoring[scoring];
      const groupName = ENUMS.group_scoring[groupScoring];
      if (name === undefined || groupName === undefined) throw new RangeError(`route_topk: unknown scoring ${scoring} or group scoring ${groupScoring}`);
      const router: RouterAttr = {
        choice: "token", k, scoring: name, renormalize: renormalize !== 0, bias: false, selectionBias: bias !== 0, groups, topkGroups,
        groupScoring: groupName, scale, capacityFactor: null, jitterEps: eps, pregated: false,
      };
      const z = Float64Array.from(m.subarray(at(logits), at(logits) + T * E));
      const assignments = route(router, z, T, E, bias ? m.slice(at(bias), at(bias) + E) : null);
      const { offsets, tokens, weights } = byExpert(assignments, E);
      I.set(offsets, at(counts));
      I.set(tokens, at(tokOut));
      m.set(weights, at(wOut));
      void work; // route() keeps its own temporaries
    },
  };
}
