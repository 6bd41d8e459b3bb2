// A compiled bundle (`moec compile MODEL --target wasm -o DIR`) loaded as an app loads it (only
// the bundle's model.js: no compiler), then greedy decoding: load time, decode tokens/s after a
// 16-token prompt, peak resident memory, and whether a 64-bit memory (Memory64) was needed.
//
//   node --experimental-strip-types bench/bundle-decode.ts DIR [--tokens 32] [--threads 2]
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { tokens: { type: "string" }, threads: { type: "string" }, ids: { type: "string" } } });
const dir = positionals[0];
if (!dir) {
  console.error("usage: node --experimental-strip-types bench/bundle-decode.ts DIR [--tokens 32] [--threads 2]");
  process.exit(2);
}
const tokens = Number(values.tokens ?? 32);
const t0 = performance.now();
const { loadModel, info } = (await import(pathToFileURL(resolve(dir, "model.js")).href)) as {
  loadModel: (o: { maxContext: number; threads?: number }) => Promise<{ kernels: string; generate: (ids: number[], o: { maxNewTokens: number }) => AsyncIterable<number>; dispose: () => Promise<void> }>;
  info: { model: string; totalParams: number };
};
const model = await loadModel({ maxContext: 512, threads: Number(values.threads ?? 2) });
const loadMs = performance.now() - t0;
// gguf-bench.ts's prompt by default, so the tokens can be compared with its runs.
const prompt = values.ids ? values.ids.split(",").map(Number) : Array.from({ length: 16 }, (_, i) => 100 + ((i * 7919) % 30000));
const out: number[] = [];
let first = 0;
for await (const t of model.generate(prompt, { maxNewTokens: tokens + 1 })) {
  if (out.length === 0) first = performance.now();
  out.push(t);
}
const decodeTokensPerSecond = (tokens * 1000) / (performance.now() - first);
console.log(JSON.stringify({ bundle: dir, model: info.model, params: info.totalParams, kernels: model.kernels, loadMs: Math.round(loadMs), decodeTokensPerSecond: Number(decodeTokensPerSecond.toFixed(3)), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), tokens: out }));
await model.dispose();
