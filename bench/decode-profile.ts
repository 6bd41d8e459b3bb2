// Where a decode step's time goes on the WASM backend, for one GGUF file: loads it as
// gguf-bench.ts does, decodes greedily, and reports tokens/s, the bytes of weights one step reads
// (every dense matrix, the router, k experts per layer, the output head, one embedding row) and
// the GB/s that makes against bench/bandwidth.ts's figure. Run under `node --cpu-prof
// --cpu-prof-dir DIR`, then `--summarize DIR` prints each thread's self time by function
// (the WASM kernels by name, the JS between them, the pool's waits).
//
//   node --cpu-prof --cpu-prof-dir /tmp/prof --experimental-strip-types bench/decode-profile.ts [--threads N] [--tokens N] FILE.gguf
//   node --experimental-strip-types bench/decode-profile.ts --summarize /tmp/prof
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { measureBandwidth } from "./bandwidth.ts";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time (ms) per function, the thread's total, from one .cpuprofile. */
function selfTimes(p: Profile): { total: number; byName: Map<string, number> } {
  const node = new Map(p.nodes.map((n) => [n.id, n]));
  const byName = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const n = node.get(id)!;
    const url = n.callFrame.url.split("/").pop() ?? "";
    const name = `${n.callFrame.functionName || "(anonymous)"}${url && !url.startsWith("wasm") ? ` ${url}` : ""}`;
    byName.set(name, (byName.get(name) ?? 0) + dt);
    total += dt;
  });
  return { total, byName };
}

/** Bytes a decode step reads: each tensor whole, except stacked experts (k of E) and the embedding (one row). */
async function stepBytes(file: string): Promise<number> {
  const { openGguf } = await import("../dist/runtime/weights/gguf.js");
  const g = await openGguf(file);
  const meta = (suffix: string) => Number([...g.metadata].find(([k]) => k.endsWith(suffix))?.[1].value ?? 1);
  const [used, experts] = [meta(".expert_used_count"), meta(".expert_count")];
  let bytes = 0;
  for (const t of g.tensors) {
    if (t.name === "token_embd.weight") bytes += t.byteLength / t.rows;
    else if (/_exps\.weight$/.test(t.name)) bytes += (t.byteLength * used) / experts;
    else bytes += t.byteLength;
  }
  await g.close();
  return bytes;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: "string" }, tokens: { type: "string" }, summarize: { type: "string" } } });
if (values.summarize) {
  for (const f of readdirSync(values.summarize).filter((x) => x.endsWith(".cpuprofile")).sort()) {
    const { total, byName } = selfTimes(JSON.parse(readFileSync(`${values.summarize}/${f}`, "utf8")) as Profile);
    console.log(`\n${f}: ${total.toFixed(0)} ms sampled`);
    for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * ms) / total).toFixed(1).padStart(6)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
} else {
  const file = positionals[0]!;
  const threads = Number(values.threads ?? 2);
  const tokens = Number(values.tokens ?? 64);
  const { loadGraph, openWeights } = await import("../dist/compiler/run/load.js");
  const { planModel } = await import("../dist/compiler/run/engines.js");
  const g = await loadGraph(file);
  if (!("hfDir" in g)) throw new Error(`${file}: does not import`);
  const w = await openWeights(g.graph, null, {}, g.gguf);
  const model = await planModel({ graph: g.graph, weights: w }, "wasm", 512, threads, undefined, 1, { maxTokens: 512 });
  await w.close();
  const prompt = Array.from({ length: 16 }, (_, i) => 100 + ((i * 7919) % 30000));
  for await (const _ of model.generate(prompt, { maxNewTokens: 8 })); // warm
  model.reset();
  let n = 0;
  let first = 0;
  for await (const _ of model.generate(prompt, { maxNewTokens: tokens + 1 })) if (n++ === 0) first = performance.now();
  const sec = (performance.now() - first) / 1000;
  await model.dispose();
  const bytes = await stepBytes(file);
  const bw = await measureBandwidth(256);
  const gbs = (bytes * tokens) / sec / 1e9;
  console.log(`${file}: ${model.kernels}, ${(tokens / sec).toFixed(1)} tok/s, ${(bytes / 1e6).toFixed(1)} MB of weights a step → ${gbs.toFixed(1)} GB/s read`);
  console.log(`read bandwidth (bench/bandwidth.ts, 256 MiB): 1 thread ${(bw.oneThread / 1e9).toFixed(1)} GB/s, ${bw.threads} threads ${(bw.multiThread / 1e9).toFixed(1)} GB/s`);
}
