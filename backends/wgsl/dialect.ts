// The WGSL table of the C-style base (backends/cstyle/dialect.ts). Pointer parameters are
// read through accessor functions (`ld_x(i)`, `st_y(i, v)`) that programs.ts defines per
// binding pattern: every storage buffer is `array<u32>` (f32 and i32 data are bitcast), each
// pointer parameter is one of the bindings plus an element offset in the uniform `P`.
import type { Dialect, MathFn, Scalar } from "../cstyle/dialect.js";
import { block } from "../cstyle/dialect.js";

/**
 * An f32 from constant bits, kept out of WGSL's constant evaluation: a constant expression that
 * is infinite or NaN is a shader-creation error in Tint (Chrome's compiler; Naga accepts it), so
 * the bits are or-ed with a uniform's zero, which makes the expression a runtime one.
 */
export function runtimeBits(literal: string): string {
  return `bitcast<f32>(${literal} | (P.a__groups & 0u))`;
}

function float(v: number): string {
  if (Number.isNaN(v)) throw new Error("no NaN literal in WGSL");
  if (!Number.isFinite(v)) return runtimeBits(v > 0 ? "0x7f800000u" : "0xff800000u");
  const f = Math.fround(v);
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) throw new Error(`subnormal literal ${v}`);
  const s = String(f);
  return /[.e]/.test(s) ? `f32(${s})` : `f32(${s}.0)`;
}

export const WGSL: Dialect = {
  lang: "wgsl",
  type: (t: Scalar) => t,
  f: float,
  i: (v) => (v < 0 ? `(${v}i)` : `${v}i`),
  u: (v) => `${v >>> 0}u`,
  cast: (t, e) => `${t}(${e})`,
  bits: (t, e) => (t === "f32" && /^\d+u$/.test(e) ? runtimeBits(e) : `bitcast<${t}>(${e})`),
  select: (c, a, b) => `select(${b}, ${a}, ${c})`,
  math: (fn: MathFn, ...args) => `${fn}(${args.join(", ")})`,
  let: (n, t, e) => `let ${n}: ${t} = ${e};`,
  var: (n, t, e) => `var ${n}: ${t} = ${e};`,
  array: (n, t, len) => `var ${n} = array<${t}, ${len}>();`,
  for: (i, from, to, body, step = "1i") => [`for (var ${i}: i32 = ${from}; ${i} < ${to}; ${i} = ${i} + ${step}) {`, ...block(body), "}"],
  if: (c, then, otherwise) => (otherwise && otherwise.length ? [`if (${c}) {`, ...block(then), "} else {", ...block(otherwise), "}"] : [`if (${c}) {`, ...block(then), "}"]),
  ld: (p, i) => `ld_${p}(${i})`,
  st: (p, i, v) => `st_${p}(${i}, ${v});`,
  ldi: (p, i) => `ldi_${p}(${i})`,
  sti: (p, i, v) => `sti_${p}(${i}, ${v});`,
  ldb: (p, i) => `ldb_${p}(${i})`,
  ldw: (p, i) => `ldw_${p}(${i})`,
  ldexp: (x, e) => `ldexp(${x}, ${e})`,
  arg: (n) => `P.a_${n}`,
  group: "wg_index",
  tid: "i32(lid.x)",
  barrier: () => "storageBarrier(); workgroupBarrier();",
  shared: (n, t, len) => `var<workgroup> ${n}: array<${t}, ${len}>;`,
  keep: (e) => `m_keep(${e})`,
  fn: (name, params, ret, body) => [`fn ${name}(${params.map(([n, t]) => `${n}: ${t}`).join(", ")})${ret ? ` -> ${ret}` : ""} {`, ...block(body), "}"].join("\n"),
};
