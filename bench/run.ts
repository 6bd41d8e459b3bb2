// `npm run bench`: every benchmark of the WASM backend in one run, side by side with
// onnxruntime-node and onnxruntime-web, printed as markdown (BENCHMARKS.md holds a real run).
//
//   node --experimental-strip-types bench/run.ts [--quick] [--shapes olmoe,qwen3] [--skip-decode] [--wait-idle SECONDS] [--out FILE.md] [--json FILE.json]
//   node --experimental-strip-types bench/run.ts --render FILE.json     (re-render a saved run)
//
// Each MoE layer shape runs in its own child process (gigabytes of weights per engine, and
// onnxruntime-web fixes its thread count once per process): one process for moec at 1 and N
// threads, onnxruntime-node at 1 and N threads and onnxruntime-web at 1 thread, one more for
// onnxruntime-web at N threads. N = the machine's logical cores. The whole-model decode runs
// moec at 1 and N threads, and N threads with 4 sequences batched.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measureBandwidth, type Bandwidth } from "./bandwidth.ts";
import type { LayerReport } from "./moe-layer.ts";
import type { DecodeReport } from "./model-decode.ts";
import type { Stats } from "./timing.ts";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const log = (s: string) => console.error(s);

function child<T>(script: string, args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, here(script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${script} ${args.join(" ")} exited with ${code}`))));
  });
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? "unknown";
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(here(`../node_modules/${name}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function gitRev(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: here(".."),
      encoding: "utf8",
    }).trim();
  } catch {
    return "unknown";
  }
}

/** CPU ticks of the whole machine (/proc/stat) and of this process plus its finished children (/proc/self/stat). */
function cpuTicks(): { busy: number; total: number; ours: number } | null {
  try {
    const all = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = all[3]! + all[4]!;
    const total = all.slice(0, 8).reduce((a, b) => a + b, 0);
    const self = readFileSync("/proc/self/stat", "utf8");
    const f = self
      .slice(self.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number); // fields from 3 (state) on
    const ours = f[11]! + f[12]! + f[13]! + f[14]!; // utime stime cutime cstime
    return { busy: total - idle, total, ours };
  } catch {
    return null;
  }
}

/** Cores busy with other work over `seconds` (this process sleeps meanwhile). */
async function othersBusy(seconds: number): Promise<number | null> {
  const a = cpuTicks();
  await new Promise((r) => setTimeout(r, 1000 * seconds));
  const b = cpuTicks();
  if (!a || !b) return null;
  return ((b.busy - a.busy - (b.ours - a.ours)) / (b.total - a.total)) * availableParallelism();
}

/** Waits (up to `maxSeconds`) until other processes use less than a third of a core, so timings are not shared. */
async function waitIdle(maxSeconds: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const busy = await othersBusy(3);
    if (busy === null || busy < 0.34) return;
    if (performance.now() - t0 > 1000 * maxSeconds) {
      log(`the machine is still busy (${busy.toFixed(2)} cores used by others); benchmarking anyway`);
      return;
    }
    log(`waiting for an idle machine: ${busy.toFixed(2)} cores used by other processes`);
  }
}

const ms = (s: Stats | undefined) => (s ? s.median.toFixed(2) : "—");
const spread = (s: Stats | undefined) => (s ? `${s.median.toFixed(2)} (${s.p10.toFixed(2)}–${s.p90.toFixed(2)})` : "—");
const x = (v: number | null) => (v === null || !Number.isFinite(v) ? "—" : `${v.toFixed(2)}×`);
const pct = (v: number | null) => (v === null ? "—" : `${(100 * v).toFixed(0)}%`);
const gb = (b: number) => (b / 1e9).toFixed(1);

/** The fastest of an engine family (e.g. every onnxruntime-web thread count) at T tokens. */
function best(engines: LayerReport["engines"], prefix: string, T: number): { t: Stats; label: string } | null {
  let b: { t: Stats; label: string } | null = null;
  for (const e of engines) {
    const t = e.times[T];
    if (e.engine.startsWith(prefix) && t && (!b || t.median < b.t.median)) b = { t, label: e.label };
  }
  return b;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      shapes: { type: "string" },
      "skip-decode": { type: "boolean", default: false },
      "wait-idle": { type: "string" },
      out: { type: "string" },
      json: { type: "string" },
      render: { type: "string" },
    },
  });
  if (values.render) {
    // Re-render a saved run (--json) without measuring anything.
    const saved = JSON.parse(readFileSync(values.render, "utf8")) as Omit<Results, "decode"> & { decode: Results["decode"] | DecodeReport | null };
    // Older runs saved one decode report, or null with --skip-decode.
    const decode = saved.decode === null ? [] : Array.isArray(saved.decode) ? saved.decode : [{ ...saved.decode, threads: 1, batch: 1 }];
    const md = render({ ...saved, decode });
    console.log(md);
    if (values.out) writeFileSync(values.out, md + "\n");
    return;
  }
  const quick = values.quick!;
  const seconds = quick ? "0.3" : "1";
  const threads = Math.max(2, availableParallelism());
  if (values["wait-idle"]) await waitIdle(Number(values["wait-idle"]));
  const started = new Date();
  const wall0 = performance.now();
  const load0 = loadavg();
  const ticks0 = cpuTicks();

  log(`measuring memory bandwidth ...`);
  // Bandwidth is measured before, between and after the engine runs, since other processes on
  // a shared machine take some of it at times; the floors use the best of these samples.
  const samples: Bandwidth[] = [];
  const sampleBandwidth = async () => {
    const b = await measureBandwidth(512, quick ? 3 : 5);
    samples.push(b);
    log(`  bandwidth: 1 thread ${gb(b.oneThread)} GB/s, ${b.threads} threads ${gb(b.multiThread)} GB/s`);
  };
  await sampleBandwidth();

  const shapes = values.shapes?.split(",") ?? (quick ? ["olmoe"] : ["olmoe", "qwen3"]);
  const layers: LayerReport[] = [];
  for (const shape of shapes) {
    const main = await child<LayerReport>("./moe-layer.ts", [
      "--shape",
      shape,
      "--seconds",
      seconds,
      "--engines",
      `moec,moec:${threads},ort-node:1,ort-node:${threads},ort-web:1`,
    ]);
    const web = await child<LayerReport>("./moe-layer.ts", ["--shape", shape, "--seconds", seconds, "--engines", `ort-web:${threads}`]);
    layers.push({ ...main, engines: [...main.engines, ...web.engines] });
    await sampleBandwidth();
  }
  const decode: DecodeReport[] = [];
  if (!values["skip-decode"]) {
    for (const [t, b] of [
      [1, 1],
      [threads, 1],
      [threads, 4],
    ] as const) {
      decode.push(await child<DecodeReport>("./model-decode.ts", ["--tokens", quick ? "12" : "48", "--threads", String(t), "--batch", String(b)]));
    }
  }
  await sampleBandwidth();
  const bw: Bandwidth = {
    bufferMiB: samples[0]!.bufferMiB,
    threads: samples[0]!.threads,
    oneThread: Math.max(...samples.map((b) => b.oneThread)),
    multiThread: Math.max(...samples.map((b) => b.multiThread)),
  };
  const load1 = loadavg();
  const ticks1 = cpuTicks();
  const cores = availableParallelism();
  const others = ticks0 && ticks1 ? Math.max(0, (ticks1.busy - ticks0.busy - (ticks1.ours - ticks0.ours)) / (ticks1.total - ticks0.total)) * cores : null;
  const results: Results = {
    machine: {
      cpu: cpuModel(),
      cores,
      memoryGiB: totalmem() / 2 ** 30,
      node: `${process.version} (V8 ${process.versions.v8})`,
      onnxruntime: `${pkgVersion("onnxruntime-node")} / ${pkgVersion("onnxruntime-web")}`,
      started: started.toISOString(),
      commit: gitRev(),
      othersCores: others,
      load: [load0, load1],
      threads,
    },
    bandwidth: bw,
    bandwidthSamples: samples,
    layers,
    decode,
    wallSeconds: (performance.now() - wall0) / 1000,
  };
  const md = render(results);
  console.log(md);
  if (values.out) writeFileSync(values.out, md + "\n");
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
}

export interface Results {
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly node: string;
    readonly onnxruntime: string;
    readonly started: string;
    readonly commit: string;
    /** Mean cores used by other processes during the run. */
    readonly othersCores: number | null;
    readonly load: readonly [readonly number[], readonly number[]];
    /** The N of the N-thread onnxruntime runs. */
    readonly threads: number;
  };
  readonly bandwidth: Bandwidth;
  readonly bandwidthSamples: readonly Bandwidth[];
  readonly layers: readonly LayerReport[];
  readonly decode: readonly DecodeReport[];
  readonly wallSeconds: number;
}

export function render(res: Results): string {
  const { machine: mc, bandwidth: bw, bandwidthSamples: samples, layers, decode } = res;
  const threads = mc.threads;
  const L: string[] = [];
  L.push(`## Machine`, ``);
  L.push(`| | |`, `| --- | --- |`);
  L.push(`| CPU | ${mc.cpu} |`);
  L.push(`| logical cores | ${mc.cores} |`);
  L.push(`| memory | ${mc.memoryGiB.toFixed(0)} GiB |`);
  L.push(`| Node | ${mc.node} |`);
  L.push(`| onnxruntime-node / -web | ${mc.onnxruntime} |`);
  L.push(`| date | ${mc.started} |`);
  L.push(`| moec commit | ${mc.commit} (plus the working tree) |`);
  L.push(
    `| CPU used by other processes during the run | ${mc.othersCores === null ? "unknown" : `${mc.othersCores.toFixed(2)} of ${mc.cores} cores on average (/proc/stat minus this run's own CPU time)`} |`,
  );
  L.push(`| load average before / after | ${mc.load.map((l) => l.map((v) => v.toFixed(2)).join(" ")).join(" / ")} |`);
  L.push(
    `| engine settings | onnxruntime-node: CPU EP, intraOpNumThreads 1 or ${threads}, interOpNumThreads 1, sequential, all graph optimisations, expert weights as external data (ORT memory-maps them); onnxruntime-web: wasm EP, env.wasm.numThreads 1 or ${threads} (its default in Node here would be 1), SIMD; moec: plan + runtime on 1 thread, or on ${threads} (worker_threads over a shared memory; big matmuls split by columns) |`,
  );
  L.push(`| moec kernels | ${layers[0]?.engines.find((e) => e.engine === "moec")?.label ?? "—"}; ${layers[0]?.engines.find((e) => e.engine === `moec:${threads}`)?.label ?? "—"} |`);
  L.push(``);
  L.push(`## Memory bandwidth`, ``);
  L.push(
    `WASM SIMD streaming read over a ${bw.bufferMiB} MiB buffer, best pass of ${samples.length} samples taken before, between and after the engine runs: **${gb(bw.oneThread)} GB/s on 1 thread**, ${gb(bw.multiThread)} GB/s on ${bw.threads} threads (samples, 1 thread: ${samples.map((b) => gb(b.oneThread)).join(", ")}; ${bw.threads} threads: ${samples.map((b) => gb(b.multiThread)).join(", ")} GB/s). Floors below use the best figure for the thread count they are compared with.`,
  );
  L.push(``);

  for (const r of layers) {
    L.push(`## ${r.label}: ${r.experts} experts, top-${r.k}, hidden ${r.hidden}, expert width ${r.inter} (float32)`, ``);
    L.push(`Output checks before timing (max |Δ| / max |ref|; float64 reference on 5 tokens, moec on a 16-token batch):`);
    L.push(``);
    for (const e of r.engines)
      L.push(
        `- ${e.label}: vs float64 ${e.errVsFloat64.toExponential(1)}${e.errVsMoec === null ? "" : `, vs moec ${e.errVsMoec.toExponential(1)}`}${e.ok ? "" : " — **FAILED, not timed**"}`,
      );
    L.push(``);
    const cols = r.engines.map((e) => e.label);
    L.push(`Median ms per call (p10–p90):`, ``);
    L.push(`| tokens | ${cols.join(" | ")} |`);
    L.push(`| ---: | ${cols.map(() => "---:").join(" | ")} |`);
    for (const T of [1, 16, 64, 256]) L.push(`| ${T} | ${r.engines.map((e) => spread(e.times[T])).join(" | ")} |`);
    L.push(``);
    L.push(
      `| tokens | moec 1 thread ms | moec ${threads} threads ms | 1 thread: vs ORT-web | vs ORT-node | best thread counts: vs ORT-web | vs ORT-node | floor ms, 1 / ${threads} threads | moec at % of floor, 1 / ${threads} threads |`,
    );
    L.push(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
    const one = (prefix: string, T: number) => r.engines.find((q) => q.engine === `${prefix}:1` || q.engine === prefix)?.times[T] ?? null;
    const many = (T: number) => r.engines.find((q) => q.engine === `moec:${threads}`)?.times[T] ?? null;
    for (const T of [1, 16, 64, 256]) {
      const m1 = one("moec", T);
      const mb = best(r.engines, "moec", T)?.t ?? null;
      const ratio = (m: Stats | null, o: Stats | null | undefined) => (m && o ? o.median / m.median : null);
      const touched = r.expertsTouched[T] ?? r.k;
      const bytes = 4 * r.experts * r.hidden + touched * 4 * 3 * r.hidden * r.inter + 2 * 4 * T * r.hidden;
      const floor1 = (1000 * bytes) / bw.oneThread;
      const floorN = (1000 * bytes) / bw.multiThread;
      const mN = many(T);
      L.push(
        `| ${T} | ${ms(m1 ?? undefined)} | ${ms(mN ?? undefined)} | ${x(ratio(m1, one("ort-web", T)))} | ${x(ratio(m1, one("ort-node", T)))} | ${x(ratio(mb, best(r.engines, "ort-web", T)?.t))} | ${x(ratio(mb, best(r.engines, "ort-node", T)?.t))} | ${floor1.toFixed(2)} / ${floorN.toFixed(2)} | ${pct(m1 ? floor1 / m1.median : null)} / ${pct(mN ? floorN / mN.median : null)} |`,
      );
    }
    L.push(``);
    L.push(
      `Speed-up = the peer's median ÷ moec's (above 1: moec is faster), each at 1 thread, then each at its best thread count. Floor = bytes the call must read (router, the ${r.k} chosen experts at decode, the ${Object.entries(
        r.expertsTouched,
      )
        .filter(([t]) => t !== "1")
        .map(([t, n]) => `${n} experts the ${t}-token batch touches`)
        .join(", ")}, input and output) ÷ ${gb(bw.oneThread)} GB/s on 1 thread or ${gb(bw.multiThread)} GB/s on ${threads}; prefill is compute-bound, so its floor is only a bound.`,
    );
    L.push(``);
  }

  if (decode.length > 0) {
    L.push(`## Whole-model decode (moec only)`, ``);
    const d0 = decode[0]!;
    const c = d0.config;
    L.push(
      `${c.layers} layers, d ${c.d}, ${c.heads} heads (MHA), ${c.experts} SwiGLU experts of width ${c.ffn}, top-${c.k}, vocabulary ${c.vocab}: ${(d0.params / 1e9).toFixed(2)} B parameters (${(d0.weightBytes / 2 ** 30).toFixed(2)} GiB float32), random weights (seed 1). Prompt ${d0.prompt} tokens per sequence, then ${d0.tokens} greedy decode steps; a batched run decodes its sequences together, one token each per pass.`,
    );
    L.push(``);
    L.push(`| kernels | sequences | prefill ms | ms per step (p10–p90) | tokens/s | bytes per step | floor ms/step | moec at % of floor |`);
    L.push(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
    for (const d of decode) {
      // A batched step reads the union of its sequences' experts: no single floor, so none is given.
      const floorMs = d.batch === 1 ? (1000 * d.stepBytes) / (d.threads > 1 ? bw.multiThread : bw.oneThread) : null;
      L.push(
        `| ${d.kernels} | ${d.batch} | ${d.prefillMs.toFixed(0)} | ${spread(d.step)} | ${d.tokensPerSecond.toFixed(1)} | ${d.batch === 1 ? `${(d.stepBytes / 1e6).toFixed(0)} MB` : "—"} | ${floorMs === null ? "—" : floorMs.toFixed(1)} | ${floorMs === null ? "—" : pct(floorMs / d.step.median)} |`,
      );
    }
    L.push(``);
  }

  // The issue's targets: moec and each peer on one thread, then each at its best thread count.
  L.push(`## Targets`, ``);
  L.push(`| target | layer | 1 thread each | met | best thread count each | met |`, `| --- | --- | ---: | :---: | ---: | :---: |`);
  const yes = (v: number | null, t: number) => (v === null ? "—" : v >= t ? "yes" : "no");
  for (const r of layers) {
    const moec = r.engines.find((e) => e.engine === "moec");
    const speedup = (T: number, family: string, oneThread: boolean) => {
      const m = oneThread ? moec?.times[T] : best(r.engines, "moec", T)?.t;
      const peer = oneThread ? r.engines.find((e) => e.engine === `${family}:1`)?.times[T] : best(r.engines, family, T)?.t;
      return m && peer ? peer.median / m.median : null;
    };
    const row = (what: string, T: number, family: string, target: number) => {
      const a = speedup(T, family, true);
      const b = speedup(T, family, false);
      L.push(`| ${what} | ${r.label} | ${x(a)} | ${yes(a, target)} | ${x(b)} | ${yes(b, target)} |`);
    };
    row("decode ≥ 2× onnxruntime-web", 1, "ort-web", 2);
    row("decode ≥ 0.8× onnxruntime-node", 1, "ort-node", 0.8);
    const m1 = moec?.times[1];
    const mN = r.engines.find((e) => e.engine === `moec:${threads}`)?.times[1];
    const floor = m1 ? (1000 * r.decodeBytes) / bw.oneThread / m1.median : null;
    const floorN = mN ? (1000 * r.decodeBytes) / bw.multiThread / mN.median : null;
    L.push(`| decode ≥ 60% of the bandwidth floor | ${r.label} | ${pct(floor)} | ${yes(floor, 0.6)} | ${pct(floorN)} (${threads} threads) | ${yes(floorN, 0.6)} |`);
    for (const T of [16, 64, 256]) row(`prefill ${T} tokens ≥ 1.5× onnxruntime-web`, T, "ort-web", 1.5);
  }
  L.push(``);
  L.push(`Total benchmark time ${res.wallSeconds.toFixed(0)} s.`);

  return L.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
