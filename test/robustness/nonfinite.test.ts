// Class 1, silent garbage: NaN and ±Infinity in weights (any tensor, any element, any of the
// three values) must never come out as tokens. At load, the weight check names the file, the
// tensor and the element; the runtime stops with a NonFiniteError as soon as a logit is not
// finite; the reference interpreter names the layer where the first non-finite value appears.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadGraph } from "../../compiler/run/load.js";
import { lowerGraph } from "../../compiler/lower/lower.js";
import { ReferenceSession } from "../../compiler/reference/interpreter.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { expectedTensors } from "../../compiler/weights/expected.js";
import { randomWeights } from "../../compiler/weights/random.js";
import { firstNonFinite, NonFiniteError } from "../../runtime/finite.js";
import { Model } from "../../runtime/model.js";
import { WeightFileError, type TensorInfo, type WeightSource } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { convertHfFixture } from "../helpers/gguf-writer.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 1, non-finite weights and logits");
const loaded = await loadGraph(fixture("moe", "tiny-mixtral.moe"));
if (!("hfDir" in loaded)) throw new Error("tiny-mixtral.moe does not check");
const graph = loaded.graph;
const clean = randomWeights(graph, 7);
const names = [...expectedTensors(graph).keys()];
const plan = lowerGraph(graph);
const BAD = [NaN, Infinity, -Infinity] as const;

/** The weights with one element replaced. */
function poisoned(name: string, index: number, value: number): Map<string, Float32Array> {
  const w = new Map(clean);
  const t = Float32Array.from(clean.get(name)!);
  t[index % t.length] = value;
  w.set(name, t);
  return w;
}

/** An in-memory weight source, as a checkpoint file would present the weights. */
function source(weights: Map<string, Float32Array>): WeightSource {
  const info = (name: string): TensorInfo => {
    const data = weights.get(name)!;
    return { name, dtype: "F32", shape: [...expectedTensors(graph).get(name)!.shape], numel: data.length, byteLength: data.byteLength, file: "mem.safetensors", offset: 0 };
  };
  return {
    names: () => [...weights.keys()],
    has: (n) => weights.has(n),
    info,
    readTensor: async (n) => ({ info: info(n), bytes: new Uint8Array(weights.get(n)!.buffer.slice(0)) }),
    readF32: async (n) => Float32Array.from(weights.get(n)!),
    readMxfp4: async () => {
      throw new Error("no MXFP4");
    },
    close: async () => {},
  };
}

const poison = fc.record({ tensor: fc.constantFrom(...names), index: fc.nat(), value: fc.constantFrom(...BAD) });

describe("class 1: non-finite weights never give tokens", () => {
  it("the weight check at load names the tensor and the first bad element, whatever and wherever it is", async () => {
    await fc.assert(
      fc.asyncProperty(poison, async ({ tensor, index, value }) => {
        tally("load check: tensor and element named");
        const w = poisoned(tensor, index, value);
        const err = await bindWeights(graph, source(w), "mem", { checkWeights: "on" }).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(WeightFileError);
        const at = index % clean.get(tensor)!.length;
        expect((err as Error).message).toContain(`"${tensor}"`);
        expect((err as Error).message).toContain(`element ${at} `);
        expect((err as Error).message).toContain(Number.isNaN(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity");
      }),
      runs("load check", 60),
    );
  });

  it("the runtime stops generation with a NonFiniteError instead of yielding tokens from non-finite logits", async () => {
    const prompt = [3, 17, 42, 99, 7];
    await fc.assert(
      fc.asyncProperty(poison, fc.integer({ min: 1, max: 4 }), async ({ tensor, index, value }, n) => {
        tally("runtime: generate stops or logits are finite");
        const w = poisoned(tensor, index, value);
        const model = await Model.create(plan, (name, into) => into.set(w.get(name)!), { maxContext: 32, maxTokens: 16 });
        const out: number[] = [];
        let error: unknown = null;
        try {
          for await (const t of model.generate(prompt, { maxNewTokens: n })) out.push(t);
        } catch (e) {
          error = e;
        }
        if (error !== null) {
          expect(error).toBeInstanceOf(NonFiniteError);
          expect((error as Error).message).toMatch(/holds? (NaN|\+Infinity|-Infinity)/);
          return;
        }
        // It finished: then the logits it chose from were finite (checked on the reference interpreter).
        const ref = new ReferenceSession(graph, w);
        // Generation computes the logits of the prompt's last token only: a non-finite value confined to
        // earlier prompt rows after the last attention (which the reference reports) never reaches them.
        let logits;
        try {
          logits = ref.forward(Int32Array.from([...prompt, ...out.slice(0, -1)])).get(graph.outputs[0]!.name)!;
        } catch (e) {
          expect(e).toBeInstanceOf(NonFiniteError);
          expect(Number(/at position (\d+)/.exec((e as Error).message)?.[1])).toBeLessThan(prompt.length - 1);
          return;
        }
        expect(firstNonFinite(logits.data)).toBe(-1);
      }),
      runs("runtime generate", 60),
    );
  });

  it("the runtime names the plan step, layer and weight where the first non-finite value appears (on every backend)", async () => {
    // A whole tensor of NaN in a weight every token uses: the first step whose output is not finite is its matmul.
    const layerWeights = names.filter((n) => /layers\.\d+\.(self_attn\.[qkvo]_proj|input_layernorm|post_attention_layernorm)\.weight$/.test(n));
    const { wasmDevice } = await import("../../backends/wasm/device.js");
    const { buildWasmFile } = await import("../../backends/wasm/emit.js");
    const wasm = wasmDevice(await buildWasmFile("kernels.wasm"));
    for (const tensor of layerWeights) {
      for (const device of [undefined, wasm]) {
        tally("runtime: the step and layer named");
        const w = new Map(clean);
        w.set(tensor, new Float32Array(clean.get(tensor)!.length).fill(NaN));
        const model = await Model.create(plan, (name, into) => into.set(w.get(name)!), { maxContext: 32, maxTokens: 16, ...(device ? { device } : {}) });
        const error = await model.forward([3, 17, 42]).then(() => null, (e: unknown) => e);
        await model.dispose();
        expect(error, tensor).toBeInstanceOf(NonFiniteError);
        const layer = /layers\.(\d+)\./.exec(tensor)![1];
        expect((error as Error).message, tensor).toContain(`layer ${layer}`);
        expect((error as Error).message, tensor).toContain(tensor);
      }
    }
  });

  it("the reference interpreter names the layer where the first non-finite value appears", async () => {
    await fc.assert(
      fc.asyncProperty(poison, async ({ tensor, index, value }) => {
        tally("reference: layer named");
        const ref = new ReferenceSession(graph, poisoned(tensor, index, value));
        let error: unknown = null;
        let finite = true;
        try {
          const out = ref.forward(Int32Array.from([3, 17, 42, 99, 7, 200, 255, 0]));
          finite = firstNonFinite(out.get(graph.outputs[0]!.name)!.data) === -1;
        } catch (e) {
          error = e;
        }
        expect(finite).toBe(true);
        if (error === null) return;
        expect(error).toBeInstanceOf(NonFiniteError);
        expect((error as Error).message).toMatch(/appears in (layer \d+, )?'[^']+' \(\w+/);
        // The poisoned tensor belongs to that node: it is named as the cause.
        const node = /appears in (?:layer \d+, )?'([^']+)'/.exec((error as Error).message)![1]!;
        if (tensor.startsWith(`${node}.`)) expect((error as Error).message).toContain(`Its weight ${tensor} holds`);
      }),
      runs("reference layer", 60),
    );
  });

  it("moec run refuses NaN in a safetensors file, a NaN in a GGUF F16 tensor and a re-typed tensor, naming each", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "moec-nonfinite-"));
    // 1. A NaN at a random element of a random tensor of a real checkpoint.
    const st = join(tmp, "st");
    mkdirSync(st);
    copyFileSync(fixture("hf", "mixtral", "config.json"), join(st, "config.json"));
    const bytes = readFileSync(fixture("hf", "mixtral", "model.safetensors"));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const tensors = Object.keys(header).filter((k) => k !== "__metadata__");
    const pick = fc.sample(fc.record({ t: fc.constantFrom(...tensors), i: fc.nat() }), { numRuns: 1, seed: runs("cli safetensors", 1).seed })[0]!;
    const h = header[pick.t]!;
    const count = (h.data_offsets[1] - h.data_offsets[0]) / 4;
    const at = pick.i % count;
    const copy = Buffer.from(bytes);
    copy.writeFloatLE(NaN, 8 + n + h.data_offsets[0] + 4 * at);
    writeFileSync(join(st, "model.safetensors"), copy);
    const r1 = moec(["run", st, "--ids", "1,2,3", "-n", "2"]);
    tally("CLI: NaN in safetensors");
    expect(isCleanFailure(r1), r1.stderr).toBeNull();
    expect(r1.status).toBe(1);
    expect(r1.stderr).toContain(`tensor "${pick.t}": element ${at} `);
    // Without the check the run still stops, naming the layer (reference) or the logits (wasm).
    const r2 = moec(["run", st, "--ids", "1,2,3", "-n", "2", "--no-check-weights"]);
    tally("CLI: NaN in safetensors, check off");
    if (r2.status !== 0) {
      expect(isCleanFailure(r2), r2.stderr).toBeNull();
      expect(r2.stderr).toMatch(/not finite|hold NaN|holds NaN/);
    }

    // 2. GGUF: one F16 weight element set to a NaN bit pattern.
    const gguf = Buffer.from(await convertHfFixture(fixture("hf", "mixtral"), { others: "F16" }));
    const { openGguf } = await import("../../runtime/weights/gguf.js");
    const ggufPath = join(tmp, "m.gguf");
    writeFileSync(ggufPath, gguf);
    const g = await openGguf(ggufPath);
    const f16 = g.tensors.find((t) => t.type.name === "F16")!;
    await g.close();
    gguf.writeUInt16LE(0x7e00, f16.offset + 2 * 5);
    writeFileSync(ggufPath, gguf);
    const r3 = moec(["run", ggufPath, "--ids", "1,2,3", "-n", "2"]);
    tally("CLI: NaN in a GGUF F16 tensor");
    expect(isCleanFailure(r3), r3.stderr).toBeNull();
    expect(r3.stderr).toMatch(/element 5 .* is NaN/);

    // 3. A GGUF F32 tensor re-typed as F16 in its tensor info: its bytes now decode as halves,
    // some of which are Infinity or NaN (the mantissa bits of float32 values read as exponents).
    const f32 = Buffer.from(await convertHfFixture(fixture("hf", "mixtral")));
    const name = "blk.0.ffn_gate_exps.weight";
    const key = Buffer.concat([Buffer.alloc(8), Buffer.from(name)]);
    key.writeBigUInt64LE(BigInt(name.length), 0);
    const infoAt = f32.indexOf(key);
    expect(infoAt).toBeGreaterThan(0);
    const dims = f32.readUInt32LE(infoAt + key.length);
    const typeAt = infoAt + key.length + 4 + 8 * dims;
    expect(f32.readUInt32LE(typeAt)).toBe(0);
    f32.writeUInt32LE(1, typeAt);
    const rtPath = join(tmp, "retyped.gguf");
    writeFileSync(rtPath, f32);
    const r4 = moec(["run", rtPath, "--ids", "1,2,3", "-n", "2"]);
    tally("CLI: GGUF F32 tensor re-typed as F16");
    expect(isCleanFailure(r4), r4.stderr).toBeNull();
    expect(r4.stderr).toMatch(/tensor "[^"]+": element \d+ .* is (NaN|\+Infinity|-Infinity)/);
  });
});
