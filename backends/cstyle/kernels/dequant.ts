// Dequantisation of every storage format (runtime/plan/formats.ts), written once for every
// C-style target: `dequantFn(c, format, p)` prints `dq_P(rb, k, sc) -> f32`, element k of the
// row whose bytes start at byte rb of byte pointer P (sc: the row's scale for channel formats,
// else unused). Each value is computed in the float32 steps of runtime/weights/decode.ts (for
// the GGUF formats, ggml's reference dequantisers), so a gather of quantized rows equals the
// TypeScript decoder bit for bit; `keep` stops a product from fusing into the add after it.
// Blocks are read a byte (or an unaligned word) at a time: GGUF blocks are 17, 34 or 210 bytes,
// so rows and blocks sit at any byte.
import { FORMATS, type StorageFormat } from "../../../runtime/plan/formats.js";
import { HALF } from "../math.js";
import { blocks, type Dialect, type Helper, type Program } from "../dialect.js";

/** Helpers the dequantisers call. */
export const DEQUANT_HELPERS: readonly Helper[] = [HALF];

/** Bytes of a row of K elements (K whole blocks), as a u32 expression. */
export function rowBytesExpr(c: Dialect, format: StorageFormat, K: string): string {
  const f = FORMATS[format];
  return f.block === 1 ? `${c.cast("u32", K)} * ${c.u(f.blockBytes)}` : `(${c.cast("u32", K)} / ${c.u(f.block)}) * ${c.u(f.blockBytes)}`;
}

export function dequantFn(c: Dialect, format: StorageFormat, p: string): string {
  const u = c.u;
  const b = (i: string) => c.ldb(p, i);
  const w = (i: string) => c.ldw(p, i);
  const half = (i: string) => `m_half(${w(i)} & ${u(0xffff)})`;
  const signed8 = (e: string) => `(${c.bits("i32", `${e} << ${u(24)}`)} >> ${u(24)})`;
  const f = FORMATS[format];
  // block formats: o = the block's first byte, j = the element's index in it
  const block = [c.let("o", "u32", `rb + (k / ${u(f.block)}) * ${u(f.blockBytes)}`), c.let("j", "u32", `k % ${u(f.block)}`)];
  /** The 4-bit value of element j of 2·n packed as "element 2i low nibble, 2i + 1 high" (formats.ts's int4). */
  const pairNibble = (at: string) => [c.let("qb", "u32", b(`${at} + (j >> ${u(1)})`)), c.let("nib", "u32", `(qb >> ((j & ${u(1)}) * ${u(4)})) & ${u(15)}`)];
  /** ggml's 4-bit order: of 2·n values, the first n in the low nibbles of n bytes, the rest in the high ones. */
  const splitNibble = (at: string, n: number) => [c.let("qb", "u32", b(`${at} + (j % ${u(n)})`)), c.let("nib", "u32", `(qb >> ((j / ${u(n)}) * ${u(4)})) & ${u(15)}`)];
  const fnib = c.cast("f32", "nib");
  let body: string[];
  switch (format) {
    case "f32":
      body = [`return ${c.bits("f32", w(`rb + k * ${u(4)}`))};`];
      break;
    case "f16":
      body = [`return ${half(`rb + k * ${u(2)}`)};`];
      break;
    case "bf16":
      body = [`return ${c.bits("f32", `${w(`rb + k * ${u(2)}`)} << ${u(16)}`)};`];
      break;
    case "int8":
      body = [`return ${c.cast("f32", signed8(b("rb + k")))} * sc;`];
      break;
    case "int4_g32": case "int4_g64": case "int4_g128":
      body = [...block, c.let("d", "f32", half("o")), ...pairNibble(`o + ${u(2)}`), `return ${c.cast("f32", `${c.cast("i32", "nib")} - ${c.i(8)}`)} * d;`];
      break;
    case "int4a_g32": case "int4a_g64": case "int4a_g128":
      body = [...block, c.let("d", "f32", half("o")), c.let("mn", "f32", half(`o + ${u(2)}`)), ...pairNibble(`o + ${u(4)}`), `return ${c.keep(`${fnib} * d`)} + mn;`];
      break;
    case "q8_0":
      body = [...block, c.let("d", "f32", half("o")), `return ${c.cast("f32", signed8(b(`o + ${u(2)} + j`)))} * d;`];
      break;
    case "q4_0":
      body = [...block, c.let("d", "f32", half("o")), ...splitNibble(`o + ${u(2)}`, 16), `return ${c.cast("f32", `${c.cast("i32", "nib")} - ${c.i(8)}`)} * d;`];
      break;
    case "q4_k": case "q5_k": {
      // 8 sub-blocks of 32; sub-blocks 2p and 2p + 1 share 32 bytes of nibbles (low, high)
      const qs = format === "q4_k" ? 16 : 48;
      body = [
        ...block,
        c.let("sub", "u32", `j / ${u(32)}`),
        c.let("l", "u32", `j % ${u(32)}`),
        ...scaleMinK4(c, p, `o + ${u(4)}`),
        c.let("d1", "f32", `${half("o")} * ${c.cast("f32", "s6")}`),
        c.let("m1", "f32", `${half(`o + ${u(2)}`)} * ${c.cast("f32", "m6")}`),
        c.let("qb", "u32", b(`o + ${u(qs)} + (sub / ${u(2)}) * ${u(32)} + l`)),
        c.var("q", "u32", `(qb >> ((sub & ${u(1)}) * ${u(4)})) & ${u(15)}`),
        ...(format === "q5_k" ? [`q = q + ((${b(`o + ${u(16)} + l`)} >> sub) & ${u(1)}) * ${u(16)};`] : []),
        `return ${c.keep(`d1 * ${c.cast("f32", "q")}`)} - m1;`,
      ];
      break;
    }
    case "q6_k":
      // two halves of 128: ql[64], qh[32], scales[8] each; quarter r of a half: low/high nibbles of ql[l] or ql[l + 32], 2 bits of qh[l]
      body = [
        c.let("o", "u32", `rb + (k / ${u(256)}) * ${u(210)}`),
        c.let("j", "u32", `k % ${u(256)}`),
        c.let("hf", "u32", `j / ${u(128)}`),
        c.let("r", "u32", `(j % ${u(128)}) / ${u(32)}`),
        c.let("l", "u32", `j % ${u(32)}`),
        c.let("lo", "u32", `(${b(`o + ${u(64)} * hf + l + ${u(32)} * (r & ${u(1)})`)} >> ((r / ${u(2)}) * ${u(4)})) & ${u(15)}`),
        c.let("hi", "u32", `(${b(`o + ${u(128)} + ${u(32)} * hf + l`)} >> (${u(2)} * r)) & ${u(3)}`),
        c.let("q", "i32", `${c.cast("i32", `lo | (hi << ${u(4)})`)} - ${c.i(32)}`),
        c.let("s", "i32", signed8(b(`o + ${u(192)} + ${u(8)} * hf + l / ${u(16)} + ${u(2)} * r`))),
        `return (${half(`o + ${u(208)}`)} * ${c.cast("f32", "s")}) * ${c.cast("f32", "q")};`,
      ];
      break;
    case "q3_k": case "q2_k": {
      // Both: 16 sub-blocks of 16 (scale index sb = j / 16); 2-bit codes in qs[64] (at byte 32 for
      // Q3_K, 16 for Q2_K): element j = 128n + 32r + t sits in bits 2r of qs[32n + t].
      const Q3 = format === "q3_k";
      const common = [
        c.let("o", "u32", `rb + (k / ${u(256)}) * ${u(f.blockBytes)}`),
        c.let("j", "u32", `k % ${u(256)}`),
        c.let("t", "u32", `j % ${u(32)}`),
        c.let("sb", "u32", `j / ${u(16)}`),
        c.let("q", "u32", `(${b(`o + ${u(Q3 ? 32 : 16)} + (j / ${u(128)}) * ${u(32)} + t`)} >> (((j % ${u(128)}) / ${u(32)}) * ${u(2)})) & ${u(3)}`),
      ];
      body = Q3
        ? [
            // hmask[32] first: bit j / 32 of byte t is the code's third bit (clear: minus 4);
            // scale sb (6 bits, offset 32): a nibble of byte sb % 8 (high for sb ≥ 8), two bits of byte 8 + sb % 4
            ...common,
            c.let("hb", "u32", `(${b("o + t")} >> (j / ${u(32)})) & ${u(1)}`),
            c.let("low", "u32", `(${b(`o + ${u(96)} + sb % ${u(8)}`)} >> ((sb / ${u(8)}) * ${u(4)})) & ${u(15)}`),
            c.let("top", "u32", `(${b(`o + ${u(104)} + sb % ${u(4)}`)} >> ((sb / ${u(4)}) * ${u(2)})) & ${u(3)}`),
            c.let("s", "i32", `${c.cast("i32", `low | (top << ${u(4)})`)} - ${c.i(32)}`),
            c.let("v", "i32", `${c.cast("i32", "q")} - ${c.i(4)} + ${c.cast("i32", "hb")} * ${c.i(4)}`),
            `return (${half(`o + ${u(108)}`)} * ${c.cast("f32", "s")}) * ${c.cast("f32", "v")};`,
          ]
        : [
            // scales[16]: low nibble the scale, high nibble the min, of each 16; d, dmin at 80, 82
            ...common,
            c.let("sm", "u32", b("o + sb")),
            c.let("dl", "f32", `${half(`o + ${u(80)}`)} * ${c.cast("f32", `sm & ${u(15)}`)}`),
            c.let("ml", "f32", `${half(`o + ${u(82)}`)} * ${c.cast("f32", `sm >> ${u(4)}`)}`),
            `return ${c.keep(`dl * ${c.cast("f32", "q")}`)} - ml;`,
          ];
      break;
    }
    case "mxfp4":
      // e2m1 magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 doubled (ggml's kvalues_mxfp4), scale 2^(e − 128)
      body = [
        ...block,
        ...splitNibble(`o + ${u(1)}`, 16),
        c.let("mag", "u32", `nib & ${u(7)}`),
        c.let("v", "f32", c.select(`mag < ${u(4)}`, c.cast("f32", "mag"), c.select(`mag == ${u(7)}`, c.f(12), c.cast("f32", `(mag - ${u(2)}) * ${u(2)}`)))),
        c.let("sv", "f32", c.select(`nib >= ${u(8)}`, "-v", "v")),
        `return ${c.ldexp("sv", `${c.cast("i32", b("o"))} - ${c.i(128)}`)};`,
      ];
      break;
    case "fp8_e4m3":
      body = [
        ...block,
        c.let("d", "f32", c.bits("f32", w("o"))),
        c.let("q", "u32", b(`o + ${u(4)} + j`)),
        c.let("e", "u32", `(q >> ${u(3)}) & ${u(15)}`),
        c.let("m", "u32", `q & ${u(7)}`),
        c.let("sign", "u32", `(q & ${u(0x80)}) << ${u(24)}`),
        c.var("v", "f32", c.bits("f32", `sign | ((e + ${u(120)}) << ${u(23)}) | (m << ${u(20)})`)),
        ...c.if(`e == ${u(0)}`, [`v = ${c.ldexp(c.cast("f32", "m"), c.i(-9))};`, ...c.if(`sign != ${u(0)}`, ["v = -v;"])]),
        ...c.if(`(q & ${u(0x7f)}) == ${u(0x7f)}`, [`v = ${c.bits("f32", u(0x7fc00000))};`]),
        "return v * d;",
      ];
      break;
    default: {
      const never: never = format;
      throw new Error(`no dequantiser for ${String(never)}`);
    }
  }
  return c.fn(`dq_${p}`, [["rb", "u32"], ["k", "u32"], ["sc", "f32"]], "f32", body);
}

/** ggml's get_scale_min_k4: the 6-bit scale s6 and min m6 of sub-block `sub` from the 12 bytes at `at`. */
function scaleMinK4(c: Dialect, p: string, at: string): string[] {
  const u = c.u;
  const b = (i: string) => c.ldb(p, i);
  return [
    c.var("s6", "u32", u(0)),
    c.var("m6", "u32", u(0)),
    ...c.if(
      `sub < ${u(4)}`,
      [`s6 = ${b(`${at} + sub`)} & ${u(63)};`, `m6 = ${b(`${at} + sub + ${u(4)}`)} & ${u(63)};`],
      [
        `s6 = (${b(`${at} + sub + ${u(4)}`)} & ${u(15)}) | ((${b(`${at} + sub - ${u(4)}`)} >> ${u(6)}) << ${u(4)});`,
        `m6 = (${b(`${at} + sub + ${u(4)}`)} >> ${u(4)}) | ((${b(`${at} + sub`)} >> ${u(6)}) << ${u(4)});`,
      ],
    ),
  ];
}

/**
 * `gather_rows_q` for one format: one thread per output element, `dst[i, j] =
 * dequant(src)[idx[i], j]` (a channel format's row scale read from `scales`, at any byte).
 */
export function gatherRowsQ(format: StorageFormat): Program {
  const channel = FORMATS[format].kind === "channel";
  return {
    name: `gather_rows_q.${format}`,
    kernel: "gather_rows_q",
    threads: 256,
    writes: ["dst"],
    helpers: DEQUANT_HELPERS,
    shared: (c) => [dequantFn(c, format, "src")],
    grid: (a) => blocks(a("count") * a("d"), 256),
    body: (c) => [
      c.let("i", "i32", `${c.group} * 256 + ${c.tid}`),
      c.let("d", "i32", c.arg("d")),
      ...c.if(`i >= ${c.arg("count")} * d`, ["return;"]),
      c.let("r", "i32", "i / d"),
      c.let("row", "u32", c.cast("u32", c.ldi("idx", "r"))),
      c.let("sc", "f32", channel ? c.bits("f32", c.ldw("scales", `row * ${c.u(4)}`)) : c.f(1)),
      c.st("dst", "i", `dq_src(row * ${rowBytesExpr(c, format, "d")}, ${c.cast("u32", "i - r * d")}, sc)`),
    ],
  };
}
