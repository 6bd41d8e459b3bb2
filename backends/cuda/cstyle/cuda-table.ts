// The CUDA table of the C-style printer: each description becomes a `__global__` kernel and a
// host launcher `cudaError_t moec_k_NAME(cudaStream_t, params…)` (moec_runtime.h declares them).
// Elementwise kernels run a grid-stride loop over 64-bit indices; row kernels run one block of
// 256 threads per row and reduce with moec_block_sum. Precise builtins compute in f64.
import type { Builtin, KernelDesc, Param, Ty } from "./ir.js";
import { CSTYLE_KERNELS } from "./kernels.js";
import { CStylePrinter, indent, isBuffer, type LanguageTable } from "./printer.js";

const TYPES: Record<Ty, string> = { f32: "float", i32: "int", index: "long long", bool: "bool" };

const d = (x: string) => `(double)(${x})`;
const BUILTINS: Record<Builtin, (a: readonly string[]) => string> = {
  sqrt: (a) => `sqrtf(${a[0]})`,
  min: (a) => `fminf(${a[0]}, ${a[1]})`,
  max: (a) => `fmaxf(${a[0]}, ${a[1]})`,
  abs: (a) => `fabsf(${a[0]})`,
  mul_rn: (a) => `__fmul_rn(${a[0]}, ${a[1]})`,
  sigmoid: (a) => `(float)(1.0 / (1.0 + exp(-${d(a[0]!)})))`,
  swish: (a) => `(float)(${d(a[1]!)} * (1.0 / (1.0 + exp(-(${d(a[0]!)} * ${d(a[1]!)})))))`,
  gelu: (a) => `(float)(0.5 * ${d(a[0]!)} * (1.0 + erf(${d(a[0]!)} * 0.70710678118654752440)))`,
  gelu_tanh: (a) => `(float)(0.5 * ${d(a[0]!)} * (1.0 + tanh(0.79788456080286535588 * (${d(a[0]!)} + 0.044715 * ${d(a[0]!)} * ${d(a[0]!)} * ${d(a[0]!)}))))`,
  tanh: (a) => `(float)tanh(${d(a[0]!)})`,
  cos: (a) => `(float)cos(${d(a[0]!)})`,
  sin: (a) => `(float)sin(${d(a[0]!)})`,
  exp: (a) => `(float)exp(${d(a[0]!)})`,
  to_f32: (a) => `(float)(${a[0]})`,
  to_index: (a) => `(long long)(${a[0]})`,
};

function paramDecl(p: Param, restrict: boolean): string {
  const r = restrict ? "__restrict__ " : "";
  switch (p.kind) {
    case "f32 in":
    case "f32 in?":
      return `const float *${r}${p.name}`;
    case "f32 out":
    case "f32 inout":
      return `float *${r}${p.name}`;
    case "i32 in":
      return `const int *${r}${p.name}`;
    case "index":
      return `long long ${p.name}`;
    case "i32":
      return `int ${p.name}`;
    case "f32":
      return `float ${p.name}`;
    case "bool":
      return `int ${p.name}`;
  }
}

/** Kernels whose output may alias an input (the catalogue allows in place) take no __restrict__. */
const IN_PLACE = new Set(["unary", "binary", "scale", "rmsnorm", "layernorm", "swiglu"]);

export const CUDA_TABLE: LanguageTable = {
  type: (t) => TYPES[t],
  literal: (t, v) => (t === "f32" ? (Number.isInteger(v) ? `${v}.0f` : `${v}f`) : String(v)),
  builtin: (fn, args) => BUILTINS[fn](args),
  declare: (name, t, e, mutable) => `${mutable ? "" : "const "}${TYPES[t]} ${name} = ${e};`,
  load: (buf, i) => `${buf}[${i}]`,
  store: (buf, i, e) => `${buf}[${i}] = ${e};`,
  has: (buf) => `(${buf} != nullptr)`,
  select: (c, a, b) => `(${c} ? ${a} : ${b})`,
  switch: (on, cases, deflt) => [
    `switch (${on}) {`,
    ...cases.flatMap(([c, body]) => [`  case ${c}:`, ...indent(indent(body)), "    break;"]),
    "  default:",
    ...indent(indent(deflt)),
    "    break;",
    "}",
  ],
  forEach: (j, n, body) => [`for (int ${j} = threadIdx.x; ${j} < ${n}; ${j} += blockDim.x) {`, ...indent(body), "}"],
  reduce: (name, j, n, e) => [
    `float ${name} = 0.0f;`,
    `for (int ${j} = threadIdx.x; ${j} < ${n}; ${j} += blockDim.x) ${name} += ${e};`,
    `${name} = moec_block_sum(${name}, moec_red);`,
  ],
  kernel(desc: KernelDesc, body: readonly string[]): string {
    const restrict = !IN_PLACE.has(desc.name) && !desc.params.some((p) => p.kind === "f32 inout");
    const sig = desc.params.map((p) => paramDecl(p, restrict && isBuffer(p))).join(", ");
    const hostSig = desc.params.map((p) => paramDecl(p, false)).join(", ");
    const args = desc.params.map((p) => p.name).join(", ");
    const printer = new CStylePrinter(CUDA_TABLE);
    const lines = [`// ${desc.name}: ${desc.doc}`, `__global__ void moec_${desc.name}_kernel(${sig}) {`];
    let launch: string;
    if (desc.space.kind === "elementwise") {
      const n = printer.expr(desc.space.n);
      lines.push(
        `  const long long moec_n = ${n};`,
        "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < moec_n; i += (long long)gridDim.x * blockDim.x) {",
        ...indent(indent(body)),
        "  }",
      );
      launch = `  const long long n_ = ${n};\n  return moec_launch(moec_${desc.name}_kernel, dim3(moec_elementwise_blocks(n_)), dim3(256), 0, stream, ${args});`;
    } else {
      const rows = printer.expr(desc.space.rows);
      lines.push("  __shared__ float moec_red[32];", "  const int row = blockIdx.x;", ...indent(body));
      launch = `  return moec_launch(moec_${desc.name}_kernel, dim3(${rows}), dim3(256), 0, stream, ${args});`;
    }
    lines.push("}", "", `cudaError_t moec_k_${desc.name}(cudaStream_t stream, ${hostSig}) {`, launch, "}");
    return lines.join("\n");
  },
};

/** elementwise.cu: every shared kernel printed for CUDA. */
export function cudaElementwiseSource(): string {
  const printer = new CStylePrinter(CUDA_TABLE);
  return [
    "// elementwise.cu — generated by moec from backends/cuda/cstyle/kernels.ts (the backend-neutral",
    "// descriptions shared with the other C-like targets) through the CUDA table: do not edit.",
    '#include "moec_runtime.h"',
    "",
    "// Blocks of 256 for n elements; the kernels loop over the rest.",
    "static inline unsigned moec_elementwise_blocks(long long n) {",
    "  const long long b = (n + 255) / 256;",
    "  return b < 1 ? 1u : b > 65535 * 16 ? 65535u * 16u : static_cast<unsigned>(b);",
    "}",
    "",
    ...CSTYLE_KERNELS.map((k) => printer.kernel(k) + "\n"),
  ].join("\n");
}
