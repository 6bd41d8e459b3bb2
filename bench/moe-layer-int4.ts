// One MoE layer with int4 weights (groups of 32) at decode (1 token) and prefill (16, 64, 256
// tokens): moec (its int4_g32 format on the WASM kernels) against onnxruntime-node's and
// onnxruntime-web's `com.microsoft::QMoE` (int4, block 32), from the same random float weights
// as bench/moe-layer.ts, quantised once (bench/onnx/qmoe-model.ts: the two formats hold the same
// codes and scales, so every engine runs the same dequantised weights).
//
//   node --experimental-strip-types bench/moe-layer-int4.ts --shape olmoe --engines moec,ort-node:1,ort-node-q4:1,ort-web:1 [--seconds S] [--out FILE]
//
// Before anything is timed every engine's output is checked against a float64 computation of the
// layer over the DEQUANTISED weights (and the error against the float weights, which is the
// quantisation's own, is reported beside it). The timing alternates engines call by call, so
// load from other work on the machine falls on all of them alike.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { planGraph } from "../dist/compiler/passes/pipeline.js";
import { targetContext } from "../dist/compiler/run/engines.js";
import { rowBytes } from "../dist/runtime/plan/formats.js";
import { Model } from "../dist/runtime/model.js";
import { SHAPES, TOKENS, type ShapeName } from "./moe-layer.ts";
import { compileSource, layerSource, moecKernels } from "./moec.ts";
import { fillUniform, randomLayer, referenceMoe, relError, type MoeLayerWeights } from "./onnx/moe-model.ts";
import { ortNode, ortWeb } from "./onnx/ort.ts";
import { buildQMoeOnnx, quantizeInt4, type Int4Layer } from "./onnx/qmoe-model.ts";
import { stats, type Stats } from "./timing.ts";

const ROWS = 256; // distinct hidden states, as in moe-layer.ts
// Both engines multiply in float32 over the same dequantised weights; moec's WASM decode and
// onnxruntime's QNBit path may quantise activations to int8 (blocks of 32), which alone costs
// ~1e-2 of max |y|. A wrong layout or nibble order gives errors of order 1.
const TOLERANCE = 3e-2;

interface Engine {
  readonly label: string;
  run(row0: number, T: number): Promise<Float32Array> | Float32Array;
  release(): Promise<void> | void;
}

async function moecInt4(w: MoeLayerWeights, q: Int4Layer, x: Float32Array, threads: number): Promise<Engine> {
  const kernels = await moecKernels(threads);
  const graph = compileSource("moe-layer.moe", layerSource(w.experts, w.k, w.hidden, w.inter, ROWS));
  // The expert matmuls int4_g32; the embedding (the hidden states) and the router stay float32.
  const experts = /^mlp\.experts\.\d+\.(gate_proj|up_proj|down_proj)\.weight$/;
  const names = new Map<string, "int4_g32">();
  for (let e = 0; e < w.experts; e++) for (const p of ["gate_proj", "up_proj", "down_proj"]) names.set(`mlp.experts.${e}.${p}.weight`, "int4_g32");
  const plan = planGraph(graph, { context: { ...targetContext("wasm"), quantize: { kind: "assign", formats: names, others: "f32", text: "int4:g32 (experts)" } } });
  const wrong = plan.weights.filter((p) => (experts.test(p.name) ? p.format !== "int4_g32" : p.format !== "f32"));
  if (wrong.length) throw new Error(`moec plan: unexpected formats ${wrong.map((p) => `${p.name}=${p.format}`).join(", ")}`);
  const rb1 = rowBytes("int4_g32", w.hidden);
  const rb2 = rowBytes("int4_g32", w.inter);
  const raw = (name: string, format: string, into: Uint8Array) => {
    const f32 = () => new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4);
    if (name === "embed.weight") return f32().set(x);
    if (name === "mlp.gate.weight") return f32().set(w.router);
    const m = /^mlp\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$/.exec(name);
    if (!m || format !== "int4_g32") throw new Error(`unexpected weight ${name} (${format})`);
    const e = Number(m[1]);
    if (m[2] === "down_proj") return into.set(q.fc2.subarray(e * w.hidden * rb2, (e + 1) * w.hidden * rb2));
    const which = m[2] === "gate_proj" ? 0 : 1; // fc1 rows interleave gate and up
    for (let i = 0; i < w.inter; i++) {
      const from = (e * 2 * w.inter + 2 * i + which) * rb1;
      into.set(q.fc1.subarray(from, from + rb1), i * rb1);
    }
  };
  const model = await Model.create(plan, { raw }, { maxTokens: ROWS, maxContext: ROWS, ...(kernels.factory ? { device: kernels.factory } : {}) });
  return {
    label: `${kernels.label}, int4_g32`,
    run(row0, T) {
      model.reset();
      return model.forward(Array.from({ length: T }, (_, t) => row0 + t));
    },
    release: () => model.dispose(),
  };
}

async function makeEngine(spec: string, w: MoeLayerWeights, q: Int4Layer, x: Float32Array): Promise<Engine> {
  const mt = /^moec(?::(\d+))?$/.exec(spec);
  if (mt) return moecInt4(w, q, x, Number(mt[1] ?? 1));
  // ort-node-q4: onnxruntime-node with ORT_USE_MLAS_Q4_GEMM_MOE=1, which in 1.30 turns on QMoE's
  // MLAS Q4 GEMM path for 4-bit symmetric block-32/64/128 weights (off by default there).
  const m = /^ort-(node|node-q4|web):(\d+)$/.exec(spec);
  if (!m) throw new Error(`unknown engine ${spec} (moec[:THREADS], ort-node:THREADS, ort-node-q4:THREADS, ort-web:THREADS)`);
  const threads = Number(m[2]);
  const onnx = buildQMoeOnnx(w, q);
  const s =
    m[1] === "web"
      ? await ortWeb(onnx, threads)
      : await ortNode(onnx, threads, m[1] === "node-q4" ? { ORT_USE_MLAS_Q4_GEMM_MOE: "1" } : {});
  return {
    label: `${s.name}, QMoE int4 block 32`,
    run: (row0, T) => s.run(x.subarray(row0 * w.hidden, (row0 + T) * w.hidden), T, w.hidden),
    release: () => s.release(),
  };
}

export interface Int4EngineResult {
  readonly engine: string;
  readonly label: string;
  readonly error?: string;
  readonly errVsDequantised?: number;
  readonly errVsFloat?: number;
  readonly ok: boolean;
  readonly times: Record<number, Stats>;
}

export async function runInt4Layer(shape: ShapeName, specs: readonly string[], log: (s: string) => void, seconds = 1) {
  const sh = SHAPES[shape];
  const w = randomLayer(sh.experts, sh.k, sh.hidden, sh.inter, 1234); // the float layer of moe-layer.ts
  const x = fillUniform(new Float32Array(ROWS * sh.hidden), 4321, 1);
  const t0 = performance.now();
  const q = quantizeInt4(w);
  log(`${sh.label}: int4_g32 quantisation of ${((q.fc1.length + q.fc2.length) / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const refQ = [referenceMoe(q.dequantised, x, 0, 4), referenceMoe(q.dequantised, x, 37, 38)];
  const refF = [referenceMoe(w, x, 0, 4), referenceMoe(w, x, 37, 38)];

  const results: Int4EngineResult[] = [];
  const live: { spec: string; eng: Engine; times: Record<number, Stats> }[] = [];
  for (const spec of specs) {
    let eng: Engine;
    try {
      eng = await makeEngine(spec, w, q, x);
    } catch (e) {
      const error = String((e as Error).message ?? e).split("\n")[0]!;
      log(`  ${spec}: does not run: ${error}`);
      results.push({ engine: spec, label: spec, error, ok: false, times: {} });
      continue;
    }
    let y: Float32Array[];
    try {
      y = [(await eng.run(0, 16)).slice(0, 4 * sh.hidden), (await eng.run(37, 1)).slice()];
    } catch (e) {
      const error = String((e as Error).message ?? e).split("\n")[0]!;
      log(`  ${eng.label}: fails to run: ${error}`);
      results.push({ engine: spec, label: eng.label, error, ok: false, times: {} });
      await eng.release();
      continue;
    }
    const errVsDequantised = Math.max(relError(y[0]!, refQ[0]!), relError(y[1]!, refQ[1]!));
    const errVsFloat = Math.max(relError(y[0]!, refF[0]!), relError(y[1]!, refF[1]!));
    const ok = errVsDequantised < TOLERANCE;
    log(`  ${eng.label}: error vs float64 over the dequantised weights ${errVsDequantised.toExponential(2)}, vs the float weights ${errVsFloat.toExponential(2)}${ok ? "" : "  CHECK FAILED: not timed"}`);
    const r = { engine: spec, label: eng.label, errVsDequantised, errVsFloat, ok, times: {} as Record<number, Stats> };
    results.push(r);
    if (ok) live.push({ spec, eng, times: r.times });
    else await eng.release();
  }

  // Call by call, engine after engine: a warmup of each, then rounds until `seconds` per engine
  // (decode gets twice that and walks through the 256 hidden states, as in moe-layer.ts).
  for (const T of TOKENS) {
    const budget = 1000 * (T === 1 ? 2 * seconds : seconds) * live.length;
    const samples = live.map(() => [] as number[]);
    const call = (e: Engine, i: number) => (T === 1 ? e.run(i % ROWS, 1) : e.run(0, T));
    for (let i = 0; i < 2; i++) for (const l of live) await call(l.eng, i);
    const start = performance.now();
    for (let i = 0; (performance.now() - start < budget || i < 5) && i < 5000; i++) {
      for (let j = 0; j < live.length; j++) {
        const a = performance.now();
        await call(live[j]!.eng, i);
        samples[j]!.push(performance.now() - a);
      }
    }
    live.forEach((l, j) => {
      l.times[T] = stats(samples[j]!);
      const s = l.times[T]!;
      log(`    T=${String(T).padStart(3)} ${l.spec}: median ${s.median.toFixed(2)} ms (p10 ${s.p10.toFixed(2)}, p90 ${s.p90.toFixed(2)}, n=${s.n})`);
    });
  }
  for (const l of live) await l.eng.release();
  return { shape, label: sh.label, experts: sh.experts, k: sh.k, hidden: sh.hidden, inter: sh.inter, engines: results };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "olmoe" },
      engines: { type: "string", default: "moec,ort-node:1,ort-node-q4:1,ort-web:1" },
      seconds: { type: "string", default: "1" },
      out: { type: "string" },
    },
  });
  if (!(values.shape! in SHAPES)) throw new Error(`--shape ${values.shape}: one of ${Object.keys(SHAPES).join(", ")}`);
  const report = await runInt4Layer(values.shape as ShapeName, values.engines!.split(","), (s) => console.error(s), Number(values.seconds));
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
  else console.log(JSON.stringify(report, null, 2));
}
