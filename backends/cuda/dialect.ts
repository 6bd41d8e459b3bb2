// The CUDA C table of the C-style base (backends/cstyle/dialect.ts): the WGSL table's twin.
// Pointer parameters are typed kernel parameters named `p_NAME` and scalars `a_NAME` (programs.ts
// declares them from the catalogue entry), so a description's locals never shadow them (`T`,
// `n`, `d`, `g` are locals and parameters at once in several kernels). `keep` rounds with the
// `_rn` intrinsics, which nvcc never contracts into an FMA; every other product and sum may be
// contracted, as in the hand-written kernels.
import type { Dialect, MathFn, Scalar } from "../cstyle/dialect.js";
import { block } from "../cstyle/dialect.js";

const TYPES: Record<Scalar, string> = { f32: "float", i32: "int", u32: "unsigned", bool: "bool" };

function float(v: number): string {
  if (Number.isNaN(v)) throw new Error("no NaN literal in the CUDA table");
  if (!Number.isFinite(v)) return `__uint_as_float(${v > 0 ? "0x7f800000u" : "0xff800000u"})`;
  if (Object.is(v, -0)) return "-0.0f";
  const s = String(Math.fround(v)); // the shortest decimal of the f32, which reads back as it
  return /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
}

const MATH: Record<MathFn, (a: readonly string[]) => string> = {
  sqrt: (a) => `sqrtf(${a[0]})`,
  abs: (a) => `fabsf(${a[0]})`,
  min: (a) => `fminf(${a[0]}, ${a[1]})`,
  max: (a) => `fmaxf(${a[0]}, ${a[1]})`,
  floor: (a) => `floorf(${a[0]})`,
  round: (a) => `rintf(${a[0]})`, // half to even, as WGSL's round
  clamp: (a) => `fminf(fmaxf(${a[0]}, ${a[1]}), ${a[2]})`,
};

const RN: Record<string, string> = { "+": "__fadd_rn", "-": "__fsub_rn", "*": "__fmul_rn", "/": "__fdiv_rn" };

/**
 * `e` with its outermost operation (the last one evaluated) spelled as an `_rn` intrinsic. The
 * descriptions pass `keep` one operation on operands (`a + b`, `x * inv`, `(acc - acc_lo)`), so
 * this finds the top-level binary operator of lowest precedence, rightmost (C's operators are
 * left-associative), skipping parentheses, brackets and unary minus.
 */
export function keepRounded(e: string): string {
  const s = e.trim();
  let depth = 0;
  let add = -1;
  let mul = -1;
  let operand = false; // whether what came before (at this depth) ends an operand
  for (let i = 0; i < s.length; ) {
    const ch = s[i]!;
    const token = /^(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[fu]?|[A-Za-z_]\w*)/i.exec(s.slice(i));
    if (token) {
      i += token[0].length;
      operand = true;
      continue;
    }
    if (ch === "(" || ch === "[") depth++, (operand = false);
    else if (ch === ")" || ch === "]") depth--, (operand = true);
    else if (ch !== " ") {
      if (depth === 0 && operand && "+-*/".includes(ch)) {
        if (ch === "+" || ch === "-") add = i;
        else mul = i;
      }
      operand = false;
    }
    i++;
  }
  const at = add >= 0 ? add : mul;
  if (at < 0) {
    // one operand: a parenthesised operation is kept as its inside; anything else is already rounded
    if (s.startsWith("(") && matching(s, 0) === s.length - 1) return keepRounded(s.slice(1, -1));
    return s;
  }
  return `${RN[s[at]!]}(${s.slice(0, at).trim()}, ${s.slice(at + 1).trim()})`;
}

/** The index of the parenthesis closing the one at `open`. */
function matching(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")" && --depth === 0) return i;
  }
  return -1;
}

export const CUDA: Dialect = {
  lang: "cuda",
  type: (t) => TYPES[t],
  f: float,
  i: (v) => (v < 0 ? `(${v})` : `${v}`),
  u: (v) => `${v >>> 0}u`,
  cast: (t, e) => `((${TYPES[t]})(${e}))`,
  bits: (t, e) => (t === "f32" ? `__uint_as_float((unsigned)(${e}))` : t === "u32" ? `__float_as_uint(${e})` : `__float_as_int(${e})`),
  select: (c, a, b) => `((${c}) ? (${a}) : (${b}))`,
  math: (fn, ...args) => MATH[fn](args),
  let: (n, t, e) => `const ${TYPES[t]} ${n} = ${e};`,
  var: (n, t, e) => `${TYPES[t]} ${n} = ${e};`,
  array: (n, t, len) => `${TYPES[t]} ${n}[${len}] = {};`,
  for: (i, from, to, body, step = "1") => [`for (int ${i} = ${from}; ${i} < ${to}; ${i} += ${step}) {`, ...block(body), "}"],
  if: (c, then, otherwise) => (otherwise && otherwise.length ? [`if (${c}) {`, ...block(then), "} else {", ...block(otherwise), "}"] : [`if (${c}) {`, ...block(then), "}"]),
  ld: (p, i) => `p_${p}[${i}]`,
  st: (p, i, v) => `p_${p}[${i}] = ${v};`,
  ldi: (p, i) => `p_${p}[${i}]`,
  sti: (p, i, v) => `p_${p}[${i}] = ${v};`,
  ldb: (p, i) => `((unsigned)p_${p}[${i}])`,
  ldw: (p, i) => `moec_ldw(p_${p}, ${i})`,
  ldexp: (x, e) => `ldexpf(${x}, ${e})`,
  // `NAME_set` of an optional pointer: whether it was given
  arg: (n) => (n.endsWith("_set") ? `(p_${n.slice(0, -4)} != nullptr ? 1 : 0)` : `a_${n}`),
  group: "moec_group",
  tid: "((int)threadIdx.x)",
  barrier: () => "__syncthreads();",
  shared: (n, t, len) => `__shared__ ${TYPES[t]} ${n}[${len}];`,
  keep: keepRounded,
  fn: (name, params, ret, body) =>
    [`static __device__ __forceinline__ ${ret ? TYPES[ret] : "void"} ${name}(${params.map(([n, t]) => `${TYPES[t]} ${n}`).join(", ")}) {`, ...block(body), "}"].join("\n"),
};

/**
 * The table for a program's own module-scope declarations, which CUDA prints inside the kernel
 * (they read the kernel's parameters): a function becomes a lambda over them.
 */
export const CUDA_IN_KERNEL: Dialect = {
  ...CUDA,
  fn: (name, params, ret, body) =>
    [`auto ${name} = [&](${params.map(([n, t]) => `${TYPES[t]} ${n}`).join(", ")}) -> ${ret ? TYPES[ret] : "void"} {`, ...block(body), "};"].join("\n"),
};
