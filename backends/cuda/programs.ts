// How a program of the C-style base (backends/cstyle) becomes CUDA: a `__global__` kernel whose
// parameters are the catalogue entry's (runtime/kernels/catalogue.ts), and a host launcher
// `cudaError_t moec_k_NAME(cudaStream_t, params…)` that sizes the grid from the program's `span`
// (the WGSL twin is backends/wgsl/programs.ts). Two launch shapes:
//   - `kernel`: one call, one grid (elementwise maps, norms, rope);
//   - `sequenceKernel`: catalogue kernels that walk "T tokens of one sequence" (mamba2_scan). A
//     pass of the CUDA runtime holds segments of several sequences (batched decode), known only on
//     the GPU (pos and seq per row), so the launcher starts one block per row, and the block of
//     each segment's first row runs the program over that segment, with its rows, its sequence's
//     state and `fresh` = (position 0); the other blocks return. One captured CUDA graph then
//     serves any segmentation, as the hand-written deltanet.cuh does.
import { KERNELS, type KernelName, type Param, type ParamRole } from "../../runtime/kernels/catalogue.js";
import { block, helperOrder, type Program } from "../cstyle/dialect.js";
import { CUDA, CUDA_IN_KERNEL } from "./dialect.js";

/** A program as CUDA launches it: its parameters (the catalogue entry's unless given). */
export interface CudaProgram {
  readonly program: Program;
  readonly params?: readonly Param[];
  /** A `sequenceKernel`: how the per-token and per-sequence pointers of a segment are found. */
  readonly sequence?: Sequence;
}

/**
 * Where a segment's data lies, for a catalogue kernel over "T tokens of one sequence" (it takes
 * `T` and `fresh`), as C expressions over the scalar parameters (`a_NAME`):
 * `rows`: per-token pointers and their floats per row; `states`: per-sequence pointers (the
 * launcher takes a stride for each, floats between sequences); `scratch`: floats of scratch per
 * row (a segment uses the scratch of its rows, so segments never share it).
 */
export interface Sequence {
  readonly rows: Readonly<Record<string, string>>;
  readonly states: readonly string[];
  readonly scratch: string;
}

const paramsOf = (p: CudaProgram): readonly Param[] => p.params ?? KERNELS[p.program.kernel as KernelName].params;
const cname = (p: Program) => p.name.replace(/\W/g, "_");

function decl(role: ParamRole, name: string): string {
  switch (role) {
    case "f32 in":
    case "f32 in?":
      return `const float *p_${name}`;
    case "f32 out":
    case "f32 inout":
    case "scratch":
      return `float *p_${name}`;
    case "i32 in":
      return `const int *p_${name}`;
    case "i32 out":
      return `int *p_${name}`;
    case "u8 in":
      return `const unsigned char *p_${name}`;
    case "f32":
    case "f64":
      return `float a_${name}`;
    default:
      return `int a_${name}`; // i32, bool, enums
  }
}
const POINTER_ROLES: readonly ParamRole[] = ["f32 in", "f32 in?", "f32 out", "f32 inout", "i32 in", "i32 out", "u8 in", "scratch"];
const isPointer = (role: ParamRole) => POINTER_ROLES.includes(role);
const ref = ([name, role]: Param) => (isPointer(role) ? `p_${name}` : `a_${name}`);

/** The program's body with its shared declarations, inside a kernel whose parameters are in scope. */
function inner(p: Program): string[] {
  return [...(p.shared?.(CUDA_IN_KERNEL) ?? []).flatMap((s) => s.split("\n")), ...p.body(CUDA)];
}

/** A one-grid kernel and its launcher. */
export function kernel(cp: CudaProgram): string {
  const p = cp.program;
  const params = paramsOf(cp);
  if (!p.span) throw new Error(`program ${p.name}: no span, so CUDA cannot size its grid on the host`);
  const sig = params.map(([n, r]) => decl(r, n)).join(", ");
  const n = p.span.over.length ? p.span.over.map((q) => `(long long)a_${q}`).join(" * ") : "1";
  return [
    `__global__ void __launch_bounds__(${p.threads}) moec_${cname(p)}_kernel(${sig}) {`,
    "  const int moec_group = (int)blockIdx.x;",
    ...block(inner(p)),
    "}",
    `cudaError_t moec_k_${cname(p)}(cudaStream_t stream, ${sig}) {`,
    `  return moec_launch(moec_${cname(p)}_kernel, dim3(moec_cstyle_blocks(${n}, ${p.span.per})), dim3(${p.threads}), 0, stream, ${params.map(ref).join(", ")});`,
    "}",
  ].join("\n");
}

/** The launcher's parameters of a sequence kernel: the catalogue's with T the pass's rows and without `fresh`, then the rows' positions and sequences and a stride per state. */
function sequenceParams(cp: CudaProgram): { sig: string; launch: string } {
  const seq = cp.sequence!;
  const own = paramsOf(cp).filter(([n]) => n !== "fresh");
  const sig = [...own.map(([n, r]) => decl(r, n)), "const int *moec_pos", "const int *moec_seq", ...seq.states.map((s) => `long long moec_${s}_stride`)].join(", ");
  const launch = [...own.map(ref), "moec_pos", "moec_seq", ...seq.states.map((s) => `moec_${s}_stride`)].join(", ");
  return { sig, launch };
}

/** A sequence kernel (see the top) and its launcher: one block per row of the pass, T rows. */
export function sequenceKernel(cp: CudaProgram): string {
  const p = cp.program;
  const seq = cp.sequence;
  if (!seq) throw new Error(`program ${p.name}: not a sequence program`);
  const names = paramsOf(cp).map(([n]) => n);
  if (!names.includes("T") || !names.includes("fresh")) throw new Error(`program ${p.name}: a sequence kernel takes T (tokens) and fresh (a new sequence), as the catalogue's scans do`);
  const { sig, launch } = sequenceParams(cp);
  const segment = [
    "const int moec_r0 = (int)blockIdx.x;",
    "if (moec_r0 >= a_T || (moec_r0 > 0 && moec_seq[moec_r0 - 1] == moec_seq[moec_r0])) return;",
    "int moec_end = moec_r0 + 1;",
    "while (moec_end < a_T && moec_seq[moec_end] == moec_seq[moec_r0]) moec_end++;",
    "const long long moec_s = moec_seq[moec_r0];",
  ];
  // The segment's view, under the names the body reads: a nested scope shadows the pass's.
  const view: string[] = [];
  for (const [n, r] of paramsOf(cp)) {
    if (n === "fresh") view.push("const int a_fresh = moec_pos[moec_r0] == 0 ? 1 : 0;");
    else if (n === "T") view.push("const int a_T_segment = moec_end - moec_r0;");
    else if (n in seq.rows) view.push(`${decl(r, n).replace(`p_${n}`, `const q_${n}`)} = p_${n} + (long long)moec_r0 * (${seq.rows[n]});`);
    else if (seq.states.includes(n)) view.push(`${decl(r, n).replace(`p_${n}`, `const q_${n}`)} = p_${n} + moec_s * moec_${n}_stride;`);
    else if (r === "scratch") view.push(`float *const q_${n} = p_${n} + (long long)moec_r0 * (${seq.scratch});`);
  }
  const moved = paramsOf(cp).filter(([n, r]) => n in seq.rows || seq.states.includes(n) || r === "scratch");
  const body = [
    ...view,
    "{",
    ...block([
      "const int a_T = a_T_segment;",
      ...moved.map(([n, r]) => `${decl(r, n)} = q_${n};`),
      ...inner(p),
    ]),
    "}",
  ];
  return [
    `__global__ void __launch_bounds__(${p.threads}) moec_${cname(p)}_kernel(${sig}) {`,
    "  const int moec_group = 0;",
    ...block(segment),
    ...block(body),
    "}",
    `cudaError_t moec_k_${cname(p)}(cudaStream_t stream, ${sig}) {`,
    `  return moec_launch(moec_${cname(p)}_kernel, dim3(a_T), dim3(${p.threads}), 0, stream, ${launch});`,
    "}",
  ].join("\n");
}

/** The launcher's C declaration. */
export function launcherDecl(cp: CudaProgram): string {
  const sig = cp.sequence ? sequenceParams(cp).sig : paramsOf(cp).map(([n, r]) => decl(r, n)).join(", ");
  return `cudaError_t moec_k_${cname(cp.program)}(cudaStream_t stream, ${sig});`;
}

/** cstyle.cu: the programs' helpers (once) and kernels. */
export function cstyleSource(programs: readonly CudaProgram[]): string {
  return [
    "// cstyle.cu — generated by moec: do not edit. The kernels of the C-style base (backends/cstyle) and",
    "// the CUDA backend's own C-style programs, printed through the CUDA table (backends/cuda/dialect.ts)",
    "// and wrapped by backends/cuda/programs.ts; cstyle.h declares the launchers.",
    '#include "moec_runtime.h"',
    "",
    "// Blocks of `per` for n items (the kernels return past the end).",
    "static inline unsigned moec_cstyle_blocks(long long n, int per) { return static_cast<unsigned>((n + per - 1) / per); }",
    "// The little-endian word at byte i of p, at any alignment.",
    "static __device__ __forceinline__ unsigned moec_ldw(const unsigned char *p, unsigned i) { return p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (static_cast<unsigned>(p[i + 3]) << 24); }",
    "",
    ...helperOrder(programs.map((p) => p.program)).map((h) => h.print(CUDA) + "\n"),
    ...programs.map((p) => `// ${p.program.name}\n${p.sequence ? sequenceKernel(p) : kernel(p)}\n`),
  ].join("\n");
}

/** cstyle.h: the launchers' declarations. */
export function cstyleHeader(programs: readonly CudaProgram[]): string {
  return [
    "// cstyle.h — generated by moec: the launchers of cstyle.cu (backends/cuda/programs.ts). Pointers are",
    "// p_NAME, scalars a_NAME, in the catalogue's order (runtime/kernels/catalogue.ts).",
    "#pragma once",
    '#include "moec_cuda.h"',
    "",
    ...programs.map(launcherDecl),
    "",
  ].join("\n");
}
