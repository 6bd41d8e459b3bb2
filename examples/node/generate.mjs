// Runs a model bundle written by `moec compile --target wasm -o DIR` from a Node script —
// what an app embedding moec does. Only the bundle is imported: no compiler, no binaryen.
//
//   node examples/node/generate.mjs DIR [ids] [max-new-tokens]
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, idsArg = "1,2,3,4", maxArg = "8"] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node examples/node/generate.mjs BUNDLE_DIR [ids like 1,2,3] [max new tokens]");
  process.exit(2);
}
const { loadModel, info } = await import(pathToFileURL(resolve(dir, "model.js")).href);
const ids = idsArg.split(",").map(Number);

const controller = new AbortController();
process.once("SIGINT", () => controller.abort());

const started = performance.now();
const model = await loadModel({
  maxContext: 512,
  onProgress: ({ loadedBytes, totalBytes }) => {
    if (process.stderr.isTTY) process.stderr.write(`\rloading ${info.model}: ${Math.round((100 * loadedBytes) / totalBytes)}%`);
  },
});
if (process.stderr.isTTY) process.stderr.write("\n");
console.error(`${info.model}: ${(info.totalParams / 1e6).toFixed(2)} M parameters, kernels: ${model.kernels}, loaded in ${(performance.now() - started).toFixed(0)} ms`);

const out = [];
const t0 = performance.now();
for await (const token of model.generate(ids, { maxNewTokens: Number(maxArg), signal: controller.signal })) out.push(token);
const ms = performance.now() - t0;
console.log(out.join(","));
console.error(`${out.length} tokens in ${ms.toFixed(1)} ms`);
