// The streamed weight pack (runtime/weights/stream.ts): bytes arriving in chunks of any size
// land in place; damaged, truncated or reordered packs get an error naming the tensor.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../runtime/sampling.js";
import { streamWeights, WeightStreamError } from "../../../runtime/weights/stream.js";

/** A safetensors file with the given F32 tensors in order (optionally a gap before each). */
function pack(tensors: readonly { name: string; data: Float32Array }[], gap = 0): Uint8Array {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) {
    at += gap;
    header[t.name] = { dtype: "F32", shape: [t.data.length], data_offsets: [at, at + 4 * t.data.length] };
    at += 4 * t.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors) {
    p += gap;
    out.set(new Uint8Array(t.data.buffer), p);
    p += 4 * t.data.length;
  }
  return out;
}

/** A Response whose body arrives in random-sized chunks. */
function response(bytes: Uint8Array, rand: () => number, contentLength = true): Response {
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = 1 + Math.floor(rand() * (rand() < 0.5 ? 7 : 3000));
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
  return new Response(body, { headers: contentLength ? { "content-length": String(bytes.length) } : {} });
}

const tensors = [
  { name: "a", data: Float32Array.from({ length: 5 }, (_, i) => i + 0.5) },
  { name: "b", data: Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i)) },
  { name: "c", data: Float32Array.from({ length: 3 }, (_, i) => -i) },
];
const f32 = (name: string, n: number) => ({ name, tensors: [[name, "F32", [n], 4 * n] as const] });
const expected = tensors.map((t) => f32(t.name, t.data.length));
const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

describe("streamed weight pack", () => {
  for (const [gap, cl] of [
    [0, true],
    [12, true],
    [0, false],
  ] as const) {
    it(`any chunking lands every tensor in place (gap ${gap}, content-length ${cl})`, async () => {
      const rand = seededRandom(gap * 7 + (cl ? 1 : 2));
      for (let trial = 0; trial < 20; trial++) {
        const w = await streamWeights("pack", response(pack(tensors, gap), rand, cl), expected);
        // Read into a shared buffer at unaligned-to-the-stream offsets, as the model's memory is.
        const heap = new Float32Array(2000).fill(NaN);
        const into = [heap.subarray(3, 8), heap.subarray(100, 1100), heap.subarray(1500, 1503)];
        for (let i = 0; i < tensors.length; i++) await w.read(tensors[i]!.name, bytesOf(into[i]!));
        await w.close();
        into.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(tensors[i]!.data)));
        expect(Number.isNaN(heap[8])).toBe(true);
      }
    });
  }

  it("a weight held in two tensors (int8 rows, then their scales) streams as one run of bytes", async () => {
    const pair = [tensors[0]!, { name: "a_scale", data: Float32Array.from([2, 3]) }, tensors[2]!];
    const w = await streamWeights("pack", response(pack(pair), seededRandom(5)), [{ name: "a", tensors: [["a", "F32", [5], 20], ["a_scale", "F32", [2], 8]] }, f32("c", 3)]);
    const into = new Uint8Array(28);
    await w.read("a", into);
    expect(Array.from(new Float32Array(into.buffer))).toEqual([...tensors[0]!.data, 2, 3]);
    await expect(streamWeights("pack", response(pack([tensors[0]!, tensors[2]!, pair[1]!]), seededRandom(6)), [{ name: "a", tensors: [["a", "F32", [5], 20], ["a_scale", "F32", [2], 8]] }])).rejects.toThrow(/tensor a_scale does not follow a/);
  });

  it("a truncated pack names the tensor it ended in", async () => {
    const bytes = pack(tensors);
    const w = await streamWeights("pack", response(bytes.slice(0, bytes.length - 30), seededRandom(3), false), expected);
    await w.read("a", new Uint8Array(20));
    await expect(w.read("b", new Uint8Array(4000))).rejects.toThrow(/pack: the file ended at byte \d+, inside tensor b; .*recompile it/);
  });

  it("a content-length shorter than the header says is caught before reading", async () => {
    const bytes = pack(tensors);
    const r = new Response(bytes.slice(0, bytes.length - 4), { headers: { "content-length": String(bytes.length - 4) } });
    await expect(streamWeights("pack", r, expected)).rejects.toThrow(/tensor c ends at byte \d+, past the file's \d+ bytes/);
  });

  it("missing tensors, wrong sizes, a bad header and out-of-order reads are refused", async () => {
    const rand = seededRandom(9);
    await expect(streamWeights("pack", response(pack(tensors.slice(0, 2)), rand), expected)).rejects.toThrow(/it has no tensor c/);
    await expect(streamWeights("pack", response(pack(tensors), rand), [f32("a", 6)])).rejects.toThrow(/tensor a is not F32 \[6\]/);
    const junk = new Uint8Array(20);
    new DataView(junk.buffer).setBigUint64(0, 4n, true);
    junk.set(new TextEncoder().encode("{{{{"), 8);
    await expect(streamWeights("pack", response(junk, rand), expected)).rejects.toThrow(/the header is not JSON/);
    await expect(streamWeights("pack", response(new Uint8Array(5), rand), expected)).rejects.toThrow(WeightStreamError);
    const w = await streamWeights("pack", response(pack(tensors), rand), expected);
    await w.read("b", new Uint8Array(4000));
    await expect(w.read("a", new Uint8Array(20))).rejects.toThrow(/tensor a comes before data already read \(the pack is not in plan order\)/);
  });
});
