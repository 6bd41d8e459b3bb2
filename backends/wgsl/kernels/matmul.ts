// Matrix multiplication in WGSL (per language: workgroup memory and tile shapes are the
// hardware's business). Two programs per layout: `vec` for a few rows (decode: every weight
// is read once, by lanes that stride along K so neighbouring lanes read neighbouring words),
// and `tiled` for many rows (prefill: 64×64 output tiles, 4×4 per thread, K in steps of 16
// through workgroup memory). W is [N, K] (`matmul`) or [K, N] (`matmul_kn`); only columns
// [n0, n1) are written; the bias, when given, is added after the sum.
import { blocks, type Program } from "../../cstyle/dialect.js";

/** Rows up to which the `vec` programs run (each lane keeps one sum per row). */
export const VEC_ROWS = 8;

function wAt(kn: boolean, n: string, k: string): string {
  return kn ? `ld_w((${k}) * P.a_N + (${n}))` : `ld_w((${n}) * P.a_K + (${k}))`;
}

const biasAdd = (v: string, n: string) => `select(${v}, ${v} + ld_bias(${n}), P.a_bias_set != 0)`;

/** [N, K]: 8 columns per workgroup, 32 lanes per column striding along K (four words a read in the vec4 program). */
function vecOutIn(name: string, v4: boolean): Program {
  return {
    name: `${name}.vec${v4 ? "4" : ""}`,
    kernel: name,
    threads: 256,
    writes: ["y"],
    ...(v4 ? { vec4: ["w"], fallback: vecOutIn(name, false) } : {}),
    grid: (a) => blocks(a("n1") - a("n0"), 8),
    shared: () => ["var<workgroup> red: array<f32, 256>;", "fn x4(i: i32) -> vec4<f32> { return vec4<f32>(ld_x(i), ld_x(i + 1), ld_x(i + 2), ld_x(i + 3)); }"],
    body: () => [
      "let lane = i32(lid.x) % 32;",
      "let col = i32(lid.x) / 32;",
      "let n = P.a_n0 + wg_index * 8 + col;",
      "let live = n < P.a_n1;",
      "let K = P.a_K;",
      `var acc = array<f32, ${VEC_ROWS}>();`,
      "if (live) {",
      v4 ? "  for (var k: i32 = lane * 4; k < K; k = k + 128) {" : "  for (var k: i32 = lane; k < K; k = k + 32) {",
      v4 ? "    let wv = ld4_w(n * K + k);" : "    let wv = ld_w(n * K + k);",
      v4
        ? "    for (var t: i32 = 0; t < P.a_T; t = t + 1) { acc[t] = acc[t] + dot(x4(t * K + k), wv); }"
        : "    for (var t: i32 = 0; t < P.a_T; t = t + 1) { acc[t] = acc[t] + ld_x(t * K + k) * wv; }",
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

/** [K, N]: one column per thread, reading rows of W in order (neighbouring threads, neighbouring columns). */
function vecInOut(name: string): Program {
  return {
    name: `${name}.vec`,
    kernel: name,
    threads: 64,
    writes: ["y"],
    grid: (a) => blocks(a("n1") - a("n0"), 64),
    body: () => [
      "let n = P.a_n0 + wg_index * 64 + i32(lid.x);",
      "if (n >= P.a_n1) { return; }",
      `var acc: array<f32, ${VEC_ROWS}>;`,
      "for (var k: i32 = 0; k < P.a_K; k = k + 1) {",
      "  let wv = ld_w(k * P.a_N + n);",
      "  for (var t: i32 = 0; t < P.a_T; t = t + 1) { acc[t] = acc[t] + ld_x(t * P.a_K + k) * wv; }",
      "}",
      `for (var t: i32 = 0; t < P.a_T; t = t + 1) { st_y(t * P.a_N + n, ${biasAdd("acc[t]", "n")}); }`,
    ],
  };
}

/** 64×64 output tiles over (rows, columns in [n0, n1)), 4×4 per thread, K in steps of 16. */
function tiled(name: string, kn: boolean): Program {
  return {
    name: `${name}.tiled`,
    kernel: name,
    threads: 256,
    writes: ["y"],
    grid: (a) => blocks(a("T"), 64) * blocks(a("n1") - a("n0"), 64),
    shared: () => ["var<workgroup> xs: array<f32, 1024>;", "var<workgroup> ws: array<f32, 1024>;"],
    body: () => [
      "let ntiles = (P.a_n1 - P.a_n0 + 63) / 64;",
      "let tr = wg_index / ntiles;",
      "let tc = wg_index - tr * ntiles;",
      "let row0 = tr * 64;",
      "let col0 = P.a_n0 + tc * 64;",
      "let tx = i32(lid.x) % 16;",
      "let ty = i32(lid.x) / 16;",
      "let K = P.a_K;",
      "var acc: array<f32, 16>;",
      "for (var k0: i32 = 0; k0 < K; k0 = k0 + 16) {",
      "  for (var q: i32 = 0; q < 4; q = q + 1) {",
      "    let e = i32(lid.x) + q * 256;",
      "    let r = e / 16;",
      "    let kk = e % 16;",
      "    let t = row0 + r;",
      "    let n = col0 + r;",
      "    let k = k0 + kk;",
      "    xs[e] = select(0.0, ld_x(t * K + k), t < P.a_T && k < K);",
      `    ws[e] = select(0.0, ${wAt(kn, "n", "k")}, n < P.a_n1 && k < K);`,
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

export const matmulPrograms = {
  matmul: { vec: vecOutIn("matmul", false), vec4: vecOutIn("matmul", true), tiled: tiled("matmul", false) },
  matmul_kn: { vec: vecInOut("matmul_kn"), tiled: tiled("matmul_kn", true) },
};
