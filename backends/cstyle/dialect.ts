// The C-style base: kernels that are the same computation in WGSL and CUDA C are written once,
// as TypeScript functions that print their body through a `Dialect` — a small table of what
// differs between the two languages (types, literals, casts, declarations, loops, memory
// access, thread indices, barriers). Infix arithmetic, comparisons, `if`, `return`, `break`
// and assignment are the same in both and are written as plain text. This is tinygrad's split
// (renderer/cstyle.py: one C-like printer; renderer/wgsl.py, cuda: a table each), kept small:
//
//   const body = KERNEL.body(WGSL);          // the same description, printed as WGSL
//   const body = KERNEL.body(CUDA);          // ... or as CUDA C, once a CUDA table exists
//
// Conventions every description follows (and every table implements):
// - Pointer parameters of the catalogue (runtime/kernels/catalogue.ts) are read and written by
//   name with `ld`/`st` (f32) and `ldi`/`sti` (i32), at element indices (i32 expressions). How a
//   name becomes memory — a binding plus an offset in WGSL, a typed pointer in CUDA — is the
//   table's business.
// - Scalar parameters are read with `arg(name)`: i32 for i32/bool/enum roles, f32 for f32/f64.
// - A kernel runs `threads` threads per workgroup (block) over a grid the kernel's `grid`
//   computes on the host; `group` is the linear workgroup index, `tid` the thread's index in it.
// - Helpers (`Helper`) are functions shared by several kernels (exp, sigmoid, erfc …), printed
//   once before the kernel that uses them.

export type Scalar = "f32" | "i32" | "u32" | "bool";

/** Math every table provides by this name (IEEE f32 unless noted). */
export type MathFn = "sqrt" | "abs" | "min" | "max" | "floor" | "round" | "clamp";

export interface Dialect {
  /** "wgsl" or "cuda": for the rare description that must know. */
  readonly lang: string;
  type(t: Scalar): string;
  /** An f32 literal (exactly representable values print exactly). */
  f(v: number): string;
  /** An i32 literal. */
  i(v: number): string;
  /** A u32 literal. */
  u(v: number): string;
  /** Value conversion (`f32(i)`, `(float)i`). */
  cast(t: Scalar, e: string): string;
  /** Reinterprets the bits of a 32-bit value. */
  bits(t: Scalar, e: string): string;
  /** `c ? a : b`. */
  select(c: string, a: string, b: string): string;
  math(fn: MathFn, ...args: string[]): string;
  /** An immutable local. */
  let(name: string, t: Scalar, e: string): string;
  /** A mutable local. */
  var(name: string, t: Scalar, e: string): string;
  /** A mutable local array of `n` elements (registers). */
  array(name: string, t: Scalar, n: number): string;
  /** `for (i = from; i < to; i += step) { body }` with an i32 counter. */
  for(i: string, from: string, to: string, body: readonly string[], step?: string): string[];
  if(c: string, then: readonly string[], otherwise?: readonly string[]): string[];
  /** f32 element `idx` of pointer parameter `p`. */
  ld(p: string, idx: string): string;
  st(p: string, idx: string, v: string): string;
  /** i32 element `idx` of pointer parameter `p`. */
  ldi(p: string, idx: string): string;
  sti(p: string, idx: string, v: string): string;
  /**
   * Byte `i` (a u32 expression: a byte index from where pointer parameter `p` points) of a
   * byte pointer (a `u8 in` parameter, or a quantized kernel's row scales), as a u32 0…255.
   */
  ldb(p: string, i: string): string;
  /** The little-endian 32-bit word starting at byte `i` of byte pointer `p`, at any alignment, as a u32. */
  ldw(p: string, i: string): string;
  /** `x · 2^e` exactly (x f32, e i32). */
  ldexp(x: string, e: string): string;
  /** A scalar parameter. */
  arg(name: string): string;
  /** The linear workgroup (block) index, i32. */
  readonly group: string;
  /** The thread's index in its workgroup, i32. */
  readonly tid: string;
  /** Waits for every thread of the workgroup; shared memory written before is visible after. */
  barrier(): string;
  /** A workgroup-shared array declaration (module scope). */
  shared(name: string, t: Scalar, n: number): string;
  /**
   * `e` rounded as written: the compiler may not reassociate it with what surrounds it or
   * cancel it algebraically (compensated sums and exact differences need their rounding
   * errors kept). WGSL has no such qualifier, so its table multiplies by an opaque 1.
   */
  keep(e: string): string;
  /** A helper function definition (module scope). */
  fn(name: string, params: readonly (readonly [string, Scalar])[], ret: Scalar | null, body: readonly string[]): string;
}

/** A helper function shared by kernels: printed once per program that uses it. */
export interface Helper {
  readonly name: string;
  /** Helpers it calls. */
  readonly uses?: readonly Helper[];
  print(c: Dialect): string;
}

/** Reads a call's arguments by catalogue parameter name (numbers as the launch passed them). */
export type ArgReader = (name: string) => number;

/** A backend-neutral kernel program: one dispatch of a catalogue kernel (some kernels take several). */
export interface Program {
  /** Unique name: the catalogue kernel, or kernel + "." + phase. */
  readonly name: string;
  /** The catalogue kernel whose parameters it takes. */
  readonly kernel: string;
  readonly threads: number;
  readonly helpers?: readonly Helper[];
  /** Module-scope declarations (shared arrays). */
  shared?(c: Dialect): string[];
  body(c: Dialect): string[];
  /** Workgroups to launch for a call (0: nothing to do). */
  grid(a: ArgReader): number;
  /**
   * The same grid as data, where it is ⌈Π params / per⌉ (`spanned`): a backend that sizes its
   * launches in another language (CUDA's host launchers, in C) prints it from this.
   */
  readonly span?: Span;
  /** Pointer parameters this program writes (the rest are only read). */
  readonly writes: readonly string[];
  /** Pointer parameters it never touches (matmul_q's CPU scratch): the device need not resolve them. */
  readonly unused?: readonly string[];
  /**
   * Pointer parameters it reads four words at a time (`ld4_NAME(i)`, i a multiple of 4): the
   * device runs `fallback` instead when one of them is not 16-byte aligned or shares a buffer
   * with an output (WGSL: its own read-only `array<vec4<u32>>` binding).
   */
  readonly vec4?: readonly string[];
  readonly fallback?: Program;
}

/** A grid of ⌈Π over / per⌉ workgroups, `over` scalar parameters (none: one workgroup). */
export interface Span {
  readonly over: readonly string[];
  readonly per: number;
}

/** A program's `grid` and `span` from one description, so the two cannot disagree. */
export function spanned(over: readonly string[], per: number): { grid: (a: ArgReader) => number; span: Span } {
  return { span: { over, per }, grid: (a) => blocks(over.reduce((p, q) => p * a(q), 1), per) };
}

/** Helpers in dependency order (each after those it uses), without repeats. */
export function helperOrder(programs: readonly { helpers?: readonly Helper[] }[]): Helper[] {
  const out: Helper[] = [];
  const visit = (h: Helper) => {
    if (out.includes(h)) return;
    for (const u of h.uses ?? []) visit(u);
    out.push(h);
  };
  for (const p of programs) for (const h of p.helpers ?? []) visit(h);
  return out;
}

/** Indents nested statements for printing. */
export function block(lines: readonly string[]): string[] {
  return lines.map((l) => "  " + l);
}

/** ceil(a / b) for positive b. */
export const blocks = (a: number, b: number) => Math.max(0, Math.ceil(a / b));
