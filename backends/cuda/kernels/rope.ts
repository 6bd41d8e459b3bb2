// The CUDA backend's rotary embedding: the catalogue's `rope` rotation, but with the cos/sin
// tables computed in the kernel from each row's position and its segment's inverse frequencies
// (table[seg][0 … rope_dim/2), then the attention factor), because a captured decode graph
// replays with positions that live on the GPU. Rounded as runtime/math/rope.ts's ropeCosSin:
// angle = f32(pos·inv), cos = f32(f32(cos(angle))·factor), cos and sin taken in f64.
import type { Param } from "../../../runtime/kernels/catalogue.js";
import { spanned, type Program } from "../../cstyle/dialect.js";
import type { CudaProgram } from "../programs.js";

const W = 256;

const params: readonly Param[] = [
  ["x", "f32 inout"], ["rows", "i32"], ["heads", "i32"], ["head_stride", "i32"], ["rope_dim", "i32"], ["interleaved", "bool"],
  ["pos", "i32 in"], ["seg", "i32 in"], ["table", "f32 in"], ["table_stride", "i32"],
];

const program: Program = {
  name: "rope_positions",
  kernel: "rope",
  threads: W,
  writes: ["x"],
  // one thread per rotated pair: rows·heads·rope_dim/2 = ⌈rows·heads·rope_dim / 2W⌉ blocks of W
  ...spanned(["rows", "heads", "rope_dim"], 2 * W),
  body: (c) => {
    const f64 = (fn: string, v: string) => c.cast("f32", `${fn}((double)(${v}))`);
    return [
      c.let("half", "i32", `${c.arg("rope_dim")} / 2`),
      c.let("i", "i32", `${c.group} * ${W} + ${c.tid}`),
      ...c.if(`i >= ${c.arg("rows")} * ${c.arg("heads")} * half`, ["return;"]),
      c.let("rh", "i32", "i / half"),
      c.let("j", "i32", "i - rh * half"),
      c.let("r", "i32", `rh / ${c.arg("heads")}`),
      c.let("base", "i32", `rh * ${c.arg("head_stride")}`),
      c.let("t", "i32", `${c.ldi("seg", "r")} * ${c.arg("table_stride")}`),
      c.let("angle", "f32", c.keep(`${c.cast("f32", c.ldi("pos", "r"))} * ${c.ld("table", "t + j")}`)),
      c.let("factor", "f32", c.ld("table", "t + half")),
      c.let("co", "f32", c.keep(`${f64("cos", "angle")} * factor`)),
      c.let("si", "f32", c.keep(`${f64("sin", "angle")} * factor`)),
      c.let("inter", "bool", `${c.arg("interleaved")} != 0`),
      c.let("i0", "i32", `base + ${c.select("inter", "2 * j", "j")}`),
      c.let("i1", "i32", `base + ${c.select("inter", "2 * j + 1", "j + half")}`),
      c.let("a", "f32", c.ld("x", "i0")),
      c.let("b", "f32", c.ld("x", "i1")),
      c.st("x", "i0", `${c.keep("a * co")} - ${c.keep("b * si")}`),
      c.st("x", "i1", `${c.keep("b * co")} + ${c.keep("a * si")}`),
    ];
  },
};

export const ropePositions: CudaProgram = { program, params };
