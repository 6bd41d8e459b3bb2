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

/** planModel's steps with every kernel of the device wrapped in a timer (per kernel: calls, ms). */
async function timedModel(graph: unknown, weights: unknown, threads: number) {
  const { planFor, asBound } = await import("../dist/compiler/run/engines.js");
  const { findBackend } = await import("../dist/backends/registry.js");
  const { Model } = await import("../dist/runtime/model.js");
  const backend = findBackend("wasm")!;
  const bound = asBound(weights as never);
  const plan = planFor(graph as never, bound, "wasm", { maxTokens: 256 });
  const factory = await backend.device({ plan, threads, maxContext: 512, maxTokens: 256, sequences: 1, files: (name: string) => backend.buildFile(name) });
  const wrap = <T extends object>(table: T, prefix: string): T =>
    Object.fromEntries(
      Object.entries(table).map(([name, fn]) => {
        const t = { calls: 0, ms: 0 };
        timers!.set(prefix + name, t);
        // matmul_q by shape: [N, K] and the format's code.
        const by = (a: number[]) => {
          if (name !== "matmul_q" || a[5] !== 1) return t;
          const key = `${prefix}${name} N ${a[7]} K ${a[6]} format ${a[10]}`;
          if (!timers!.has(key)) timers!.set(key, { calls: 0, ms: 0 });
          return timers!.get(key)!;
        };
        return [name, (...a: number[]) => { const t0 = performance.now(); (fn as (...a: number[]) => void)(...a); const u = by(a); u.ms += performance.now() - t0; u.calls++; }];
      }),
    ) as T;
  const device = Object.assign(async (a: never) => {
    const d = await (factory as (a: never) => Promise<{ launch: object; fused?: object }>)(a);
    return { ...d, launch: wrap(d.launch, ""), ...(d.fused ? { fused: wrap(d.fused, "fused:") } : {}) };
  }, { threads: (factory as { threads?: number }).threads });
  const shapes = new Map(plan.weights.map((x) => [x.name, x.shape]));
  return Model.create(plan, { raw: (name, format, into) => bound.read(name, format, shapes.get(name)!, into) }, { maxContext: 512, maxTokens: 256, sequences: 1, device: device as never });
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: "string" }, tokens: { type: "string" }, summarize: { type: "string" }, timers: { type: "boolean" } } });
const timers = values.timers ? new Map<string, { calls: number; ms: number }>() : null;
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
  const model = timers ? await timedModel(g.graph, w, threads) : await planModel({ graph: g.graph, weights: w }, "wasm", 512, threads, undefined, 1, { maxTokens: 256 });
  await w.close();
  const prompt = Array.from({ length: 16 }, (_, i) => 100 + ((i * 7919) % 30000));
  for await (const _ of model.generate(prompt, { maxNewTokens: 8 })); // warm
  model.reset();
  for (const t of timers?.values() ?? []) Object.assign(t, { calls: 0, ms: 0 });
  let n = 0;
  let first = 0;
  for await (const _ of model.generate(prompt, { maxNewTokens: tokens + 1 }))
    if (n++ === 0) {
      first = performance.now();
      for (const t of timers?.values() ?? []) Object.assign(t, { calls: 0, ms: 0 });
    }
  const sec = (performance.now() - first) / 1000;
  if (timers) {
    const stepMs = (1000 * sec) / tokens;
    console.log(`per decode step: ${stepMs.toFixed(2)} ms wall; kernel calls a step and their time (the calling thread's view: a split call includes waiting for its workers):`);
    let sum = 0;
    for (const [name, t] of [...timers].sort((a, b) => b[1].ms - a[1].ms)) {
      sum += t.ms;
      if (t.calls) console.log(`  ${name.padEnd(40)} ${(t.calls / tokens).toFixed(0).padStart(5)} calls  ${(t.ms / tokens).toFixed(3).padStart(7)} ms  ${((100 * t.ms) / (sec * 1000)).toFixed(1).padStart(5)}%`);
    }
    console.log(`  JS and everything outside kernels: ${(stepMs - sum / tokens).toFixed(3)} ms a step`);
  }
  await model.dispose();
  const bytes = await stepBytes(file);
  const bw = await measureBandwidth(256);
  const gbs = (bytes * tokens) / sec / 1e9;
  console.log(`${file}: ${model.kernels}, ${(tokens / sec).toFixed(1)} tok/s, ${(bytes / 1e6).toFixed(1)} MB of weights a step → ${gbs.toFixed(1)} GB/s read`);
  console.log(`read bandwidth (bench/bandwidth.ts, 256 MiB): 1 thread ${(bw.oneThread / 1e9).toFixed(1)} GB/s, ${bw.threads} threads ${(bw.multiThread / 1e9).toFixed(1)} GB/s`);
}
