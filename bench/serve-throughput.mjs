// moec serve throughput: the same 32 streaming completion requests (greedy, 32 tokens each),
// sent all at once to a server batching them over its sequence slots, and sent one at a time
// (each waits for the previous reply). Both in one run, on the same server and model.
//   npm run build && node bench/serve-throughput.mjs [MODEL_DIR] [TOKENIZER_DIR] [SLOTS]
// Default model: test/fixtures/hf/qwen3_moe with the 256-token fixture tokenizer.
import { cpus } from "node:os";
import { join } from "node:path";
const root = join(import.meta.dirname, "..");
const { openTextModel } = await import(join(root, "dist/compiler/run/text-model.js"));
const { createMoecServer } = await import(join(root, "dist/compiler/serve/server.js"));

const [model = join(root, "test/fixtures/hf/qwen3_moe"), tokenizer = join(root, "test/fixtures/text/tiny"), slotsArg = "16"] = process.argv.slice(2);
const slots = Number(slotsArg);
const N = 32, TOKENS = 32;
const tm = await openTextModel(model, { tokenizer, sequences: slots, maxContext: 128, target: "wasm", threads: 1 });
const srv = createMoecServer(tm, { maxQueue: N });
await new Promise((r) => srv.server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${srv.server.address().port}/v1/completions`;

async function one(i) {
  const res = await fetch(url, { method: "POST", body: JSON.stringify({ prompt: `request ${i}: the quick brown fox`, max_tokens: TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }) });
  const text = await res.text();
  const usage = JSON.parse(text.split("\n\n").filter((l) => l.includes('"usage"')).pop().slice(6)).usage;
  return usage.completion_tokens;
}

await one(-1); // warm up
let t = performance.now();
let tokens = 0;
for (let i = 0; i < N; i++) tokens += await one(i);
const serialMs = performance.now() - t;
const serialTokens = tokens;
t = performance.now();
tokens = (await Promise.all(Array.from({ length: N }, (_, i) => one(i)))).reduce((a, b) => a + b, 0);
const batchedMs = performance.now() - t;
await srv.close();
await tm.model.dispose();
const rate = (n, ms) => ((n * 1000) / ms).toFixed(0);
console.log(`machine: ${cpus().length} × ${cpus()[0].model}; node ${process.version}; model ${tm.name} (${model}); ${slots} slots, WASM kernels, 1 thread`);
console.log(`${N} requests × ${TOKENS} tokens`);
console.log(`one at a time: ${serialTokens} tokens in ${serialMs.toFixed(0)} ms = ${rate(serialTokens, serialMs)} tokens/s`);
console.log(`all at once (continuous batching): ${tokens} tokens in ${batchedMs.toFixed(0)} ms = ${rate(tokens, batchedMs)} tokens/s (${(serialMs / batchedMs).toFixed(2)}× )`);
