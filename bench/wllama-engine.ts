// wllama (@wllama/wllama 3.8.1: llama.cpp's server context built for WASM) as a benchmark engine
// for bench/gguf-bench.ts: Debian's Chromium (through playwright-core) opens a localhost page
// served here with COOP/COEP headers (so the multi-threaded build can use SharedArrayBuffer),
// loads the GGUF file from the same server and runs raw completions on token ids. Prefill and
// decode speeds are llama.cpp's own timings (`timings.prompt_per_second`,
// `timings.predicted_per_second`), so page and message overheads are not counted against it;
// load time is the page's wall clock from fetching the file (from localhost) to `loadModel`
// returning. Peak memory is the browser's renderer process tree, read from /proc.
import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { dirname, join, normalize } from "node:path";
import type { Measure } from "./gguf-bench.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The page: everything runs in it; the result comes back through window.result. */
const PAGE = (threads: number, prefill: readonly number[], decode: number, prompt: string) => `<!doctype html><meta charset="utf-8"><script type="module">
import { Wllama } from "/wllama/index.js";
// wllama's completion takes text, not ids: "<tN>" is token N (see userDefinedTokens).
const ids = ${prompt};
const prompt = (n) => ids(n).map((t) => "<t" + t + ">").join("");
try {
  const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { logger: { debug() {}, log() {}, info() {}, warn: console.warn, error: console.error } });
  w.setCompat(null); // local assets, no CDN
  const t0 = performance.now();
  const blob = await (await fetch("/model.gguf")).blob();
  await w.loadModel([blob], { n_ctx: 512, n_batch: 256, n_threads: ${threads}, n_gpu_layers: 0 });
  const loadMs = performance.now() - t0;
  // The server context keeps the last prompt's cache and reuses a shared prefix (cache_prompt is
  // not honoured here), and these prompts share theirs: a one-token prompt of another token
  // before each measured run leaves nothing to reuse; prompt_n checks it.
  const complete = (text, n) => w.createCompletion({ prompt: text, max_tokens: n, temperature: 0, top_k: 1, ignore_eos: true, cache_prompt: false });
  const run = async (n, gen) => {
    await complete("<t3>", 1);
    const r = await complete(prompt(n), gen);
    if (r.timings.prompt_n !== n) throw new Error("a " + n + "-token prompt was evaluated as " + r.timings.prompt_n + " tokens");
    return r;
  };
  await run(8, 1); // warm
  const prefill = {};
  for (const n of ${JSON.stringify(prefill)}) prefill[n] = (await run(n, 1)).timings.prompt_per_second;
  const r = await run(16, ${decode + 1});
  window.result = { loadMs, prefill, decodeTokensPerSecond: r.timings.predicted_per_second, predicted: r.timings.predicted_n, multiThread: crossOriginIsolated, text: r.choices[0].text };
} catch (e) {
  window.result = { error: String(e && e.stack || e) };
}
</script>`;

/**
 * The benchmark GGUF files (bench/gguf_models.py) name token N "<tN>", as NORMAL tokens: text
 * cannot reach them. Served to wllama with every token's type set to USER_DEFINED (4), llama.cpp
 * matches "<tN>" in the text as token N, so a text prompt is exactly the ids the other engines get.
 * Only that metadata array changes (same length, same offsets); the weights are the file's bytes.
 * Returns the file's first bytes up to the end of that array, patched.
 */
function userDefinedTokens(file: string): Buffer {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(Math.min(statSync(file).size, 64 << 20));
    readSync(fd, head, 0, head.length, 0);
    const key = Buffer.from("tokenizer.ggml.token_type");
    const at = head.indexOf(key);
    if (at < 0) throw new Error(`${file}: no tokenizer.ggml.token_type in its first 64 MiB`);
    let o = at + key.length;
    if (head.readUInt32LE(o) !== 9 || head.readUInt32LE(o + 4) !== 5) throw new Error(`${file}: tokenizer.ggml.token_type is not an int32 array`);
    const n = Number(head.readBigUInt64LE(o + 8));
    o += 16;
    for (let i = 0; i < n; i++) head.writeInt32LE(4, o + 4 * i);
    return head.subarray(0, o + 4 * n);
  } finally {
    closeSync(fd);
  }
}

function serve(file: string, page: string): Promise<{ server: Server; url: string }> {
  const root = join(dirname(createRequire(import.meta.url).resolve("@wllama/wllama/package.json")), "esm");
  const types: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
  const server = createServer((req, res) => {
    const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cross-Origin-Resource-Policy": "same-origin" };
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/") return res.writeHead(200, { ...headers, "content-type": "text/html" }).end(page);
    if (path === "/model.gguf") {
      const head = userDefinedTokens(file);
      res.writeHead(200, { ...headers, "content-type": "application/octet-stream", "content-length": statSync(file).size });
      res.write(head);
      return createReadStream(file, { start: head.length }).pipe(res);
    }
    const local = path.startsWith("/wllama/") ? normalize(join(root, path.slice("/wllama/".length))) : null;
    if (!local || !local.startsWith(root)) return res.writeHead(404, headers).end();
    let size: number;
    try {
      size = statSync(local).size;
    } catch {
      return res.writeHead(404, headers).end();
    }
    const ext = local.slice(local.lastIndexOf("."));
    res.writeHead(200, { ...headers, "content-type": types[ext] ?? "application/octet-stream", "content-length": size });
    createReadStream(local).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
}

/** Resident memory of Chromium's processes (the renderer and its helpers), summed, sampled every 100 ms; the peak. */
function rssSampler(rootPid: number): { stop: () => number } {
  let peak = 0;
  const tree = (pid: number): number[] => {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
    return [pid, ...kids.flatMap(tree)];
  };
  const rss = (pid: number) => {
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  };
  const timer = setInterval(() => (peak = Math.max(peak, tree(rootPid).reduce((s, p) => s + rss(p), 0))), 100);
  return { stop: () => (clearInterval(timer), peak) };
}

export async function wllama(file: string, threads: number, prefill: readonly number[], decode: number, promptSrc: string): Promise<Measure> {
  const { chromium } = await import("playwright-core");
  const { server, url } = await serve(file, PAGE(threads, prefill, decode, promptSrc));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  // playwright-core's Browser does not expose its pid: it is the child of this process running chromium.
  const pid = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/).map(Number).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("chrom");
    } catch {
      return false;
    }
  }).pop() ?? 0;
  const sampler = rssSampler(pid);
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error(`wllama page: ${e.message}`));
    page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && console.error(`wllama page: ${m.text()}`));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 30 * 60_000, polling: 250 });
    const r = (await page.evaluate(() => (window as unknown as { result: unknown }).result)) as { error?: string; loadMs: number; prefill: Record<string, number>; decodeTokensPerSecond: number; predicted: number; multiThread: boolean };
    if (r.error) throw new Error(`wllama in Chromium: ${r.error}`);
    if (r.predicted !== decode + 1) throw new Error(`wllama: ${r.predicted} tokens were generated, not ${decode + 1}`);
    if (threads > 1 && !r.multiThread) throw new Error("wllama: the page is not cross-origin isolated, so the single-thread build ran");
    return { engine: `wllama 3.8.1 (Chromium ${browser.version()})`, file, threads, loadMs: r.loadMs, prefill: r.prefill, decodeTokensPerSecond: r.decodeTokensPerSecond, peakRssMiB: sampler.stop(), tokens: [] };
  } finally {
    sampler.stop();
    await browser.close();
    server.close();
  }
}
