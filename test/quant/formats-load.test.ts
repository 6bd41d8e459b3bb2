// Weights as they ship: a GGUF file's Q8_0 / Q4_0 tensors stay in those formats through the
// plan (the weight-formats pass) and are copied byte for byte from the file into the model;
// the weight pack stores every format readably (safetensors dtypes + moec.formats) and a
// bundle loads it back to the same logits; damaged block scales are named at load.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertHfFixture } from "../helpers/gguf-writer.js";
import { HF, relativeError } from "../helpers/fixtures.js";
import { loadGraph, loadWeights, openWeights } from "../../compiler/run/load.js";
import { planFor, planModel } from "../../compiler/run/engines.js";
import { quantizeFor } from "../../compiler/quant/run.js";
import { parseQuantize } from "../../compiler/quant/scheme.js";
import { writeWeightPack } from "../../compiler/weights/pack.js";
import { ReferenceSession } from "../../compiler/reference/interpreter.js";
import { loadModel } from "../../runtime/load.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { openSafetensors } from "../../runtime/weights/safetensors.js";
import { weightBytes } from "../../runtime/plan/formats.js";

const dir = mkdtempSync(join(tmpdir(), "moec-formats-"));

async function gguf(name: string, type: "Q8_0" | "Q4_0"): Promise<string> {
  const file = join(dir, `${name}-${type}.gguf`);
  writeFileSync(file, await convertHfFixture(join(HF, name), { experts: type, others: type }));
  return file;
}

describe("GGUF formats through the plan", () => {
  for (const [name, type] of [["olmoe", "Q8_0"], ["qwen3_moe", "Q4_0"], ["mixtral", "Q8_0"]] as const) {
    it(`${name} ${type}: the plan keeps the file's format, the bytes are the file's, the logits are the dequantised model's`, async () => {
      const file = await gguf(name, type);
      const g = await loadGraph(file);
      if (!("gguf" in g) || !g.gguf) throw new Error("not a GGUF model");
      const w = await openWeights(g.graph, null, {}, g.gguf);
      const plan = planFor(g.graph, w, "js");
      const fmt = type.toLowerCase();
      const kept = plan.weights.filter((p) => p.format === fmt);
      expect(kept.length).toBeGreaterThan(0);
      // Every weight the file holds in a format moec keeps, and that a matmul or embedding reads, keeps it.
      const raw = await openGguf(file);
      for (const p of kept.slice(0, 6)) {
        const into = new Uint8Array(weightBytes(p.format, p.shape));
        await w.read(p.name, p.format, p.shape, into);
        expect(into.every((b) => b === 0)).toBe(false);
      }
      const embed = raw.ggufTensor("token_embd.weight");
      if (embed.type.name === type) {
        const into = new Uint8Array(embed.byteLength);
        await w.read("model.embed_tokens.weight", fmt as "q8_0", [embed.shape[0]!, embed.shape[1]!], into);
        expect(Buffer.from(into).equals(Buffer.from(await raw.readRaw("token_embd.weight")))).toBe(true);
      }
      await raw.close();
      const ids = [3, 17, 42, 99, 7, 1, 200, 5];
      const model = await planModel({ graph: g.graph, weights: w }, "js", 16, 1, undefined, 1, { plan });
      const got = await model.forward(ids);
      await model.dispose();
      await w.close();
      const g2 = await loadGraph(file);
      if (!("gguf" in g2)) throw new Error("not a GGUF model");
      const f32 = await loadWeights(g2.graph, null, {}, g2.gguf);
      const want = new ReferenceSession(g2.graph, f32).forward(Int32Array.from(ids)).get(g2.graph.outputs[0]!.name)!.data;
      expect(relativeError(got, want)).toBeLessThan(1e-5);
    });
  }

  it("a block whose scale is NaN is named at load, with the tensor and the element", async () => {
    const file = await gguf("olmoe", "Q8_0");
    const g = await openGguf(file);
    const t = g.tensors.find((x) => x.type.name === "Q8_0" && x.name.includes("attn_q"))!;
    await g.close();
    const bytes = readFileSync(file);
    bytes.writeUInt16LE(0x7e00, t.offset + 34); // the second block's f16 scale: NaN
    const bad = join(dir, "bad.gguf");
    writeFileSync(bad, bytes);
    const lg = await loadGraph(bad);
    if (!("gguf" in lg) || !lg.gguf) throw new Error("not a GGUF model");
    const w = await openWeights(lg.graph, null, { checkWeights: "on" }, lg.gguf);
    const err = await planModel({ graph: lg.graph, weights: w }, "js", 16).then(() => null, (e: unknown) => e as Error);
    await w.close();
    expect(err?.message).toMatch(/bad\.gguf: tensor "model\.layers\.0\.self_attn\.q_proj\.weight": element 32 .* stored as q8_0\) is NaN \(its block's scale is not finite\)/);
  });
});

describe("the weight pack", () => {
  it("stores each format readably and loads back to the same logits", async () => {
    const g = await loadGraph(join(HF, "qwen3_moe"));
    if (!("hfDir" in g)) throw new Error("no graph");
    const w = await openWeights(g.graph, g.hfDir, {});
    const q = await quantizeFor(g.graph, w, "js", parseQuantize("q4_0"), { threads: 1 });
    const bundle = mkdtempSync(join(dir, "bundle-"));
    await writeWeightPack(join(bundle, "weights.safetensors"), q.plan, (n, f, s, into) => w.read(n, f, s, into));
    writeFileSync(join(bundle, "plan.json"), JSON.stringify(q.plan));
    // Readable by any safetensors reader: U8 blocks, I8 rows and their F32 scales, metadata naming the formats.
    const st = await openSafetensors(join(bundle, "weights.safetensors"));
    const q4 = q.plan.weights.find((p) => p.format === "q4_0")!;
    const i8 = q.plan.weights.find((p) => p.format === "int8")!;
    expect(st.info(q4.name)).toMatchObject({ dtype: "U8", shape: [...q4.shape.slice(0, -1), (q4.shape[q4.shape.length - 1]! / 32) * 18] });
    expect(st.info(i8.name)).toMatchObject({ dtype: "I8", shape: i8.shape });
    expect(st.info(`${i8.name}_scale`)).toMatchObject({ dtype: "F32", shape: i8.shape.slice(0, -1) });
    expect(JSON.parse(st.metadata["moec.formats"]!)[q4.name]).toBe("q4_0");
    await st.close();
    const ids = [5, 9, 2, 77, 31, 8];
    const direct = await planModel({ graph: g.graph, weights: w }, "js", 16, 1, undefined, 1, { plan: q.plan });
    const want = await direct.forward(ids);
    await direct.dispose();
    await w.close();
    const loaded = await loadModel(bundle, { backend: "js", tokenizer: false, maxContext: 16 });
    const got = await loaded.forward(ids);
    await loaded.dispose();
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
