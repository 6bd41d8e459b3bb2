// The C-style dequantisers (backends/cstyle/kernels/dequant.ts: the dq_* functions WGSL's
// quantized matmul and gather print, and any C-like target after it) printed through a plain C
// table (C99, here, written for this test), compiled with the system's C compiler
// (-ffp-contract=off: no fused multiply-adds, as `keep` asks), and run on every storage format's
// rows: each element must equal runtime/weights/decode.ts's bit for bit. No GPU is needed, so
// this checks the arithmetic WebGPU runs (WebGPU's own run is test/conformance/quant-kernels on a
// machine with an adapter). Weights are random (fresh seed) and quantized by compiler/quant.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { block, type Dialect } from "../../backends/cstyle/dialect.js";
import { HALF } from "../../backends/cstyle/math.js";
import { dequantFn } from "../../backends/cstyle/kernels/dequant.js";
import { FORMATS, STORAGE_FORMATS, rowBytes, weightBytes } from "../../runtime/plan/formats.js";
import { decodeWeight } from "../../runtime/weights/decode.js";
import { encodeWeight } from "../../compiler/quant/encode.js";
import { which } from "../helpers/cuda-build.js";
import { namedRandom, runSeed } from "../helpers/seed.js";

const SEED = runSeed("C-style dequantisers in C");
const T: Record<string, string> = { f32: "float", i32: "int32_t", u32: "uint32_t", bool: "int" };

/** Enough of the C-style table for the dequantisers: byte pointers are `const uint8_t *P_p`. */
const C: Dialect = {
  lang: "c",
  type: (t) => T[t]!,
  f: (v) => (Number.isInteger(v) ? `${v}.0f` : `${Math.fround(v)}f`),
  i: (v) => `((int32_t)${v})`,
  u: (v) => `${v >>> 0}u`,
  cast: (t, e) => `((${T[t]})(${e}))`,
  bits: (t, e) => `bits_${t}((uint32_t)(${e}))`,
  select: (c, a, b) => `((${c}) ? (${a}) : (${b}))`,
  math: (fn, ...a) => `${fn}f(${a.join(", ")})`,
  let: (n, t, e) => `const ${T[t]} ${n} = ${e};`,
  var: (n, t, e) => `${T[t]} ${n} = ${e};`,
  array: (n, t, len) => `${T[t]} ${n}[${len}];`,
  for: (i, from, to, body, step = "1") => [`for (int32_t ${i} = ${from}; ${i} < ${to}; ${i} += ${step}) {`, ...block(body), "}"],
  if: (c, then, otherwise) => (otherwise && otherwise.length ? [`if (${c}) {`, ...block(then), "} else {", ...block(otherwise), "}"] : [`if (${c}) {`, ...block(then), "}"]),
  ld: () => { throw new Error("not used"); },
  st: () => { throw new Error("not used"); },
  ldi: () => { throw new Error("not used"); },
  sti: () => { throw new Error("not used"); },
  ldb: (p, i) => `((uint32_t)P_${p}[${i}])`,
  ldw: (p, i) => `ldw(P_${p}, ${i})`,
  ldexp: (x, e) => `ldexpf(${x}, ${e})`,
  arg: (n) => n,
  group: "0",
  tid: "0",
  barrier: () => "",
  shared: () => "",
  keep: (e) => `keep(${e})`,
  fn: (name, params, ret, body) => [`static ${ret ? T[ret] : "void"} ${name}(${params.map(([n, t]) => `${T[t]} ${n}`).join(", ")}) {`, ...block(body), "}"].join("\n"),
};

const PRELUDE = `#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_u32(uint32_t u) { return u; }
static int32_t bits_i32(uint32_t u) { return (int32_t)u; }
static volatile float one = 1.0f;
static float keep(float x) { return x * one; }
static const uint8_t *P_src;
static uint32_t ldw(const uint8_t *p, uint32_t i) { return (uint32_t)p[i] | ((uint32_t)p[i + 1] << 8) | ((uint32_t)p[i + 2] << 16) | ((uint32_t)p[i + 3] << 24); }
`;

describe.skipIf(!which("gcc"))("the C-style dequantisers, printed as C", () => {
  it("equal decode.ts bit for bit on every storage format", () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-dq-"));
    const r = namedRandom(SEED, "weights");
    const randn = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const cases = STORAGE_FORMATS.map((f, i) => {
      const b = FORMATS[f].block;
      const K = b === 1 ? 37 : b >= 128 ? 2 * b : 3 * b;
      const rows = 5;
      const x = Float32Array.from({ length: rows * K }, () => randn() * 0.3);
      const bytes = encodeWeight(f, x, [rows, K]);
      // padding so an unaligned 4-byte read at the last byte stays inside the buffer
      const padded = new Uint8Array(bytes.length + 4);
      padded.set(bytes);
      writeFileSync(join(dir, `${i}.bin`), padded);
      return { f, i, K, rows, bytes };
    });
    const fns = cases.map(({ f, i }) => dequantFn(C, f, "src").replace("dq_src(", `dq_${i}(`));
    const dispatch = cases.map(({ i }) => `    case ${i}: return dq_${i}(rb, k, sc);`).join("\n");
    const main = `
static float dq(int f, uint32_t rb, uint32_t k, float sc) {
  switch (f) {
${dispatch}
  }
  abort();
}
int main(int argc, char **argv) {
  /* argv: format code, K, rows, row bytes, channel (1: f32 row scales after the rows), in, out */
  const int f = atoi(argv[1]), K = atoi(argv[2]), rows = atoi(argv[3]), rb = atoi(argv[4]), channel = atoi(argv[5]);
  FILE *in = fopen(argv[6], "rb");
  static uint8_t buf[1 << 20];
  const size_t n = fread(buf, 1, sizeof buf, in);
  fclose(in);
  (void)n;
  P_src = buf;
  FILE *out = fopen(argv[7], "wb");
  for (int r = 0; r < rows; r++) {
    float sc = 1.0f;
    if (channel) memcpy(&sc, buf + (size_t)rows * rb + 4 * r, 4);
    for (int k = 0; k < K; k++) {
      const float v = dq(f, (uint32_t)(r * rb), (uint32_t)k, sc);
      fwrite(&v, 4, 1, out);
    }
  }
  fclose(out);
  return 0;
}
`;
    const src = [PRELUDE, HALF.print(C), ...fns, main].join("\n");
    writeFileSync(join(dir, "dq.c"), src);
    execFileSync("gcc", ["-std=c99", "-O2", "-ffp-contract=off", "-o", join(dir, "dq"), join(dir, "dq.c"), "-lm"], { stdio: "pipe" });
    const lines: string[] = [];
    for (const { f, i, K, rows, bytes } of cases) {
      const channel = FORMATS[f].kind === "channel";
      execFileSync(join(dir, "dq"), [String(i), String(K), String(rows), String(rowBytes(f, K)), channel ? "1" : "0", join(dir, `${i}.bin`), join(dir, `${i}.out`)]);
      const got = new Float32Array(Uint8Array.from(readFileSync(join(dir, `${i}.out`))).buffer);
      const want = decodeWeight(f, bytes, [rows, K]);
      expect(bytes.length).toBe(weightBytes(f, [rows, K]));
      expect(got.length, f).toBe(want.length);
      let diff = 0;
      for (let j = 0; j < want.length; j++) if (!Object.is(got[j], want[j])) diff++;
      lines.push(`${f}: ${diff} of ${want.length} differ`);
      expect(diff, `${f} (seed ${SEED})`).toBe(0);
    }
    console.log(lines.join("\n"));
  });
});
