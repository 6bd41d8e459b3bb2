// moec against llama.cpp (node-llama-cpp 3.21.1: native llama.cpp, its CPU build) on the same GGUF
// files, side by side in one run: load time, prefill of 16/64/256 tokens, greedy decode of 32
// tokens after a 16-token prompt, and peak resident memory — each engine in its own process,
// with the same thread count. Also moec on the F32 file with --quantize int8/int4/q4_k and a
// mixed budget, for float vs int8 vs int4 vs mixed.
//
//   node --experimental-strip-types bench/gguf-bench.ts [--threads N] [--out FILE.json] FILE.gguf...
//   node --experimental-strip-types bench/gguf-bench.ts --engine moec|llama FILE.gguf [--quantize S]   (one measurement, JSON on stdout)
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export interface Measure {
  readonly engine: string;
  readonly file: string;
  readonly quantize?: string;
  readonly threads: number;
  readonly loadMs: number;
  /** Prefill tokens per second at each prompt length. */
  readonly prefill: Record<string, number>;
  readonly decodeTokensPerSecond: number;
  readonly peakRssMiB: number;
  readonly tokens: readonly number[];
}

const PREFILL = [16, 64, 256];
const DECODE = 32;
/** Deterministic prompt ids (below every vocabulary here). */
const prompt = (n: number) => Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % 30000));

async function moec(file: string, threads: number, quantize?: string): Promise<Measure> {
  const { loadGraph, openWeights } = await import("../dist/compiler/run/load.js");
  const { planModel } = await import("../dist/compiler/run/engines.js");
  const t0 = performance.now();
  const g = await loadGraph(file);
  if (!("hfDir" in g)) throw new Error(`${file}: does not import`);
  const w = await openWeights(g.graph, null, {}, g.gguf);
  let extras = {};
  if (quantize) {
    const { quantizeFor } = await import("../dist/compiler/quant/run.js");
    const { parseQuantize } = await import("../dist/compiler/quant/scheme.js");
    const q = await quantizeFor(g.graph, w, "wasm", parseQuantize(quantize), { threads });
    extras = { plan: q.plan };
  }
  const model = await planModel({ graph: g.graph, weights: w }, "wasm", 512, threads, undefined, 1, { ...extras, maxTokens: 256 });
  await w.close();
  const loadMs = performance.now() - t0;
  const prefill: Record<string, number> = {};
  for (const n of PREFILL) {
    model.reset();
    await model.forwardBatch([{ seq: 0, ids: prompt(8) }], { logits: "last" }); // warm
    model.reset();
    const t = performance.now();
    await model.forwardBatch([{ seq: 0, ids: prompt(n) }], { logits: "last" });
    prefill[n] = (n * 1000) / (performance.now() - t);
  }
  const tokens: number[] = [];
  let first = 0;
  for await (const tok of model.generate(prompt(16), { maxNewTokens: DECODE + 1 })) {
    if (tokens.length === 0) first = performance.now();
    tokens.push(tok);
  }
  const decodeTokensPerSecond = (DECODE * 1000) / (performance.now() - first);
  await model.dispose();
  return { engine: `moec (${model.kernels})`, file, ...(quantize ? { quantize } : {}), threads, loadMs, prefill, decodeTokensPerSecond, peakRssMiB: process.resourceUsage().maxRSS / 1024, tokens };
}

async function llama(file: string, threads: number): Promise<Measure> {
  const { getLlama } = await import("node-llama-cpp");
  const t0 = performance.now();
  const ll = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  const model = await ll.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 512, threads, batchSize: 256, sequences: 1 });
  const seq = ctx.getSequence();
  const loadMs = performance.now() - t0;
  const prefill: Record<string, number> = {};
  for (const n of PREFILL) {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(prompt(8) as never);
    await seq.clearHistory();
    const t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt(n) as never);
    prefill[n] = (n * 1000) / (performance.now() - t);
  }
  await seq.clearHistory();
  const tokens: number[] = [];
  let first = 0;
  for await (const tok of seq.evaluate(prompt(16) as never, { temperature: 0 })) {
    if (tokens.length === 0) first = performance.now();
    tokens.push(tok as unknown as number);
    if (tokens.length > DECODE) break;
  }
  const decodeTokensPerSecond = (DECODE * 1000) / (performance.now() - first);
  await ctx.dispose();
  await model.dispose();
  return { engine: `llama.cpp (node-llama-cpp 3.21.1, CPU)`, file, threads, loadMs, prefill, decodeTokensPerSecond, peakRssMiB: process.resourceUsage().maxRSS / 1024, tokens };
}

function child(args: readonly string[]): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!) as Measure) : reject(new Error(`${args.join(" ")} exited with ${code}`))));
  });
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { engine: { type: "string" }, threads: { type: "string" }, quantize: { type: "string", multiple: true }, out: { type: "string" } } });
const threads = Number(values.threads ?? 2);
if (values.engine) {
  const m = values.engine === "llama" ? await llama(positionals[0]!, threads) : await moec(positionals[0]!, threads, values.quantize?.[0]);
  console.log(JSON.stringify(m));
} else {
  const all: Measure[] = [];
  for (const file of positionals) {
    for (const engine of ["llama", "moec"]) {
      console.error(`${engine} ${file}`);
      all.push(await child(["--engine", engine, "--threads", String(threads), file]));
      console.error(JSON.stringify(all[all.length - 1]));
    }
    for (const q of values.quantize ?? []) {
      if (!/F32/.test(file)) continue;
      console.error(`moec --quantize ${q} ${file}`);
      all.push(await child(["--engine", "moec", "--threads", String(threads), "--quantize", q, file]));
      console.error(JSON.stringify(all[all.length - 1]));
    }
  }
  if (values.out) writeFileSync(values.out, JSON.stringify(all, null, 1));
  console.log(JSON.stringify(all));
}
