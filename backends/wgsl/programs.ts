// Every WGSL program the device runs, and how one becomes a shader module. The catalogue's
// kernels map to programs here (`plan`: which programs a call runs, in order); each program's
// body comes from the C-style base (backends/cstyle) or, for matmul and attention, from this
// backend's own kernels/. `source(program, pattern)` prints the full module for one binding
// pattern: which of the bindings each pointer parameter lives in, and whether that binding is
// written. Storage buffers are `array<u32>`; f32 and i32 are bitcast at the accessors.
import { ENUMS, KERNELS, type KernelName, type KernelSpec, type ParamRole } from "../../runtime/kernels/catalogue.js";
import { STORAGE_FORMATS, type StorageFormat } from "../../runtime/plan/formats.js";
import { GROUPED_KERNELS, type GroupedName } from "../../runtime/kernels/grouped.js";
import { helperOrder, type ArgReader, type Program } from "../cstyle/dialect.js";
import * as elementwise from "../cstyle/kernels/elementwise.js";
import * as norm from "../cstyle/kernels/norm.js";
import { routeSelect, routeSort } from "../cstyle/kernels/routing.js";
import { gatherRowsQ } from "../cstyle/kernels/dequant.js";
import { gatedDeltaRule } from "../cstyle/kernels/deltanet.js";
import { mamba2Scan } from "../cstyle/kernels/mamba2.js";
import { causalConv1d, mambaScan } from "../cstyle/kernels/mamba.js";
import { matmulQPrograms } from "./kernels/matmul-q.js";
import { WGSL } from "./dialect.js";
import { attention } from "./kernels/attention.js";
import { matmulPrograms, VEC_ROWS } from "./kernels/matmul.js";
import { GROUPED_FORMATS, GROUPED_PROGRAMS, groupedHalf, type GroupedFormat, moeDownCombine, moeDownCombine4, moeGateUp, moeGateUp4, moeMatmulTiled, moeMatmulVec, moeMatmulVec4 } from "./kernels/grouped.js";

/** A kernel of the catalogue or of the grouped table. */
export type AnyKernel = KernelName | GroupedName;
export const specOf = (k: AnyKernel): KernelSpec => (k in KERNELS ? KERNELS[k as KernelName] : GROUPED_KERNELS[k as GroupedName]);

const POINTER_ROLES: readonly ParamRole[] = ["f32 in", "f32 in?", "f32 out", "f32 inout", "i32 in", "i32 out", "u8 in", "scratch"];
export const isPointer = (r: ParamRole) => POINTER_ROLES.includes(r);

/**
 * Pointers addressed in bytes (their uniform field is a byte offset, and they may sit at any
 * byte): stored weights (`u8 in`) and, in a kernel that takes one, the row scales of a channel
 * format, which follow the rows wherever they end.
 */
export function isBytePointer(kernel: AnyKernel, name: string): boolean {
  const params = specOf(kernel).params;
  const role = params.find(([n]) => n === name)?.[1];
  return role === "u8 in" || (name === "scales" && params.some(([, r]) => r === "u8 in"));
}

/** A kernel's pointer parameters and scalar parameters, in catalogue order. */
export function paramsOf(kernel: AnyKernel): { pointers: string[]; optional: string[]; scalars: { name: string; type: "i32" | "f32" }[] } {
  const pointers: string[] = [];
  const optional: string[] = [];
  const scalars: { name: string; type: "i32" | "f32" }[] = [];
  for (const [name, role] of specOf(kernel).params) {
    if (isPointer(role)) {
      pointers.push(name);
      if (role === "f32 in?") optional.push(name);
    } else scalars.push({ name, type: role === "f32" || role === "f64" ? "f32" : "i32" });
  }
  return { pointers, optional, scalars };
}

/**
 * The uniform block of a kernel, in order: one u32 element offset per pointer, an i32 "is set"
 * flag per optional pointer, the scalars, then the workgroups launched (a grid wider than the
 * 65535 a dimension holds is folded into two; workgroups past the count return at once).
 * Each field is 4 bytes.
 */
export function uniformFields(kernel: AnyKernel): { name: string; type: "u32" | "i32" | "f32" }[] {
  const { pointers, optional, scalars } = paramsOf(kernel);
  return [...pointers.map((name) => ({ name, type: "u32" as const })), ...optional.map((n) => ({ name: `${n}_set`, type: "i32" as const })), ...scalars, { name: "_groups", type: "u32" as const }];
}

export const uniformBytes = (kernel: AnyKernel) => Math.ceil((4 * uniformFields(kernel).length) / 16) * 16;

export const PROGRAMS: readonly Program[] = [
  elementwise.unary, elementwise.binary, elementwise.scale, elementwise.clamp, elementwise.fill, elementwise.swiglu,
  elementwise.deinterleave, elementwise.copy_blocks, elementwise.gather_rows, elementwise.scatter_add_rows, elementwise.gate_add_rows,
  elementwise.scale_rows, norm.rmsnorm, norm.layernorm, norm.rope, routeSelect, routeSort, attention, gatedDeltaRule, mamba2Scan, causalConv1d, mambaScan,
  ...STORAGE_FORMATS.flatMap((f) => [matmulQPrograms[f].vec, matmulQPrograms[f].tiled, gatherRowsQ(f)]),
  matmulPrograms.matmul.vec, matmulPrograms.matmul.vec4, matmulPrograms.matmul.tiled, matmulPrograms.matmul_kn.vec, matmulPrograms.matmul_kn.tiled,
  ...GROUPED_PROGRAMS,
];

const byName = new Map(PROGRAMS.map((p) => [p.name, p]));
export function program(name: string): Program {
  const p = byName.get(name);
  if (!p) throw new Error(`no WGSL program ${name}`);
  return p;
}

function groupedFormat(code: number): GroupedFormat {
  const f = formatOf(code);
  if (!(GROUPED_FORMATS as readonly string[]).includes(f)) throw new RangeError(`the grouped MoE kernels read f32, f16 or bf16 expert weights, not ${f}`);
  return f as GroupedFormat;
}

function formatOf(code: number): StorageFormat {
  const f = ENUMS.format[code];
  if (f === undefined) throw new RangeError(`unknown storage format code ${code}`);
  return f;
}

/** The programs a call of `kernel` runs, in order. */
export function plan(kernel: AnyKernel, a: ArgReader): Program[] {
  switch (kernel) {
    case "moe_matmul": {
      const f = groupedFormat(a("wfmt"));
      const tiled = a("rows") > 4 * (a("e1") - a("e0")) + 64;
      if (f !== "f32") return [tiled ? groupedHalf[f].tiled : groupedHalf[f].matmul];
      if (tiled) return [moeMatmulTiled];
      return [a("kn") === 0 && a("K") % 4 === 0 && a("w_stride") % 4 === 0 ? moeMatmulVec4 : moeMatmulVec];
    }
    case "moe_gate_up": {
      const f = groupedFormat(a("wfmt"));
      if (f !== "f32") return [groupedHalf[f].gateUp];
      return [a("K") % 4 === 0 && a("w_stride") % 4 === 0 ? moeGateUp4 : moeGateUp];
    }
    case "moe_down_combine": {
      const f = groupedFormat(a("wfmt"));
      if (f !== "f32") return [groupedHalf[f].down];
      return [a("K") % 4 === 0 && a("w_stride") % 4 === 0 ? moeDownCombine4 : moeDownCombine];
    }
    case "matmul":
      return [a("T") > VEC_ROWS ? matmulPrograms.matmul.tiled : a("K") % 4 === 0 ? matmulPrograms.matmul.vec4 : matmulPrograms.matmul.vec];
    case "matmul_kn":
      return [a("T") <= VEC_ROWS ? matmulPrograms.matmul_kn.vec : matmulPrograms.matmul_kn.tiled];
    case "route_topk":
      return [routeSelect, routeSort];
    case "matmul_q": {
      const f = formatOf(a("format"));
      return [a("T") > VEC_ROWS ? matmulQPrograms[f].tiled : matmulQPrograms[f].vec];
    }
    case "gather_rows_q":
      return [program(`gather_rows_q.${formatOf(a("format"))}`)];
    default:
      return [program(kernel)];
  }
}

/**
 * Where each pointer parameter is bound: `slot[i]` is the binding of the i-th pointer
 * parameter (bindings 1…B; 0 is the uniform block), `writable[b]` whether binding b+1 is
 * read_write. Parameters in one buffer share its binding (WebGPU forbids a written buffer
 * bound twice in one dispatch).
 */
export interface Pattern {
  readonly slot: readonly number[];
  readonly writable: readonly boolean[];
  /** Bindings read as array<vec4<u32>> (a vec4 parameter's own binding). */
  readonly vec4?: readonly boolean[];
}

export const patternKey = (p: Pattern) => `${p.slot.join(",")}|${p.writable.map((w, b) => (w ? "w" : p.vec4?.[b] ? "4" : "r")).join("")}`;

/** The default pattern: every pointer parameter its own binding, written where the program writes it. */
export function separatePattern(p: Program): Pattern {
  const { pointers } = paramsOf(p.kernel as AnyKernel);
  return { slot: pointers.map((_, i) => i), writable: pointers.map((n) => p.writes.includes(n)), vec4: pointers.map((n) => p.vec4?.includes(n) ?? false) };
}

/** The pattern of the listing and of validation: separate bindings, or one read_write binding when there are more than 8 pointers. */
export function listingPattern(p: Program): Pattern {
  const sep = separatePattern(p);
  return sep.slot.length <= 8 ? sep : { slot: sep.slot.map(() => 0), writable: [true], vec4: [false] };
}

/** The WGSL module of a program for one binding pattern. */
export function source(p: Program, pattern: Pattern): string {
  const kernel = p.kernel as AnyKernel;
  const { pointers } = paramsOf(kernel);
  const fields = uniformFields(kernel);
  const lines: string[] = [`// moec WGSL: ${p.name} (${specOf(kernel).doc.slice(0, 100)})`];
  lines.push(`struct Args {\n${fields.map((f) => `  a_${f.name}: ${f.type},`).join("\n")}\n}`);
  lines.push("@group(0) @binding(0) var<uniform> P: Args;");
  pattern.writable.forEach((w, b) => lines.push(`@group(0) @binding(${b + 1}) var<storage, ${w ? "read_write" : "read"}> m${b}: array<${pattern.vec4?.[b] ? "vec4<u32>" : "u32"}>;`));
  pointers.forEach((name, i) => {
    const b = pattern.slot[i]!;
    if (pattern.vec4?.[b]) {
      lines.push(`fn ld4_${name}(i: i32) -> vec4<f32> { return bitcast<vec4<f32>>(m${b}[(P.a_${name} + u32(i)) >> 2u]); }`);
      lines.push(`fn ld_${name}(i: i32) -> f32 { let w = P.a_${name} + u32(i); return bitcast<f32>(m${b}[w >> 2u][w & 3u]); }`);
      return;
    }
    if (isBytePointer(kernel, name)) {
      // byte i from the pointer; a little-endian word from any byte (two words, shifted together)
      lines.push(`fn ldb_${name}(i: u32) -> u32 { let o = P.a_${name} + i; return (m${b}[o >> 2u] >> ((o & 3u) << 3u)) & 0xffu; }`);
      lines.push(
        `fn ldw_${name}(i: u32) -> u32 { let o = P.a_${name} + i; let s = (o & 3u) << 3u; let lo = m${b}[o >> 2u]; if (s == 0u) { return lo; } return (lo >> s) | (m${b}[(o >> 2u) + 1u] << (32u - s)); }`,
      );
      return;
    }
    const at = `m${b}[P.a_${name} + u32(i)]`;
    lines.push(`fn ld_${name}(i: i32) -> f32 { return bitcast<f32>(${at}); }`);
    lines.push(`fn ldi_${name}(i: i32) -> i32 { return bitcast<i32>(${at}); }`);
    if (pattern.writable[b]) {
      lines.push(`fn st_${name}(i: i32, v: f32) { ${at} = bitcast<u32>(v); }`);
      lines.push(`fn sti_${name}(i: i32, v: i32) { ${at} = bitcast<u32>(v); }`);
    }
  });
  // An opaque 1 (the workgroup count is at least 1, which no compiler can know): multiplying by
  // it keeps a rounding the optimiser would otherwise cancel (Dialect.keep).
  lines.push("fn m_keep(x: f32) -> f32 { return x * f32(min(P.a__groups, 1u)); }");
  for (const h of helperOrder([p])) lines.push(h.print(WGSL));
  if (p.shared) lines.push(...p.shared(WGSL));
  lines.push(
    `@compute @workgroup_size(${p.threads})`,
    "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {",
    "  let wg_index: i32 = i32(wid.x + wid.y * nwg.x);",
    "  if (u32(wg_index) >= P.a__groups) { return; }",
    ...p.body(WGSL).map((l) => "  " + l),
    "}",
  );
  return lines.join("\n") + "\n";
}
