// `matmul_q` in WGSL, one program pair per storage format, dequantisation fused: the weight is
// read in its format (cstyle/kernels/dequant.ts prints `dq_w`) and never stored as float32.
// `vec` for up to VEC_ROWS rows (decode: 8 columns per workgroup, 32 lanes per column, four
// elements a lane a step), `tiled` for more (prefill: 64×64 tiles through workgroup memory, the
// weight tile dequantised as it is loaded). Activations stay f32 (no int8 activations: the
// catalogue allows them, the GPU does not need them), so the only error is f32 summation.
// f16 weights are decoded by bit arithmetic into f32, which needs no `shader-f16` feature.
import { FORMATS, STORAGE_FORMATS, type StorageFormat } from "../../../runtime/plan/formats.js";
import { blocks, type Program } from "../../cstyle/dialect.js";
import { DEQUANT_HELPERS, dequantFn, rowBytesExpr } from "../../cstyle/kernels/dequant.js";
import { VEC_ROWS } from "./matmul.js";

const biasAdd = (v: string, n: string) => `select(${v}, ${v} + ld_bias(${n}), P.a_bias_set != 0)`;

/** Four consecutive elements k…k+3 of a row (k a multiple of 4: always inside one block). */
function dq4(format: StorageFormat): string {
  const generic = "return vec4<f32>(dq_w(rb, k, sc), dq_w(rb, k + 1u, sc), dq_w(rb, k + 2u, sc), dq_w(rb, k + 3u, sc));";
  const body: Record<string, string[]> = {
    // two words of halves
    f16: ["let a = ldw_w(rb + 2u * k);", "let b = ldw_w(rb + 2u * k + 4u);", "return vec4<f32>(m_half(a & 0xffffu), m_half(a >> 16u), m_half(b & 0xffffu), m_half(b >> 16u));"],
    bf16: ["let a = ldw_w(rb + 2u * k);", "let b = ldw_w(rb + 2u * k + 4u);", "return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));"],
    f32: ["return bitcast<vec4<f32>>(vec4<u32>(ldw_w(rb + 4u * k), ldw_w(rb + 4u * k + 4u), ldw_w(rb + 4u * k + 8u), ldw_w(rb + 4u * k + 12u)));"],
    // one word of four signed bytes
    int8: ["let q = ldw_w(rb + k);", "return vec4<f32>(vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u)) * sc;"],
    q8_0: [
      "let o = rb + (k / 32u) * 34u;",
      "let d = m_half(ldw_w(o) & 0xffffu);",
      "let q = ldw_w(o + 2u + k % 32u);",
      "return vec4<f32>(vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q)) >> vec4<u32>(24u)) * d;",
    ],
  };
  return ["fn dq4_w(rb: u32, k: u32, sc: f32) -> vec4<f32> {", ...(body[format] ?? [generic]).map((l) => "  " + l), "}"].join("\n");
}

const scaleOf = (format: StorageFormat, n: string) => (FORMATS[format].kind === "channel" ? `bitcast<f32>(ldw_scales(u32(${n}) * 4u))` : "1.0");

function vec(format: StorageFormat): Program {
  return {
    name: `matmul_q.${format}.vec`,
    kernel: "matmul_q",
    threads: 256,
    writes: ["y"],
    unused: ["scratch"],
    helpers: DEQUANT_HELPERS,
    grid: (a) => blocks(a("n1") - a("n0"), 8),
    shared: (c) => [
      "var<workgroup> red: array<f32, 256>;",
      "fn x4(i: i32) -> vec4<f32> { return vec4<f32>(ld_x(i), ld_x(i + 1), ld_x(i + 2), ld_x(i + 3)); }",
      dequantFn(c, format, "w"),
      dq4(format),
    ],
    body: (c) => [
      "let lane = i32(lid.x) % 32;",
      "let col = i32(lid.x) / 32;",
      "let n = P.a_n0 + wg_index * 8 + col;",
      "let live = n < P.a_n1;",
      "let K = P.a_K;",
      "let K4 = K & ~3;",
      `let rb = u32(n) * ${rowBytesExpr(c, format, "K")};`,
      `var acc = array<f32, ${VEC_ROWS}>();`,
      "if (live) {",
      `  let sc = ${scaleOf(format, "n")};`,
      "  for (var k: i32 = lane * 4; k < K4; k = k + 128) {",
      "    let wv = dq4_w(rb, u32(k), sc);",
      "    for (var t: i32 = 0; t < P.a_T; t = t + 1) { acc[t] = acc[t] + dot(x4(t * K + k), wv); }",
      "  }",
      "  for (var k: i32 = K4 + lane; k < K; k = k + 32) {",
      "    let wv = dq_w(rb, u32(k), sc);",
      "    for (var t: i32 = 0; t < P.a_T; t = t + 1) { acc[t] = acc[t] + ld_x(t * K + k) * wv; }",
      "  }",
      "}",
      "for (var t: i32 = 0; t < P.a_T; t = t + 1) {",
      "  red[lid.x] = acc[t];",
      "  workgroupBarrier();",
      "  if (lane == 0 && live) {",
      "    var s: f32 = 0.0;",
      "    for (var j: u32 = 0u; j < 32u; j = j + 1u) { s = s + red[lid.x + j]; }",
      `    st_y(t * P.a_N + n, ${biasAdd("s", "n")});`,
      "  }",
      "  workgroupBarrier();",
      "}",
    ],
  };
}

function tiled(format: StorageFormat): Program {
  return {
    name: `matmul_q.${format}.tiled`,
    kernel: "matmul_q",
    threads: 256,
    writes: ["y"],
    unused: ["scratch"],
    helpers: DEQUANT_HELPERS,
    grid: (a) => blocks(a("T"), 64) * blocks(a("n1") - a("n0"), 64),
    shared: (c) => ["var<workgroup> xs: array<f32, 1024>;", "var<workgroup> ws: array<f32, 1024>;", dequantFn(c, format, "w")],
    body: (c) => [
      "let ntiles = (P.a_n1 - P.a_n0 + 63) / 64;",
      "let tr = wg_index / ntiles;",
      "let tc = wg_index - tr * ntiles;",
      "let row0 = tr * 64;",
      "let col0 = P.a_n0 + tc * 64;",
      "let tx = i32(lid.x) % 16;",
      "let ty = i32(lid.x) / 16;",
      "let K = P.a_K;",
      `let RB = ${rowBytesExpr(c, format, "K")};`,
      "var acc: array<f32, 16>;",
      "for (var k0: i32 = 0; k0 < K; k0 = k0 + 16) {",
      "  for (var q: i32 = 0; q < 4; q = q + 1) {",
      "    let e = i32(lid.x) + q * 256;",
      "    let r = e / 16;",
      "    let k = k0 + e % 16;",
      "    let t = row0 + r;",
      "    let n = col0 + r;",
      "    xs[e] = select(0.0, ld_x(t * K + k), t < P.a_T && k < K);",
      "    var wv: f32 = 0.0;",
      `    if (n < P.a_n1 && k < K) { wv = dq_w(u32(n) * RB, u32(k), ${scaleOf(format, "n")}); }`,
      "    ws[e] = wv;",
      "  }",
      "  workgroupBarrier();",
      "  for (var kk: i32 = 0; kk < 16; kk = kk + 1) {",
      "    var xv: array<f32, 4>;",
      "    var wv: array<f32, 4>;",
      "    for (var i: i32 = 0; i < 4; i = i + 1) { xv[i] = xs[(ty + 16 * i) * 16 + kk]; wv[i] = ws[(tx + 16 * i) * 16 + kk]; }",
      "    for (var i: i32 = 0; i < 4; i = i + 1) { for (var j: i32 = 0; j < 4; j = j + 1) { acc[i * 4 + j] = acc[i * 4 + j] + xv[i] * wv[j]; } }",
      "  }",
      "  workgroupBarrier();",
      "}",
      "for (var i: i32 = 0; i < 4; i = i + 1) {",
      "  let t = row0 + ty + 16 * i;",
      "  for (var j: i32 = 0; j < 4; j = j + 1) {",
      "    let n = col0 + tx + 16 * j;",
      `    if (t < P.a_T && n < P.a_n1) { st_y(t * P.a_N + n, ${biasAdd("acc[i * 4 + j]", "n")}); }`,
      "  }",
      "}",
    ],
  };
}

export const matmulQPrograms: Readonly<Record<StorageFormat, { readonly vec: Program; readonly tiled: Program }>> = Object.fromEntries(
  STORAGE_FORMATS.map((f) => [f, { vec: vec(f), tiled: tiled(f) }]),
) as Record<StorageFormat, { vec: Program; tiled: Program }>;
