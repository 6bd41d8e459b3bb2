// Several prompts at once from a model bundle: each prompt gets its own KV cache (a sequence
// slot), and every decode pass runs all of them together, so each layer's weights are read
// once per step for the whole batch instead of once per prompt.
//
//   node examples/node/batch.mjs DIR "1,2,3;4,5;6,7,8,9" [max-new-tokens]
//
// Prints one line per prompt: its new tokens.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, promptsArg = "1,2,3;4,5", maxArg = "8"] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node examples/node/batch.mjs BUNDLE_DIR ["1,2,3;4,5" — prompts separated by ;] [max new tokens]');
  process.exit(2);
}
const { loadModel, info } = await import(pathToFileURL(resolve(dir, "model.js")).href);
const prompts = promptsArg.split(";").map((p) => p.split(",").map(Number));

const model = await loadModel({ maxContext: 512, sequences: prompts.length });
console.error(`${info.model}: ${prompts.length} sequences, kernels: ${model.kernels}`);

const out = prompts.map(() => []);
const t0 = performance.now();
let steps = 0;
for await (const step of model.generateBatch(prompts, { maxNewTokens: Number(maxArg) })) {
  step.forEach((token, i) => token !== null && out[i].push(token));
  steps++;
}
const ms = performance.now() - t0;
await model.dispose();
for (const tokens of out) console.log(tokens.join(","));
console.error(`${steps} steps, ${out.reduce((n, t) => n + t.length, 0)} tokens in ${ms.toFixed(1)} ms`);
