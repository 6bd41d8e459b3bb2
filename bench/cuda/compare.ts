// Reads what bench/cuda/device.sh brought back (results-*.tar.gz, unpacked into one folder) and
// compares it here: each HF fixture's prompt logits, per-step decode logits and greedy
// continuation against transformers' (test/fixtures/hf), each quantized plan's against the
// reference interpreter over its dequantised weights (DIR/expect, from prepare.ts), the kernel
// test and sanitizer verdicts; then the MoE layer timings beside their peers of the same run.
//
//   node --experimental-strip-types bench/cuda/compare.ts PREPARED_DIR RESULTS_DIR [--markdown]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [prepared, results] = process.argv.slice(2);
if (!prepared || !results) throw new Error("usage: compare.ts PREPARED_DIR RESULTS_DIR");
const markdown = process.argv.includes("--markdown");
const HF = join("test", "fixtures", "hf");

function f32(file: string): Float32Array {
  const raw = readFileSync(file);
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
function rowwise(got: Float32Array, want: Float32Array, vocab: number): number {
  let worst = 0;
  for (let r = 0; (r + 1) * vocab <= Math.min(got.length, want.length); r++) worst = Math.max(worst, rel(got.subarray(r * vocab, (r + 1) * vocab), want.subarray(r * vocab, (r + 1) * vocab)));
  return worst;
}

// ---- parity -------------------------------------------------------------------------------------------
const rows: string[] = [];
let failures = 0;
const parity = join(results, "parity");
for (const id of existsSync(parity) ? readdirSync(parity).sort() : []) {
  const dir = join(parity, id);
  const fixture = readFileSync(join(prepared, "models", id, "fixture"), "utf8").trim();
  const rc = readFileSync(join(dir, "rc"), "utf8").trim().split("\n");
  if (rc.some((c) => c !== "0")) {
    failures++;
    rows.push(`| ${id} | FAILED (exit ${rc.join(", ")}): ${readFileSync(join(dir, "err.txt"), "utf8").trim().slice(0, 200)} | | | |`);
    continue;
  }
  const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { ids: number[] };
  const batch = JSON.parse(readFileSync(join(dir, "batch.json"), "utf8")) as { ids: number[]; batch_agrees: boolean };
  const meta = JSON.parse(readFileSync(join(HF, fixture, "meta.json"), "utf8")) as { greedy_continuation: number[]; logits_shape: [number, number] };
  const vocab = meta.logits_shape[1];
  const expectFile = join(prepared, "expect", `${id}.json`);
  let err: number;
  let stepErr: number | null = null;
  let want: number[];
  let against: string;
  const prompt = f32(join(dir, "prompt.f32"));
  if (existsSync(expectFile)) {
    const e = JSON.parse(readFileSync(expectFile, "utf8")) as { logits: number[]; ids: number[] };
    err = rel(prompt, e.logits);
    want = e.ids;
    against = "reference, dequantised weights";
  } else {
    err = rel(prompt, f32(join(HF, fixture, "logits.f32")));
    want = meta.greedy_continuation;
    against = "transformers";
    const gen = join(HF, fixture, "generate_logits.f32");
    if (existsSync(gen)) stepErr = rowwise(f32(join(dir, "steps.f32")), f32(gen), vocab);
  }
  const f32only = readFileSync(join(prepared, "models", id, "formats"), "utf8").trim() === "f32";
  const bound = f32only ? 1e-4 : 1e-2;
  const ok = err < bound && (stepErr === null || stepErr < bound) && JSON.stringify(run.ids) === JSON.stringify(want) && batch.batch_agrees && JSON.stringify(batch.ids) === JSON.stringify(want);
  if (!ok) failures++;
  rows.push(`| ${id} | ${against} | ${err.toExponential(2)} | ${stepErr === null ? "—" : stepErr.toExponential(2)} | ${ok ? "yes" : "NO"} (bound ${bound}) |`);
}
console.log(`| model | against | prompt logits rel. error | decode steps (worst row) | greedy tokens, batch of 3 and bound |\n| --- | --- | --- | --- | --- |\n${rows.join("\n")}`);
console.log(`\n${rows.length - failures} of ${rows.length} models agree`);

for (const f of ["kernel_test.txt", "sanitizer.txt"]) {
  const p = join(results, f);
  if (!existsSync(p)) continue;
  const lines = readFileSync(p, "utf8").trim().split("\n");
  console.log(`\n${f}: ${lines.filter((l) => !l.startsWith("PASS")).slice(-8).join("\n")}`);
}

// ---- benchmarks ---------------------------------------------------------------------------------------
interface Peer { peer: string; layer?: string; tokens?: number; mean_ms?: number; GBps?: number; TFLOPs?: number; mode?: string; error?: string; version?: string; name?: string; torch?: string }
const peers: Peer[] = existsSync(join(results, "peers.jsonl"))
  ? readFileSync(join(results, "peers.jsonl"), "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Peer)
  : [];
const readBw = peers.find((p) => p.peer === "read_bandwidth")?.GBps;
const mm = peers.find((p) => p.peer === "bf16_matmul")?.TFLOPs;
const layers = JSON.parse(readFileSync(join(prepared, "layers.json"), "utf8")) as { name: string; experts: number; k: number; d: number; ffn: number; shared: boolean }[];
for (const p of peers.filter((q) => q.error)) console.log(`peer ${p.peer} ${p.layer}: ${p.error}`);
console.log(`\nread bandwidth ${readBw?.toFixed(0)} GB/s, bf16 matmul ${mm?.toFixed(0)} TFLOP/s (${peers.find((p) => p.peer === "device")?.name}, torch ${peers.find((p) => p.peer === "device")?.torch})`);
for (const s of layers) {
  const file = join(results, `bench-${s.name}.jsonl`);
  if (!existsSync(file)) continue;
  const ours = readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { tokens: number; mean_ms: number });
  const expertBytes = 3 * s.d * s.ffn * 2;
  console.log(`\n### ${s.name}: ${s.experts} experts top-${s.k}${s.shared ? " + 1 shared" : ""}, ${s.d} → ${s.ffn}, bf16`);
  console.log(`| tokens | moec ms | % of read bandwidth (expected experts read) | TFLOP/s | torch._grouped_mm ms | moec speed-up | transformers ms | moec speed-up |\n| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const o of ours) {
    const T = o.tokens;
    // Experts a random routing touches on average, plus the shared one; the router weight.
    const distinct = s.experts * (1 - (1 - s.k / s.experts) ** T) + (s.shared ? 1 : 0);
    const bytes = distinct * expertBytes + s.experts * s.d * 2;
    const flops = 2 * T * (s.k + (s.shared ? 1 : 0)) * 3 * s.d * s.ffn;
    const g = peers.find((p) => p.peer === "grouped_mm" && p.layer === s.name && p.tokens === T && p.mean_ms);
    const t = peers.find((p) => p.peer === "transformers" && p.layer === s.name && p.tokens === T && p.mean_ms);
    const pct = readBw ? ((bytes / (o.mean_ms * 1e-3) / 1e9 / readBw) * 100).toFixed(0) : "—";
    console.log(`| ${T} | ${o.mean_ms.toFixed(4)} | ${pct}% | ${(flops / o.mean_ms / 1e9).toFixed(1)} | ${g ? g.mean_ms!.toFixed(4) : "—"} | ${g ? (g.mean_ms! / o.mean_ms).toFixed(2) + "×" : "—"} | ${t ? t.mean_ms!.toFixed(3) : "—"} | ${t ? (t.mean_ms! / o.mean_ms).toFixed(2) + "×" : "—"} |`);
  }
}

// ---- whole-model decode -------------------------------------------------------------------------------
const decodeFile = join(prepared, "decode.json");
const decodeModels = existsSync(decodeFile) ? (JSON.parse(readFileSync(decodeFile, "utf8")) as { name: string; hf: Record<string, number> }[]) : [];
const decodePeers = existsSync(join(results, "decode-peers.jsonl"))
  ? readFileSync(join(results, "decode-peers.jsonl"), "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { model: string; ms_per_token?: number; error?: string; experts_implementation?: string })
  : [];
if (decodeModels.some((dm) => existsSync(join(results, `decode-${dm.name}.json`)))) {
  console.log(`\n### Whole-model decode (bf16 weights, 32-token prompt, 64 decoded tokens)`);
  console.log(`| model | moec ms/token | bytes read per token (floor) | % of the bandwidth floor | transformers generate ms/token | moec speed-up |\n| --- | --- | --- | --- | --- | --- |`);
  for (const dm of decodeModels) {
    const f = join(results, `decode-${dm.name}.json`);
    const text = existsSync(f) ? readFileSync(f, "utf8").trim() : "";
    if (!text.startsWith("{")) {
      console.log(`| ${dm.name} | failed: ${readFileSync(join(results, `decode-${dm.name}.err`), "utf8").trim().slice(0, 200)} | | | | |`);
      continue;
    }
    const ours = JSON.parse(text) as { decode_ms: number; decode_steps: number };
    const ms = ours.decode_ms / ours.decode_steps;
    // The weights one token reads: attention projections, the router, k experts, lm_head (bf16).
    const h = dm.hf;
    const hd = h.head_dim ?? h.hidden_size / h.num_attention_heads;
    const attn = h.hidden_size * hd * (2 * h.num_attention_heads + 2 * h.num_key_value_heads);
    const experts = h.num_experts ?? h.num_local_experts;
    const ffn = h.moe_intermediate_size ?? h.intermediate_size;
    const perLayer = attn + h.hidden_size * experts + h.num_experts_per_tok * 3 * h.hidden_size * ffn;
    const bytes = 2 * (h.num_hidden_layers * perLayer + h.vocab_size * h.hidden_size);
    const floor = readBw ? bytes / (readBw * 1e9) * 1e3 : NaN;
    const peer = decodePeers.find((p) => p.model === dm.name);
    console.log(`| ${dm.name} | ${ms.toFixed(3)} | ${(bytes / 1e9).toFixed(2)} GB (${floor.toFixed(3)} ms) | ${((floor / ms) * 100).toFixed(0)}% | ${peer?.ms_per_token ? peer.ms_per_token.toFixed(2) : peer?.error ?? "—"} | ${peer?.ms_per_token ? (peer.ms_per_token / ms).toFixed(1) + "×" : "—"} |`);
  }
}
if (!markdown && failures) process.exitCode = 1;
