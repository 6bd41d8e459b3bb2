// A backend-neutral description of simple kernels — elementwise maps, per-row reductions,
// rotations — that C-like shading languages print alike (the model is tinygrad's
// renderer/cstyle.py: one printer, a small table per language). The CUDA backend prints it
// (cuda-table.ts); a WGSL table prints the same descriptions. It lives under backends/cuda only
// until the shared backends/cstyle base exists, and is written to move there unchanged.
//
// A kernel has typed parameters, an index space and a body of statements:
//   - `elementwise`: one invocation per index `i` in [0, n);
//   - `rows`: one workgroup per row `row` in [0, rows), whose invocations share the work of a
//     row through `forEach` loops and combine values with `reduce` (a workgroup-wide sum).
// Math with a `precise` builtin (exp, sigmoid, silu, erf, tanh, cos, sin) is computed at the
// reference's precision where the language can (f64 in CUDA), else at f32.

export type Ty = "f32" | "i32" | "index" | "bool";

export type Builtin =
  | "sqrt" | "min" | "max" | "abs"
  | "mul_rn" // a·b rounded to f32 on its own (never fused into an add)
  | "sigmoid" | "swish" | "gelu" | "gelu_tanh" | "tanh" | "cos" | "sin" | "exp" // precise
  | "to_f32" | "to_index";

export type BinOp = "+" | "-" | "*" | "/" | "%" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "&&" | "||";

export type Expr =
  | { readonly k: "lit"; readonly ty: Ty; readonly v: number }
  | { readonly k: "var"; readonly name: string }
  | { readonly k: "bin"; readonly op: BinOp; readonly a: Expr; readonly b: Expr }
  | { readonly k: "call"; readonly fn: Builtin; readonly args: readonly Expr[] }
  | { readonly k: "sel"; readonly c: Expr; readonly a: Expr; readonly b: Expr }
  | { readonly k: "load"; readonly buf: string; readonly i: Expr }
  /** Whether an optional buffer was given. */
  | { readonly k: "has"; readonly buf: string };

export type Stmt =
  | { readonly k: "let"; readonly name: string; readonly ty: Ty; readonly e: Expr }
  | { readonly k: "var"; readonly name: string; readonly ty: Ty; readonly e: Expr }
  | { readonly k: "set"; readonly name: string; readonly e: Expr }
  | { readonly k: "store"; readonly buf: string; readonly i: Expr; readonly e: Expr }
  | { readonly k: "if"; readonly c: Expr; readonly then: readonly Stmt[]; readonly else?: readonly Stmt[] }
  /** Cases on an integer; `default` when none matches. */
  | { readonly k: "switch"; readonly on: Expr; readonly cases: readonly (readonly [number, readonly Stmt[]])[]; readonly default: readonly Stmt[] }
  /** `rows` kernels: the workgroup's invocations share j in [0, n). */
  | { readonly k: "forEach"; readonly v: string; readonly n: Expr; readonly body: readonly Stmt[] }
  /** `rows` kernels: `name` = Σ over j in [0, n) of `e`, known to every invocation afterwards. */
  | { readonly k: "reduce"; readonly name: string; readonly v: string; readonly n: Expr; readonly e: Expr };

export type ParamKind = "f32 in" | "f32 in?" | "f32 out" | "f32 inout" | "i32 in" | "i32" | "index" | "f32" | "bool";

export interface Param {
  readonly name: string;
  readonly kind: ParamKind;
}

export type Space = { readonly kind: "elementwise"; readonly n: Expr } | { readonly kind: "rows"; readonly rows: Expr };

export interface KernelDesc {
  readonly name: string;
  readonly doc: string;
  readonly params: readonly Param[];
  readonly space: Space;
  readonly body: readonly Stmt[];
}

// ---- constructors, so descriptions read like the math ------------------------------------------

export const v = (name: string): Expr => ({ k: "var", name });
export const f32 = (x: number): Expr => ({ k: "lit", ty: "f32", v: x });
export const int = (x: number): Expr => ({ k: "lit", ty: "i32", v: x });
const bin = (op: BinOp) => (a: Expr, b: Expr): Expr => ({ k: "bin", op, a, b });
export const add = bin("+"), sub = bin("-"), mul = bin("*"), div = bin("/"), mod = bin("%");
export const lt = bin("<"), le = bin("<="), gt = bin(">"), ge = bin(">="), eq = bin("=="), ne = bin("!="), and = bin("&&");
export const call = (fn: Builtin, ...args: Expr[]): Expr => ({ k: "call", fn, args });
export const sel = (c: Expr, a: Expr, b: Expr): Expr => ({ k: "sel", c, a, b });
export const load = (buf: string, i: Expr): Expr => ({ k: "load", buf, i });
export const has = (buf: string): Expr => ({ k: "has", buf });
export const let_ = (name: string, ty: Ty, e: Expr): Stmt => ({ k: "let", name, ty, e });
export const var_ = (name: string, ty: Ty, e: Expr): Stmt => ({ k: "var", name, ty, e });
export const set = (name: string, e: Expr): Stmt => ({ k: "set", name, e });
export const store = (buf: string, i: Expr, e: Expr): Stmt => ({ k: "store", buf, i, e });
export const if_ = (c: Expr, then: readonly Stmt[], else_?: readonly Stmt[]): Stmt => ({ k: "if", c, then, ...(else_ ? { else: else_ } : {}) });
export const forEach = (name: string, n: Expr, body: readonly Stmt[]): Stmt => ({ k: "forEach", v: name, n, body });
export const reduce = (name: string, j: string, n: Expr, e: Expr): Stmt => ({ k: "reduce", name, v: j, n, e });
export const p = (name: string, kind: ParamKind): Param => ({ name, kind });
