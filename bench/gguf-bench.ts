// moec against llama.cpp (node-llama-cpp 3.21.1: native llama.cpp, its CPU build) on the same GGUF
// files, side by side in one run: load time, prefill of 16/64/256 tokens, greedy decode of 32
// tokens after a 16-token prompt, and peak resident memory — each engine in its own process,
// with the same thread count, engines alternating file by file and round by round (--repeat N),
// so that ratios pair measurements taken moments apart on a machine shared with other work.
// llama.cpp runs with its defaults (flash attention, F16 key/value cache), as its users run it.
// The summary (markdown, on stderr and in --md FILE) gives each engine's rounds, and moec/llama.cpp
// per round, and how many of the greedy tokens the two engines share from the start.
// Also moec on an F32 file with --quantize SCHEME (weight-only, quantized as it loads).
//
//   node --experimental-strip-types bench/gguf-bench.ts [--threads N] [--repeat N] [--out FILE.json] [--md FILE.md] [--quantize S]... FILE.gguf...
//   node --experimental-strip-types bench/gguf-bench.ts --engine moec|llama|wllama FILE.gguf [--quantize S]   (one measurement, JSON on stdout)
//   --wllama adds wllama 3.8.1 (llama.cpp in WASM, in Debian's Chromium: bench/wllama-engine.ts) to every round.
//   node --experimental-strip-types bench/gguf-bench.ts --summarize OUT.json   (the tables from a run's --out file)
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
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
  /** The machine's 1-minute load average as the measurement ended (other work on the same cores). */
  readonly load1?: number;
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

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const span = (xs: readonly number[]) => (xs.length === 1 ? fmt(xs[0]!) : `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`);
const shared = (a: readonly number[], b: readonly number[]) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

/** One markdown table per file: each measure as the range over rounds, moec/llama.cpp as the range of per-round ratios. */
function summary(all: readonly (Measure & { round: number })[]): string {
  const lines: string[] = [];
  const cols: [string, (m: Measure) => number, boolean][] = [
    ["load s", (m) => m.loadMs / 1000, false],
    ...PREFILL.map((n): [string, (m: Measure) => number, boolean] => [`prefill ${n} tok/s`, (m) => m.prefill[n]!, true]),
    ["decode tok/s", (m) => m.decodeTokensPerSecond, true],
    ["peak RSS MiB", (m) => m.peakRssMiB, false],
    ["load average", (m) => m.load1 ?? NaN, false],
  ];
  for (const file of [...new Set(all.map((m) => m.file))]) {
    lines.push(`\n${file}\n`, `| engine | ${cols.map((c) => c[0]).join(" | ")} | greedy tokens shared with llama.cpp |`, `|---|${cols.map(() => "---:|").join("")}---|`);
    const rows = all.filter((m) => m.file === file);
    const ll = rows.filter((m) => m.engine.startsWith("llama"));
    for (const key of [...new Set(rows.map((m) => m.engine + (m.quantize ? ` --quantize ${m.quantize}` : "")))]) {
      const ms = rows.filter((m) => m.engine + (m.quantize ? ` --quantize ${m.quantize}` : "") === key);
      const tok = !key.startsWith("moec") ? "" : ms.map((m) => `${shared(m.tokens, ll.find((l) => l.round === (m as { round: number }).round)?.tokens ?? [])}/${m.tokens.length}`).join(", ");
      lines.push(`| ${key} | ${cols.map((c) => span(ms.map(c[1]))).join(" | ")} | ${tok} |`);
      if (!key.startsWith("moec")) continue;
      for (const [peer, prs] of [["llama.cpp", ll], ["wllama", rows.filter((m) => m.engine.startsWith("wllama"))]] as const) {
        if (prs.length === 0) continue;
        const ratio = (c: (m: Measure) => number) => span(ms.flatMap((m) => { const l = prs.find((x) => x.round === (m as { round: number }).round); return l ? [c(m) / c(l)] : []; }));
        lines.push(`| ↳ moec / ${peer}, per round | ${cols.map((c) => ratio(c[1]) + "×").join(" | ")} | |`);
      }
    }
  }
  return lines.join("\n");
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { engine: { type: "string" }, wllama: { type: "boolean" }, threads: { type: "string" }, repeat: { type: "string" }, quantize: { type: "string", multiple: true }, out: { type: "string" }, md: { type: "string" }, summarize: { type: "string" } } });
const threads = Number(values.threads ?? 2);
if (values.summarize) {
  // The tables again from a run's --out file (written after every measurement, so a cut-short run keeps what it measured).
  console.log(summary(JSON.parse(readFileSync(values.summarize, "utf8")) as (Measure & { round: number })[]));
} else if (values.engine) {
  const m =
    values.engine === "llama"
      ? await llama(positionals[0]!, threads)
      : values.engine === "wllama"
        ? await (await import("./wllama-engine.ts")).wllama(positionals[0]!, threads, PREFILL, DECODE, prompt.toString())
        : await moec(positionals[0]!, threads, values.quantize?.[0]);
  console.log(JSON.stringify(m));
} else {
  const all: (Measure & { round: number })[] = [];
  const run = async (round: number, args: string[]) => {
    console.error(`round ${round}: ${args.join(" ")}`);
    const m = { ...(await child(args)), round, load1: loadavg()[0]! };
    all.push(m);
    console.error(JSON.stringify(m));
    if (values.out) writeFileSync(values.out, JSON.stringify(all, null, 1));
  };
  for (let round = 1; round <= Number(values.repeat ?? 1); round++) {
    for (const file of positionals) {
      // Which engine goes first alternates, so neither always runs on a page cache the other warmed.
      const engines = round % 2 ? ["llama", "moec"] : ["moec", "llama"];
      if (values.wllama) engines.splice(round % 2, 0, "wllama");
      for (const engine of engines) await run(round, ["--engine", engine, "--threads", String(threads), file]);
      if (/F32/.test(file)) for (const q of values.quantize ?? []) await run(round, ["--engine", "moec", "--threads", String(threads), "--quantize", q, file]);
    }
  }
  const md = summary(all);
  console.error(md);
  if (values.md) writeFileSync(values.md, md + "\n");
  console.log(JSON.stringify(all));
}
