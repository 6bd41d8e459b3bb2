// The grouped kernels (runtime/kernels/grouped.ts) in WGSL. Each finds its rows' experts in
// the offsets route_topk left in device memory. A workgroup of the `vec` programs starts at
// one row and a block of 8 columns; only the first row of each expert's run of rows goes on
// (the others return at once), and it takes all of that expert's rows, eight at a time, so
// each expert's weights are read once per call: at decode, exactly the chosen experts' bytes.
// 32 lanes per output column stride along K (neighbouring lanes, neighbouring words), summed
// by a tree in workgroup memory. Values read from storage are made workgroup-uniform through
// workgroupUniformLoad before they steer loops that hold barriers.
import { blocks, type Program } from "../../cstyle/dialect.js";
import { EXP, HALF, SIGMOID, SILU } from "../../cstyle/math.js";
import { SELECT_HELPERS, selectToken, sortBody } from "../../cstyle/kernels/routing.js";
import { WGSL } from "../dialect.js";

/** The largest e in [lo, hi) with offsets[e] ≤ g, or −1 when g is outside [offsets[lo], offsets[hi]). */
const EXPERT_OF = [
  "fn expert_of(g: i32, lo: i32, hi: i32) -> i32 {",
  "  if (g < ldi_offsets(lo) || g >= ldi_offsets(hi)) { return -1; }",
  "  var a = lo;",
  "  var b = hi - 1;",
  "  while (a < b) { let m = (a + b + 1) / 2; if (ldi_offsets(m) <= g) { a = m; } else { b = m - 1; } }",
  "  return a;",
  "}",
];

const SHARED = ["var<workgroup> red: array<f32, 256>;", "var<workgroup> seg: vec4<i32>;", ...EXPERT_OF];

/** Four consecutive x values (x rows need no alignment: four scalar reads, from cache at decode). */
const X4 = ["fn x4(i: i32) -> vec4<f32> { return vec4<f32>(ld_x(i), ld_x(i + 1), ld_x(i + 2), ld_x(i + 3)); }"];

/**
 * Sums `v` over each column's 32 lanes: lane 0 adds its column's partials in lane order into
 * red[lid.x] (every thread must call it; the caller's next barrier frees `red`).
 */
const laneSum = (v: string) => [
  `red[lid.x] = ${v};`,
  "workgroupBarrier();",
  "if (lane == 0) { var s: f32 = 0.0; for (var j: u32 = 0u; j < 32u; j = j + 1u) { s = s + red[lid.x + j]; } red[lid.x] = s; }",
];

const head = (cols: string) => [
  "let lane = i32(lid.x) % 32;",
  "let col = i32(lid.x) / 32;",
  `let ncb = (${cols} + 7) / 8;`,
  "let i = wg_index / ncb;",
  "let n = (wg_index - i * ncb) * 8 + col;",
  `let live = n < ${cols};`,
];

/** The run of rows this workgroup owns: e, [s0, s1) in global rows; returns unless chunk row i starts it. */
const segment = [
  "if (lid.x == 0u) {",
  "  let g = P.a_row0 + i;",
  "  let q = expert_of(g, P.a_e0, P.a_e1);",
  "  var v = vec4<i32>(-1, 0, 0, 0);",
  "  if (q >= 0) { v = vec4<i32>(q, max(ldi_offsets(q), P.a_row0), min(ldi_offsets(q + 1), P.a_row0 + P.a_rows), 0); }",
  "  if (v.y != g) { v.x = -1; }",
  "  seg = v;",
  "}",
  "let sg = workgroupUniformLoad(&seg);",
  "let e = sg.x;",
  "if (e < 0) { return; }",
  "let s0 = sg.y;",
  "let s1 = sg.z;",
];

/** Rows [r0, r0 + nr) of the run, 8 at a time: `dot(r, k)` gives row r's product with the weight word at k. */
function rowBlocks(accs: readonly string[], inner: readonly string[], store: readonly string[], v4 = false): string[] {
  return [
    "for (var r0: i32 = s0; r0 < s1; r0 = r0 + 8) {",
    "  let nr = min(8, s1 - r0);",
    ...accs.map((a) => `  var ${a} = array<f32, 8>(); // zeroed each pass (naga keeps a loop-scoped var otherwise)`),
    "  if (live) {",
    v4 ? "    for (var k: i32 = lane * 4; k < K; k = k + 128) {" : "    for (var k: i32 = lane; k < K; k = k + 32) {",
    ...inner.map((l) => "      " + l),
    "    }",
    "  }",
    ...store.map((l) => "  " + l),
    "}",
  ];
}

function moeMatmulVecOf(v4: boolean): Program {
  return {
    name: v4 ? "moe_matmul.vec4" : "moe_matmul.vec",
    kernel: "moe_matmul",
    threads: 256,
    writes: ["y"],
    ...(v4 ? { vec4: ["w"], fallback: moeMatmulVecOf(false) } : {}),
    grid: (a) => a("rows") * blocks(a("N"), 8),
    shared: () => [...SHARED, ...X4],
    body: () => [
      ...head("P.a_N"),
      ...segment,
      "let K = P.a_K;",
      "let wb = (e - P.a_e0) * P.a_w_stride;",
      "let bb = (e - P.a_e0) * P.a_bias_stride;",
      ...rowBlocks(
        ["acc"],
        v4
          ? ["let wv = ld4_w(wb + n * K + k);", "for (var r: i32 = 0; r < nr; r = r + 1) { acc[r] = acc[r] + dot(x4((r0 + r - P.a_row0) * K + k), wv); }"]
          : ["let wv = select(ld_w(wb + n * K + k), ld_w(wb + k * P.a_N + n), P.a_kn != 0);", "for (var r: i32 = 0; r < nr; r = r + 1) { acc[r] = acc[r] + ld_x((r0 + r - P.a_row0) * K + k) * wv; }"],
        [
          "for (var r: i32 = 0; r < nr; r = r + 1) {",
          ...laneSum("acc[r]").map((l) => "  " + l),
          "  if (lane == 0 && live) { st_y((r0 + r - P.a_row0) * P.a_N + n, select(red[lid.x], red[lid.x] + ld_bias(bb + n), P.a_bias_set != 0)); }",
          "  workgroupBarrier();",
          "}",
        ],
        v4,
      ),
    ],
  };
}

export const moeMatmulVec = moeMatmulVecOf(false);
/** W [N, K] with K a multiple of 4 and 16-byte aligned weights: four words per read. */
export const moeMatmulVec4 = moeMatmulVecOf(true);

/** Many rows: 64×64 tiles, each inside one expert's run of rows (tiles are counted per expert on the GPU). */
export const moeMatmulTiled: Program = {
  name: "moe_matmul.tiled",
  kernel: "moe_matmul",
  threads: 256,
  writes: ["y"],
  grid: (a) => (blocks(a("rows"), 64) + (a("e1") - a("e0"))) * blocks(a("N"), 64),
  shared: () => ["var<workgroup> xs: array<f32, 1024>;", "var<workgroup> ws: array<f32, 1024>;", "var<workgroup> seg: vec4<i32>;"],
  body: () => [
    "let ncb = (P.a_N + 63) / 64;",
    "let ti = wg_index / ncb;",
    "let col0 = (wg_index - ti * ncb) * 64;",
    "if (lid.x == 0u) {",
    "  var v = vec4<i32>(-1, 0, 0, 0);",
    "  var seen: i32 = 0;",
    "  for (var q: i32 = P.a_e0; q < P.a_e1; q = q + 1) {",
    "    let a = max(ldi_offsets(q), P.a_row0);",
    "    let b = min(ldi_offsets(q + 1), P.a_row0 + P.a_rows);",
    "    let nt = select(0, (b - a + 63) / 64, b > a);",
    "    if (ti < seen + nt) { let r0 = a + (ti - seen) * 64; v = vec4<i32>(q, r0, min(b, r0 + 64), 0); break; }",
    "    seen = seen + nt;",
    "  }",
    "  seg = v;",
    "}",
    "let sg = workgroupUniformLoad(&seg);",
    "let e = sg.x;",
    "if (e < 0) { return; }",
    "let r0 = sg.y - P.a_row0;",
    "let nrows = sg.z - sg.y;",
    "let wb = (e - P.a_e0) * P.a_w_stride;",
    "let bb = (e - P.a_e0) * P.a_bias_stride;",
    "let tx = i32(lid.x) % 16;",
    "let ty = i32(lid.x) / 16;",
    "let K = P.a_K;",
    "var acc: array<f32, 16>;",
    "for (var k0: i32 = 0; k0 < K; k0 = k0 + 16) {",
    "  for (var q: i32 = 0; q < 4; q = q + 1) {",
    "    let el = i32(lid.x) + q * 256;",
    "    let r = el / 16;",
    "    let kk = el % 16;",
    "    let k = k0 + kk;",
    "    let n = col0 + r;",
    "    xs[el] = select(0.0, ld_x((r0 + r) * K + k), r < nrows && k < K);",
    "    ws[el] = select(0.0, select(ld_w(wb + n * K + k), ld_w(wb + k * P.a_N + n), P.a_kn != 0), n < P.a_N && k < K);",
    "  }",
    "  workgroupBarrier();",
    "  for (var kk: i32 = 0; kk < 16; kk = kk + 1) {",
    "    var xv: array<f32, 4>;",
    "    var wv: array<f32, 4>;",
    "    for (var q: i32 = 0; q < 4; q = q + 1) { xv[q] = xs[(ty + 16 * q) * 16 + kk]; wv[q] = ws[(tx + 16 * q) * 16 + kk]; }",
    "    for (var q: i32 = 0; q < 4; q = q + 1) { for (var j: i32 = 0; j < 4; j = j + 1) { acc[q * 4 + j] = acc[q * 4 + j] + xv[q] * wv[j]; } }",
    "  }",
    "  workgroupBarrier();",
    "}",
    "for (var q: i32 = 0; q < 4; q = q + 1) {",
    "  let r = ty + 16 * q;",
    "  for (var j: i32 = 0; j < 4; j = j + 1) {",
    "    let n = col0 + tx + 16 * j;",
    "    if (r < nrows && n < P.a_N) { st_y((r0 + r) * P.a_N + n, select(acc[q * 4 + j], acc[q * 4 + j] + ld_bias(bb + n), P.a_bias_set != 0)); }",
    "  }",
    "}",
  ],
};

function moeGateUpOf(v4: boolean): Program {
  return {
    name: v4 ? "moe_gate_up.vec4" : "moe_gate_up.vec",
    kernel: "moe_gate_up",
    threads: 256,
    writes: ["h"],
    ...(v4 ? { vec4: ["wg", "wu"], fallback: moeGateUpOf(false) } : {}),
    helpers: [SIGMOID, SILU, EXP],
    grid: (a) => a("rows") * blocks(a("F"), 8),
    shared: () => [...SHARED, ...X4],
    body: () => [
      ...head("P.a_F"),
      ...segment,
      "let K = P.a_K;",
      "let wb = (e - P.a_e0) * P.a_w_stride;",
      ...rowBlocks(
        ["ag", "au"],
        v4
          ? ["let wg = ld4_wg(wb + n * K + k);", "let wu = ld4_wu(wb + n * K + k);", "for (var r: i32 = 0; r < nr; r = r + 1) { let xv = x4(ldi_tok(r0 + r) * K + k); ag[r] = ag[r] + dot(xv, wg); au[r] = au[r] + dot(xv, wu); }"]
          : ["let wg = ld_wg(wb + n * K + k);", "let wu = ld_wu(wb + n * K + k);", "for (var r: i32 = 0; r < nr; r = r + 1) { let xv = ld_x(ldi_tok(r0 + r) * K + k); ag[r] = ag[r] + xv * wg; au[r] = au[r] + xv * wu; }"],
        [
          "for (var r: i32 = 0; r < nr; r = r + 1) {",
          ...laneSum("ag[r]").map((l) => "  " + l),
          "  workgroupBarrier();",
          "  let gs = red[lid.x];",
          "  workgroupBarrier();",
          ...laneSum("au[r]").map((l) => "  " + l),
          "  if (lane == 0 && live) {",
          "    let us = red[lid.x];",
          "    var hv: f32;",
          "    if (P.a_act == 1) { hv = m_silu(gs) * us; } else {",
          "      let lim = select(bitcast<f32>(0x7f800000u | (P.a__groups & 0u)), P.a_limit, P.a_limit > 0.0);",
          "      let gc = min(gs, lim);",
          "      let uc = max(min(us, lim), -lim);",
          "      hv = (gc * m_sigmoid(gc * P.a_alpha)) * (uc + P.a_up_offset);",
          "    }",
          "    st_h((r0 + r - P.a_row0) * P.a_F + n, hv);",
          "  }",
          "  workgroupBarrier();",
          "}",
        ],
        v4,
      ),
    ],
  };
}

export const moeGateUp = moeGateUpOf(false);
export const moeGateUp4 = moeGateUpOf(true);

/**
 * out[t] = Σ over t's rows in row order of f32(w·(h[p]·Wd_eᵀ)): one workgroup per (token, 4
 * columns), 64 lanes per column along K.
 */
function moeDownCombineOf(v4: boolean): Program {
  return {
    name: v4 ? "moe_down_combine.vec4" : "moe_down_combine",
    kernel: "moe_down_combine",
    threads: 256,
    writes: ["out"],
    ...(v4 ? { vec4: ["wd"], fallback: moeDownCombineOf(false) } : {}),
    grid: (a) => a("T") * blocks(a("N"), 4),
    shared: () => [...SHARED, "fn h4(i: i32) -> vec4<f32> { return vec4<f32>(ld_h(i), ld_h(i + 1), ld_h(i + 2), ld_h(i + 3)); }"],
    body: () => [
      "let lane = i32(lid.x) % 64;",
      "let col = i32(lid.x) / 64;",
      "let ncb = (P.a_N + 3) / 4;",
      "let t = wg_index / ncb;",
      "let n = (wg_index - t * ncb) * 4 + col;",
      "let live = n < P.a_N;",
      "let K = P.a_K;",
      "let kk = P.a_A / P.a_T;",
      "var pos = array<i32, 32>();",
      "var np: i32 = 0;",
      "for (var p: i32 = 0; p < P.a_A; p = p + 1) { if (ldi_tok(p) == t && np < 32) { pos[np] = p; np = np + 1; } }",
      "var acc: f32 = 0.0;",
      "if (P.a_accumulate != 0 && live) { acc = ld_out(t * P.a_N + n); }",
      "for (var j: i32 = 0; j < kk; j = j + 1) {",
      "  let p = pos[j];",
      "  let e = expert_of(p, P.a_e0, P.a_e1);",
      "  var part: f32 = 0.0;",
      "  if (e >= 0 && live) {",
      "    let wb = (e - P.a_e0) * P.a_w_stride + n * K;",
      v4
        ? "    for (var k: i32 = lane * 4; k < K; k = k + 256) { part = part + dot(h4(p * K + k), ld4_wd(wb + k)); }"
        : "    for (var k: i32 = lane; k < K; k = k + 64) { part = part + ld_h(p * K + k) * ld_wd(wb + k); }",
      "  }",
      "  red[lid.x] = part;",
      "  workgroupBarrier();",
      "  if (lane == 0 && e >= 0) { var s: f32 = 0.0; for (var q: u32 = 0u; q < 64u; q = q + 1u) { s = s + red[lid.x + q]; } acc = acc + ld_weights(p) * s; }",
      "  workgroupBarrier();",
      "}",
      "if (lane == 0 && live) { st_out(t * P.a_N + n, acc); }",
    ],
  };
}

export const moeDownCombine = moeDownCombineOf(false);
export const moeDownCombine4 = moeDownCombineOf(true);

/** The router matmul and route_topk in one workgroup (decode). */
export const moeRoute: Program = {
  name: "moe_route",
  kernel: "moe_route",
  threads: 256,
  writes: ["logits", "work", "counts", "tok_out", "w_out"],
  helpers: SELECT_HELPERS,
  grid: () => 1,
  shared: () => ["var<workgroup> red: array<f32, 256>;"],
  body: () => [
    "let lane = i32(lid.x) % 32;",
    "let grp = i32(lid.x) / 32;",
    "let d = P.a_d;",
    "let pairs = P.a_T * P.a_E;",
    "for (var q0: i32 = 0; q0 < pairs; q0 = q0 + 8) {",
    "  let q = q0 + grp;",
    "  var part: f32 = 0.0;",
    "  if (q < pairs) {",
    "    let t = q / P.a_E;",
    "    let e = q - t * P.a_E;",
    "    for (var k: i32 = lane; k < d; k = k + 32) { part = part + ld_x(t * d + k) * ld_wr(e * d + k); }",
    "  }",
    ...laneSum("part").map((l) => "  " + l),
    "  if (lane == 0 && q < pairs) { let e = q % P.a_E; st_logits(q, select(red[lid.x], red[lid.x] + ld_br(e), P.a_br_set != 0)); }",
    "  workgroupBarrier();",
    "}",
    "storageBarrier();",
    "workgroupBarrier();",
    "for (var t: i32 = i32(lid.x); t < P.a_T; t = t + 256) {",
    ...selectToken(WGSL).map((l) => "  " + l),
    "}",
    "storageBarrier();",
    "workgroupBarrier();",
    ...sortBody(WGSL),
  ],
};

/** Expert weight formats the grouped kernels read (the `wfmt` parameter): f32, or two-byte floats. */
export type GroupedFormat = "f32" | "f16" | "bf16";
export const GROUPED_FORMATS: readonly GroupedFormat[] = ["f32", "f16", "bf16"];

/**
 * A scalar f32 program made to read its expert weights `ptrs` as f16 or bf16: element i of a
 * pointer is half i & 1 of word i >> 1 (decoded by bit arithmetic: no shader-f16 needed), and an
 * expert's offset, w_stride 4-byte words, is 2·w_stride elements.
 */
function halfOf(p: Program, fmt: "f16" | "bf16", ptrs: readonly string[]): Program {
  const decode = fmt === "bf16" ? "bitcast<f32>(h << 16u)" : "m_half(h)";
  const readers = ptrs.map((q) => `fn wv_${q}(i: i32) -> f32 { let h = (bitcast<u32>(ldi_${q}(i >> 1u)) >> (u32(i & 1) * 16u)) & 0xffffu; return ${decode}; }`);
  return {
    ...p,
    name: `${p.name}.${fmt}`,
    vec4: undefined,
    fallback: undefined,
    helpers: [...(p.helpers ?? []), HALF],
    shared: (c) => [...(p.shared?.(c) ?? []), ...readers],
    body: (c) => p.body(c).map((l) => l.replace(/\bld_(w|wg|wu|wd)\(/g, "wv_$1(").replaceAll("* P.a_w_stride", "* P.a_w_stride * 2")),
  };
}

export const groupedHalf = {
  f16: { matmul: halfOf(moeMatmulVec, "f16", ["w"]), tiled: halfOf(moeMatmulTiled, "f16", ["w"]), gateUp: halfOf(moeGateUp, "f16", ["wg", "wu"]), down: halfOf(moeDownCombine, "f16", ["wd"]) },
  bf16: { matmul: halfOf(moeMatmulVec, "bf16", ["w"]), tiled: halfOf(moeMatmulTiled, "bf16", ["w"]), gateUp: halfOf(moeGateUp, "bf16", ["wg", "wu"]), down: halfOf(moeDownCombine, "bf16", ["wd"]) },
} as const;

export const GROUPED_PROGRAMS = [
  moeMatmulVec, moeMatmulVec4, moeMatmulTiled, moeGateUp, moeGateUp4, moeDownCombine, moeDownCombine4, moeRoute,
  ...Object.values(groupedHalf).flatMap((v) => Object.values(v)),
];
