// Float vs int8 vs int4 vs mixed precision: for each model and scheme, the size of the quantized
// weights and the error against float32 on calibration ids — the numbers `moec run --quantize S
// --json` reports (compiler/quant/run.ts), side by side. Budgets (budget=B) are per-expert mixed
// precision; the target is budget=3.5 with lower logit error than uniform 4-bit.
//
// `experts=F` (not a --quantize scheme) stores every routed expert in F and the rest as a budget
// does (q8_0): the uniform baseline a budget is compared with at the same expert size.
// --heldout N measures the error on N other pseudo-random ids (--heldout-seed, 2) than the calibration ids
// a budget is solved on, so the mixed schemes are not scored on the tokens they were fitted to.
//
//   node --experimental-strip-types bench/quant-error.ts [--calibration IDS] [--heldout N] [--schemes a,b,...] MODEL...
import { parseArgs } from "node:util";

const { loadGraph, openWeights } = await import("../dist/compiler/run/load.js");
const { measureError, quantizeFor } = await import("../dist/compiler/quant/run.js");
const { parseQuantize } = await import("../dist/compiler/quant/scheme.js");
const { expertsSpec } = await import("../dist/compiler/quant/mixed.js");
const { pseudoRandomIds } = await import("../dist/compiler/report/data.js");
const { isStorageFormat, weightBytes } = await import("../dist/runtime/plan/formats.js");

const { values, positionals } = parseArgs({ allowPositionals: true, options: { calibration: { type: "string" }, schemes: { type: "string" }, heldout: { type: "string" }, "heldout-seed": { type: "string" } } });
const schemes = (values.schemes ?? "int8,q8_0,q6_k,q5_k,int4:g32,q4_0,q4_k,q3_k,q2_k,experts=int4_g32,experts=q4_k,experts=q3_k,budget=6,budget=4.5,budget=3.5").split(",");

for (const file of positionals) {
  const g = await loadGraph(file);
  if (!("hfDir" in g)) throw new Error(`${file}: does not check`);
  const w = await openWeights(g.graph, g.hfDir, {}, g.gguf);
  console.log(`\n${file}\n`);
  console.log("| scheme | bits/weight (all quantized weights) | expert bits/weight | quantized bytes | logits rel. error | top-1 agreement | routing changed | fallbacks |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of schemes) {
    let q;
    try {
      const only = /^experts=(.+)$/.exec(s);
      if (only && !isStorageFormat(only[1])) throw new Error(`${s}: ${only[1]} is not a storage format`);
      const spec = only && isStorageFormat(only[1]) ? expertsSpec(g.graph, only[1]) : parseQuantize(s);
      q = await quantizeFor(g.graph, w, "wasm", spec, { threads: 2, ...(values.calibration ? { calibration: values.calibration } : {}) });
    } catch (e) {
      console.log(`| ${s} | ${(e as Error).message.replace(/\|/g, "/")} | | | | | | |`);
      continue;
    }
    if (values.heldout) {
      const vocab = g.graph.nodes.find((n: { op: string }) => n.op === "embed")?.attrs["vocab"] as number;
      const n = Number(values.heldout);
      const seed = Number(values["heldout-seed"] ?? 2);
      q = { ...q, calibration: { ids: pseudoRandomIds(n, vocab, seed), source: `${n} held-out pseudo-random ids (seed ${seed})` } };
    }
    const e = await measureError(g.graph, w, "wasm", q, 2);
    if ("skipped" in e) throw new Error(e.skipped);
    let bytes = 0;
    let eb = 0;
    let en = 0;
    for (const c of q.choices) {
      const b = weightBytes(c.to, c.shape);
      bytes += b;
      // Routed experts' weights (the graph's names: …experts.E.gate_proj.weight).
      if (/\.experts\.\d+\./.test(c.name)) {
        eb += 8 * b;
        en += c.shape.reduce((a: number, x: number) => a * x, 1);
      }
    }
    const fell = q.choices.filter((c) => c.fallback).length;
    const eBits = q.mixed ? q.mixed.report.expertBitsPerWeight : en ? eb / en : NaN;
    console.log(`| ${s} | ${q.bitsPerWeight.toFixed(3)} | ${eBits.toFixed(3)} | ${bytes} | ${e.logits.relativeError.toExponential(3)} | ${(100 * e.logits.top1Agreement).toFixed(1)}% | ${(100 * e.routingChanged).toFixed(2)}% | ${fell}/${q.choices.length} |`);
  }
  await w.close();
}
