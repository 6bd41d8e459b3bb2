import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  WeightFileError, dequantMxfp4, mxfp4Shape, openCheckpoint, openSafetensors,
} from "../../../runtime/weights/safetensors.js";
import { bf16ToF32, e4m3ToF32, e5m2ToF32, f16ToF32, toFloat32 } from "../../../runtime/weights/dtypes.js";

// ---- helpers ----------------------------------------------------------------

interface Spec { dtype: string; shape: number[]; bytes: Uint8Array }

/** A safetensors file from a raw header (object or literal JSON text) and data section. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), claimedLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A valid safetensors file holding `tensors`, laid out in order. */
function buildSafetensors(tensors: Record<string, Spec>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    chunks.push(t.bytes);
    off += t.bytes.length;
  }
  const data = new Uint8Array(off);
  chunks.reduce((o, c) => (data.set(c, o), o + c.length), 0);
  return rawFile(header, data);
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const u8 = (...xs: number[]) => new Uint8Array(xs);
const u16 = (...xs: number[]) => bytesOf(new Uint16Array(xs));

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-st-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function put(name: string, content: Uint8Array | string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

async function expectWeightError(p: Promise<unknown>, ...parts: string[]): Promise<WeightFileError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(WeightFileError);
  for (const part of parts) expect((e as Error).message).toContain(part);
  return e as WeightFileError;
}

async function readAll(file: string, name: string) {
  const f = await openSafetensors(file);
  try { return await f.readF32(name); } finally { await f.close(); }
}

// ---- dtype conversions ------------------------------------------------------

describe("dtype conversions", () => {
  it("f16 incl. subnormal and inf", async () => {
    const p = await put("f16.safetensors", buildSafetensors({
      x: { dtype: "F16", shape: [7], bytes: u16(0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x7e00) },
    }));
    const v = [...await readAll(p, "x")];
    expect(v.slice(0, 6)).toEqual([1, -2, 65504, 5.960464477539063e-8, Infinity, -Infinity]);
    expect(v[6]).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
  });

  it("bf16", async () => {
    const p = await put("bf16.safetensors", buildSafetensors({
      x: { dtype: "BF16", shape: [2, 2], bytes: u16(0x3f80, 0xc040, 0x7f80, 0x0001) },
    }));
    expect([...await readAll(p, "x")]).toEqual([1, -3, Infinity, 2 ** -133]);
    expect(bf16ToF32(0x3f80)).toBe(1);
  });

  it("f8 e4m3: no inf, 0x7f/0xff NaN, subnormals", async () => {
    const p = await put("e4m3.safetensors", buildSafetensors({
      x: { dtype: "F8_E4M3", shape: [7], bytes: u8(0x38, 0x7e, 0xb8, 0x01, 0x08, 0x7f, 0xff) },
    }));
    const v = [...await readAll(p, "x")];
    expect(v.slice(0, 5)).toEqual([1, 448, -1, 2 ** -9, 2 ** -6]);
    expect(v[5]).toBeNaN();
    expect(v[6]).toBeNaN();
    expect(e4m3ToF32(0x78)).toBe(256); // exponent 15 is finite in E4M3
  });

  it("f8 e5m2: inf/nan and subnormals", async () => {
    const p = await put("e5m2.safetensors", buildSafetensors({
      x: { dtype: "F8_E5M2", shape: [6], bytes: u8(0x3c, 0x7b, 0x7c, 0xfc, 0x01, 0x7d) },
    }));
    const v = [...await readAll(p, "x")];
    expect(v.slice(0, 5)).toEqual([1, 57344, Infinity, -Infinity, 2 ** -16]);
    expect(v[5]).toBeNaN();
    expect(e5m2ToF32(0xbc)).toBe(-1);
  });

  it("f32, f64, integers, bool, e8m0", async () => {
    const p = await put("misc.safetensors", buildSafetensors({
      f32: { dtype: "F32", shape: [3], bytes: bytesOf(new Float32Array([1.5, -0.25, 3e38])) },
      f64: { dtype: "F64", shape: [2], bytes: bytesOf(new Float64Array([0.5, -8])) },
      i8: { dtype: "I8", shape: [3], bytes: u8(0x80, 0x7f, 0xff) },
      u8: { dtype: "U8", shape: [2], bytes: u8(0, 255) },
      i16: { dtype: "I16", shape: [1], bytes: bytesOf(new Int16Array([-300])) },
      i32: { dtype: "I32", shape: [1], bytes: bytesOf(new Int32Array([-70000])) },
      i64: { dtype: "I64", shape: [2], bytes: bytesOf(new BigInt64Array([-5n, 1n << 40n])) },
      bool: { dtype: "BOOL", shape: [2], bytes: u8(1, 0) },
      e8m0: { dtype: "F8_E8M0", shape: [3], bytes: u8(127, 130, 0) },
    }, { format: "pt" }));
    const f = await openSafetensors(p);
    try {
      expect(f.metadata).toEqual({ format: "pt" });
      expect([...await f.readF32("f32")]).toEqual([1.5, -0.25, Math.fround(3e38)]);
      expect([...await f.readF32("f64")]).toEqual([0.5, -8]);
      expect([...await f.readF32("i8")]).toEqual([-128, 127, -1]);
      expect([...await f.readF32("u8")]).toEqual([0, 255]);
      expect([...await f.readF32("i16")]).toEqual([-300]);
      expect([...await f.readF32("i32")]).toEqual([-70000]);
      expect([...await f.readF32("i64")]).toEqual([-5, 2 ** 40]);
      expect([...await f.readF32("bool")]).toEqual([1, 0]);
      expect([...await f.readF32("e8m0")]).toEqual([1, 8, 2 ** -127]);
      const raw = await f.readTensor("i8");
      expect(raw.info).toMatchObject({ name: "i8", dtype: "I8", shape: [3], numel: 3, byteLength: 3 });
      expect([...raw.bytes]).toEqual([0x80, 0x7f, 0xff]);
    } finally {
      await f.close();
    }
  });

  it("converts misaligned input bytes", () => {
    const buf = new Uint8Array(9);
    buf.set(bytesOf(new Float32Array([2, -4])), 1);
    expect([...toFloat32("F32", buf.subarray(1), 2)]).toEqual([2, -4]);
  });
});

// ---- MXFP4 ------------------------------------------------------------------

describe("MXFP4", () => {
  it("dequantises low nibble first, times 2^(scale-127)", () => {
    // blocks [1, G=2, B=2]; row 0 scale 2^0, row 1 scale 2^2
    const blocks = u8(0x21, 0xf8, 0x70, 0x9a);
    const scales = u8(127, 129);
    const out = dequantMxfp4(blocks, scales, [1, 2, 2]);
    // 0x21 → 0.5, 1 | 0xf8 → -0, -6 | 0x70 → 0, 6*4 | 0x9a → -1*4, -0.5*4
    expect([...out]).toEqual([0.5, 1, -0, -6, 0, 24, -4, -2]);
    expect(mxfp4Shape([1, 2, 2])).toEqual([1, 8]);
    expect(() => dequantMxfp4(blocks, u8(127), [1, 2, 2])).toThrow(RangeError);
  });

  it("reads GPT-OSS style X_blocks/X_scales from a file", async () => {
    const blocks = new Uint8Array(2 * 3 * 16).fill(0x32); // low 2 → 1.0, high 3 → 1.5
    const scales = u8(126, 127, 128, 129, 130, 131);
    const p = await put("mxfp4.safetensors", buildSafetensors({
      "experts.down_proj_blocks": { dtype: "U8", shape: [2, 3, 1, 16], bytes: blocks },
      "experts.down_proj_scales": { dtype: "U8", shape: [2, 3, 1], bytes: scales },
      "experts.bad_blocks": { dtype: "U8", shape: [2, 16], bytes: new Uint8Array(32) },
      "experts.bad_scales": { dtype: "U8", shape: [3], bytes: u8(1, 2, 3) },
    }));
    const ck = await openCheckpoint(p);
    try {
      const { shape, data } = await ck.readMxfp4("experts.down_proj");
      expect(shape).toEqual([2, 3, 32]);
      for (let r = 0; r < 6; r++) {
        const s = 2 ** (r - 1);
        expect(data[r * 32]).toBe(1 * s);
        expect(data[r * 32 + 31]).toBe(1.5 * s);
      }
      await expectWeightError(ck.readMxfp4("experts.bad"), "mxfp4.safetensors", "experts.bad_scales");
      await expectWeightError(ck.readMxfp4("experts.missing"), "experts.missing_blocks");
    } finally {
      await ck.close();
    }
  });
});

// ---- malformed files --------------------------------------------------------

describe("malformed files", () => {
  const good = () => buildSafetensors({ a: { dtype: "F32", shape: [2, 2], bytes: new Uint8Array(16) } });

  it("file shorter than the length prefix", async () => {
    const p = await put("tiny.safetensors", u8(1, 2, 3));
    await expectWeightError(openSafetensors(p), "tiny.safetensors", "8-byte");
  });

  it("truncated data section", async () => {
    const p = await put("truncated.safetensors", good().subarray(0, good().length - 4));
    const e = await expectWeightError(openSafetensors(p), "truncated.safetensors", '"a"', "truncated");
    expect(e.tensor).toBe("a");
  });

  it("header length past end of file", async () => {
    const p = await put("pastend.safetensors", rawFile({}, new Uint8Array(10), 1000n));
    await expectWeightError(openSafetensors(p), "pastend.safetensors", "header claims 1000 bytes", "12 bytes after");
  });

  it("header claiming 4 GB fails fast without allocating", async () => {
    const data = new Uint8Array(1200 - 2);
    const p = await put("huge.safetensors", rawFile({}, data, 4294967296n));
    const t0 = performance.now();
    await expectWeightError(openSafetensors(p), "huge.safetensors: header claims 4294967296 bytes but the file has 1200 bytes");
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it("header over the 100 MB cap (sparse file)", async () => {
    const p = path.join(dir, "bigheader.safetensors");
    await writeFile(p, rawFile({}, new Uint8Array(0), 200_000_000n).subarray(0, 8));
    const fh = await open(p, "r+");
    await fh.truncate(200_000_100);
    await fh.close();
    const t0 = performance.now();
    await expectWeightError(openSafetensors(p), "bigheader.safetensors", "100000000-byte limit");
    expect(performance.now() - t0).toBeLessThan(500);
  });

  const cases: [string, unknown, Uint8Array, string[]][] = [
    ["offsets", { a: { dtype: "U8", shape: [4], data_offsets: [4, 8] } }, new Uint8Array(6), ['"a"', "past the end of the data section (6 bytes)"]],
    ["overlap", {
      a: { dtype: "U8", shape: [4], data_offsets: [0, 4] },
      b: { dtype: "U8", shape: [4], data_offsets: [2, 6] },
    }, new Uint8Array(8), ['"b"', "overlap", '"a"']],
    ["beginafterend", { a: { dtype: "U8", shape: [0], data_offsets: [4, 2] } }, new Uint8Array(8), ["begin after end"]],
    ["mismatch", { a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8), ['"a"', "needs 12 bytes", "span 8"]],
    ["packed", { a: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }, new Uint8Array(2), ["not divisible by 8"]],
    ["dtype", { a: { dtype: "F12", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1), ['"a"', 'unknown dtype "F12"']],
    ["shape", { a: { dtype: "U8", shape: [-1], data_offsets: [0, 1] } }, new Uint8Array(1), ["non-negative integers"]],
    ["shape2", { a: { dtype: "U8", shape: [1.5], data_offsets: [0, 1] } }, new Uint8Array(1), ["non-negative integers"]],
    ["shape past 2^53", { a: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, new Uint8Array(4), ['"a"', "more than 2^53 elements", "span 4"]],
    ["metadata", { __metadata__: { n: 1 } }, new Uint8Array(0), ["__metadata__"]],
    ["json", "{ not json", new Uint8Array(0), ["not valid UTF-8 JSON"]],
    ["array", "[1, 2]", new Uint8Array(0), ["not a JSON object"]],
  ];
  for (const [label, header, data, parts] of cases) {
    it(`rejects ${label}`, async () => {
      const p = await put(`bad-${label}.safetensors`, rawFile(header, data));
      await expectWeightError(openSafetensors(p), `bad-${label}.safetensors`, ...parts);
    });
  }

  it("accepts packed 4-bit tensors filling whole bytes, and empty tensors", async () => {
    const p = await put("f4.safetensors", rawFile({
      a: { dtype: "F4", shape: [2, 2], data_offsets: [0, 2] },
      z: { dtype: "F32", shape: [0, 5], data_offsets: [2, 2] },
    }, u8(0x12, 0x34)));
    const f = await openSafetensors(p);
    expect((await f.readTensor("a")).bytes).toEqual(u8(0x12, 0x34));
    expect((await f.readF32("z")).length).toBe(0);
    await expectWeightError(f.readF32("a"), "f4.safetensors", "cannot be converted");
    await f.close();
  });

  it("unknown tensor names and reads after close", async () => {
    const p = await put("closed.safetensors", good());
    const f = await openSafetensors(p);
    await expectWeightError(f.readTensor("nope"), "closed.safetensors", '"nope"', "no such tensor");
    await f.close();
    await f.close(); // idempotent
    await expectWeightError(f.readTensor("a"), "closed.safetensors", "closed");
  });

  it("missing file", async () => {
    await expectWeightError(openSafetensors(path.join(dir, "absent.safetensors")), "absent.safetensors", "cannot open");
    await expectWeightError(openCheckpoint(path.join(dir, "absent-dir")), "absent-dir");
  });
});

// ---- checkpoints ------------------------------------------------------------

describe("checkpoints", () => {
  const f32 = (...xs: number[]) => bytesOf(new Float32Array(xs));

  async function shardedDir(name: string, index: unknown, shards: Record<string, Uint8Array>) {
    const d = path.join(dir, name);
    await rm(d, { recursive: true, force: true });
    await import("node:fs/promises").then((m) => m.mkdir(d));
    await writeFile(path.join(d, "model.safetensors.index.json"), typeof index === "string" ? index : JSON.stringify(index));
    for (const [f, b] of Object.entries(shards)) await writeFile(path.join(d, f), b);
    return d;
  }
  const s1 = buildSafetensors({ "w.a": { dtype: "F32", shape: [2], bytes: f32(1, 2) } });
  const s2 = buildSafetensors({
    "w.b": { dtype: "F16", shape: [1, 2], bytes: u16(0x3c00, 0xc000) },
    "w.c": { dtype: "U8", shape: [1], bytes: u8(7) },
  });
  const weightMap = { "w.a": "model-00001-of-00002.safetensors", "w.b": "model-00002-of-00002.safetensors", "w.c": "model-00002-of-00002.safetensors" };

  it("reads a sharded checkpoint across two shards", async () => {
    const d = await shardedDir("sharded", { metadata: { total_size: 13 }, weight_map: weightMap }, {
      "model-00001-of-00002.safetensors": s1, "model-00002-of-00002.safetensors": s2,
    });
    const ck = await openCheckpoint(d);
    try {
      expect(ck.names().sort()).toEqual(["w.a", "w.b", "w.c"]);
      expect(ck.shards).toHaveLength(2);
      expect(ck.info("w.b")).toMatchObject({ dtype: "F16", shape: [1, 2] });
      expect(path.basename(ck.info("w.a").file)).toBe("model-00001-of-00002.safetensors");
      expect([...await ck.readF32("w.a")]).toEqual([1, 2]);
      expect([...await ck.readF32("w.b")]).toEqual([1, -2]);
      expect([...(await ck.readTensor("w.c")).bytes]).toEqual([7]);
      await expectWeightError(ck.readF32("w.z"), "sharded", '"w.z"');
    } finally {
      await ck.close();
    }
  });

  it("shard named in the index but missing", async () => {
    const d = await shardedDir("missingshard", { weight_map: weightMap }, { "model-00001-of-00002.safetensors": s1 });
    await expectWeightError(openCheckpoint(d), "model.safetensors.index.json", "model-00002-of-00002.safetensors", "does not exist");
  });

  it("shard lacking a tensor the index places in it", async () => {
    const d = await shardedDir("wrongshard", { weight_map: { ...weightMap, "w.d": "model-00001-of-00002.safetensors" } }, {
      "model-00001-of-00002.safetensors": s1, "model-00002-of-00002.safetensors": s2,
    });
    await expectWeightError(openCheckpoint(d), "model-00001-of-00002.safetensors", '"w.d"', "does not contain");
  });

  it("bad index files", async () => {
    const d1 = await shardedDir("badindex", "{ nope", {});
    await expectWeightError(openCheckpoint(d1), "model.safetensors.index.json", "JSON");
    const d2 = await shardedDir("nomap", { metadata: {} }, {});
    await expectWeightError(openCheckpoint(d2), "model.safetensors.index.json", "weight_map");
    const d3 = await shardedDir("escape", { weight_map: { x: "../elsewhere.safetensors" } }, {});
    await expectWeightError(openCheckpoint(d3), "outside the checkpoint directory");
  });

  it("directory with model.safetensors, and a directory with neither", async () => {
    const d = path.join(dir, "single");
    await import("node:fs/promises").then((m) => m.mkdir(d, { recursive: true }));
    await writeFile(path.join(d, "model.safetensors"), s1);
    const ck = await openCheckpoint(d);
    expect([...await ck.readF32("w.a")]).toEqual([1, 2]);
    await ck.close();
    const empty = path.join(dir, "emptydir");
    await import("node:fs/promises").then((m) => m.mkdir(empty, { recursive: true }));
    await expectWeightError(openCheckpoint(empty), "emptydir", "model.safetensors.index.json");
  });
});

// ---- real fixture -----------------------------------------------------------

const fixture = path.resolve(import.meta.dirname, "../../fixtures/hf/mixtral/model.safetensors");
describe.skipIf(!existsSync(fixture))("tiny Mixtral fixture", () => {
  it("lists and reads its tensors", async () => {
    const ck = await openCheckpoint(path.dirname(fixture));
    try {
      const names = ck.names();
      expect(names).toHaveLength(65); // 2 x (8 experts x 3 + gate + 2 norms + 4 attn) + embed + norm + lm_head
      expect(ck.info("model.embed_tokens.weight")).toMatchObject({ dtype: "F32", shape: [256, 64] });
      expect(names.reduce((n, t) => n + ck.info(t).numel, 0)).toBe(353600); // meta.json "params"
      const emb = await ck.readF32("model.embed_tokens.weight");
      expect(emb.length).toBe(256 * 64);
      expect(emb.every(Number.isFinite)).toBe(true);
      expect(ck.shards[0]!.metadata).toEqual({ format: "pt" });
    } finally {
      await ck.close();
    }
  });
});
