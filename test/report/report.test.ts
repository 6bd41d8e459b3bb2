// `moec report`: the page is self-contained, has every section, its heatmap counts match an
// independent answer (every token picks exactly k experts per token-choice MoE layer), it
// is well-formed, escapes model strings, and renders in headless Chromium.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { reportCommand } from "../../compiler/cli/report-command.js";
import { modelStats, checkFile } from "../../compiler/index.js";
import { buildReport, renderReport, NO_QUANTIZATION, type Report } from "../../compiler/report/index.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { RunError } from "../../compiler/run/load.js";
import { fixture, ROOT } from "../helpers/compile.js";

const CHROMIUM = "/usr/bin/chromium";
const QWEN = fixture("hf", "qwen2_moe");
const MIXTRAL = join(ROOT, "examples", "mixtral-8x7b.moe");
const SECTIONS = ["structure", "params", "passes", "kernels", "quantization", "expert-load", "schedule"];

async function build(model: string, opts: { calibration?: string; randomWeights?: number } = {}): Promise<Report> {
  const r = await buildReport({ model, ...opts });
  if (!("html" in r)) throw new Error(`${model} does not check: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return r;
}

/** The heatmap cells as [row, col, value]. */
function cells(html: string): [number, number, number][] {
  return [...html.matchAll(/<rect class="cell" data-row="(\d+)" data-col="(\d+)" data-value="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

const VOID = new Set(["meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"]);

/** Checks every non-void element is closed in order (a small well-formedness check). */
function unbalanced(html: string): string | null {
  const body = html.replace(/<style>[\s\S]*?<\/style>/g, "").replace(/<!--[\s\S]*?-->/g, "").replace(/<!DOCTYPE[^>]*>/i, "");
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)\b[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    const tag = name!.toLowerCase();
    if (self || VOID.has(tag)) continue;
    if (!close) stack.push(tag);
    else if (stack.pop() !== tag) return `</${tag}> closes <${stack.length ? stack[stack.length - 1] : "nothing"}> near offset ${m.index}`;
  }
  return stack.length ? `unclosed: ${stack.join(" > ")}` : null;
}

function selfContained(html: string): void {
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:|\/\/|file:)/i);
  expect(html).not.toMatch(/@import|url\(\s*["']?(https?:|\/\/)/i);
  expect(html).not.toMatch(/https?:\/\//i);
}

describe("moec report", () => {
  let qwen: Report;
  let mixtral: Report;
  beforeAll(async () => {
    qwen = await build(QWEN);
    mixtral = await build(MIXTRAL);
  });

  it("is one self-contained page", () => {
    for (const r of [qwen, mixtral]) {
      selfContained(r.html);
      expect(r.html.startsWith("<!DOCTYPE html>")).toBe(true);
      expect(r.html).toContain("<style>");
    }
  });

  it("has every section", () => {
    for (const r of [qwen, mixtral]) {
      for (const id of SECTIONS) expect(r.html).toContain(`<section id="${id}">`);
      expect(r.html).toContain(NO_QUANTIZATION);
      expect(r.html).toMatch(/no multi-queue overlap schedule/);
      expect(r.html).toContain("<details>");
    }
    // Mixtral: 32 layer rows, all MoE with 8 experts, top-2.
    expect(mixtral.data.structure).toHaveLength(32);
    expect(mixtral.data.structure.every((l) => l.kind === "moe" && l.experts === 8 && l.topK === 2)).toBe(true);
    // Quantization: bits 32 for each of 32 × 8 experts, no invented errors.
    expect(mixtral.data.quantization).toHaveLength(256);
    expect(mixtral.data.quantization.every((q) => q.bits === 32)).toBe(true);
    expect(mixtral.html).not.toMatch(/measured error<\/th>[\s\S]*?\d\.\d+e-/);
  });

  it("counts parameters as modelStats does, and Mixtral's match the published 46.7 B / 12.9 B", async () => {
    const checked = await checkFile(MIXTRAL);
    const stats = modelStats(runPipeline(checked.graph!).graph);
    const p = mixtral.data.params;
    expect(p.rows.reduce((s, r) => s + r.total, 0)).toBe(stats.totalParams);
    expect(p.rows.reduce((s, r) => s + r.active, 0)).toBe(stats.activeParams);
    expect(Math.abs(p.totalParams / 46.7e9 - 1)).toBeLessThan(0.005);
    expect(Math.abs(p.activeParams / 12.9e9 - 1)).toBeLessThan(0.01);
    const q = qwen.data.params;
    expect(q.rows.reduce((s, r) => s + r.total, 0)).toBe(q.totalParams);
    expect(q.rows.reduce((s, r) => s + r.active, 0)).toBe(q.activeParams);
    // 8 experts of SwiGLU with d=64, ffn=32: 3 × 64 × 32 parameters each; a 64-wide shared expert.
    expect(q.moeLayers).toHaveLength(2);
    expect(q.moeLayers[0]!.experts.map((e) => e.params)).toEqual(new Array(8).fill(3 * 64 * 32));
    expect(q.moeLayers[0]!.sharedParams).toBe(3 * 64 * 64);
  });

  it("reports each pass and the plan's kernels with buffer reuse", () => {
    const passes = qwen.data.passes;
    expect(passes.map((p) => p.name)).toContain("dce");
    for (const p of passes) expect(qwen.html).toContain(`<code>${p.name}</code>`);
    const k = qwen.data.kernels;
    if ("error" in k) throw new Error(k.error);
    expect(k.slots).toBeLessThan(k.values);
    expect(k.steps).toBeGreaterThan(0);
    expect(k.groups.map((g) => g.label)).toEqual(["embedding", "layer 0", "layer 1", "head"]);
    expect(qwen.html).toMatch(/<details><summary><b>layer 0<\/b>/);
    expect(k.weightBytes).toBe(4 * qwen.data.params.totalParams);
  });

  it("keeps a tied output head in the head group of the kernel list", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-report-"));
    const src = readFileSync(fixture("moe", "tiny-mixtral.moe"), "utf8").replace('@ "lm_head"', '@ "model.embed_tokens"');
    writeFileSync(join(dir, "tied.moe"), src);
    const r = await build(join(dir, "tied.moe"));
    const k = r.data.kernels;
    if ("error" in k) throw new Error(k.error);
    expect(k.groups.map((g) => g.label)).toEqual(["embedding", "layer 0", "layer 1", "head"]);
    expect(k.groups[3]!.steps).toBe(2);
  });

  it("shows what a pass removed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-report-"));
    const file = join(dir, "dead.moe");
    writeFileSync(file, `model Dead {
  const vocab = 32, d = 16
  expert FFN(x: [T, d], ffn: int) -> [T, d] {
    return linear(silu(linear(x, ffn) @ "up"), d) @ "down"
  }
  input tokens: i32[seq]
  h = embed(tokens, vocab, d) @ "embed"
  for i in 0..2 {
    unused = linear(h, 8) @ "layers.{i}.dead"
    h = h + moe(rmsnorm(h, 1e-5) @ "layers.{i}.norm", experts = 4 of FFN(ffn = 8) @ "experts.{e}", router = topk(k = 2) @ "gate") @ "layers.{i}.mlp"
  }
  output logits = linear(h, vocab) @ "head"
}
`);
    const r = await build(file, { randomWeights: 1 });
    const dce = r.data.passes.find((p) => p.name === "dce")!;
    expect(dce.changed).toBe(true);
    // Two dead linear nodes, 8 × 16 weights each.
    expect(dce.before.nodes - dce.after.nodes).toBe(2);
    expect(dce.before.params - dce.after.params).toBe(2 * 8 * 16);
    expect(dce.before.weights - dce.after.weights).toBe(2);
    expect(r.html).toMatch(/linear \d+ → \d+/);
    // The heatmap of this model too: 2 layers × 4 experts, 64 tokens × k = 2 per layer.
    const got = cells(r.html);
    expect(got).toHaveLength(2 * 4);
    expect(got.reduce((s, [, , v]) => s + v, 0)).toBe(2 * 64 * 2);
  });

  it("draws a layers × experts heatmap whose counts sum to layers × tokens × k", () => {
    const c = qwen.data.calibration;
    if (!("run" in c)) throw new Error(c.skipped);
    const T = c.run.ids.length;
    expect(T).toBe(64);
    expect(qwen.html).toMatch(/64 pseudo-random token ids/);
    const got = cells(qwen.html);
    const layers = 2;
    const experts = 8;
    const k = 2;
    expect(got).toHaveLength(layers * experts);
    expect(new Set(got.map(([r, col]) => `${r},${col}`)).size).toBe(layers * experts);
    expect(got.reduce((s, [, , v]) => s + v, 0)).toBe(layers * T * k);
    for (let l = 0; l < layers; l++) expect(got.filter(([r]) => r === l).reduce((s, [, , v]) => s + v, 0)).toBe(T * k);
    // A colour scale and axis labels.
    expect(qwen.html).toContain("<linearGradient");
    expect(qwen.html).toMatch(/>MoE layer<\/text>/);
    expect(qwen.html).toMatch(/>expert<\/text>/);
  });

  it("says why the heatmap is absent when the model has no weights", () => {
    expect(cells(mixtral.html)).toHaveLength(0);
    expect("skipped" in mixtral.data.calibration).toBe(true);
    expect(mixtral.html).toMatch(/The model has no weights[^<]*no calibration run was made/);
  });

  it("reads calibration ids from a list or a file, and rejects ids outside the vocabulary", async () => {
    const r = await build(QWEN, { calibration: "1, 2 3,4" });
    const c = r.data.calibration;
    if (!("run" in c)) throw new Error(c.skipped);
    expect(c.run.ids).toEqual([1, 2, 3, 4]);
    expect(cells(r.html).reduce((s, [, , v]) => s + v, 0)).toBe(2 * 4 * 2);
    const dir = mkdtempSync(join(tmpdir(), "moec-report-"));
    const file = join(dir, "ids.txt");
    writeFileSync(file, Array.from({ length: 300 }, (_, i) => i % 256).join(" "));
    const f = await build(QWEN, { calibration: file });
    const fc = f.data.calibration;
    if (!("run" in fc)) throw new Error(fc.skipped);
    expect(fc.run.ids).toHaveLength(256);
    expect(f.html).toMatch(/the first 256 of 300/);
    await expect(buildReport({ model: QWEN, calibration: "1,999" })).rejects.toThrow(RunError);
    await expect(buildReport({ model: QWEN, calibration: "no-such-file.txt" })).rejects.toThrow(/neither a file nor a list of token ids/);
  });

  it("escapes every string from the model", async () => {
    const evil = { ...qwen.data, model: `<script>alert(1)</script>`, source: `a"b<c>&d` };
    const html = renderReport(evil);
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("a&quot;b&lt;c&gt;&amp;d");
    // Weight names with markup, through the whole pipeline (kernel list, tooltips).
    const dir = mkdtempSync(join(tmpdir(), "moec-report-"));
    const src = readFileSync(fixture("moe", "tiny-mixtral.moe"), "utf8").replace('@ "lm_head"', '@ "<i>evil</i>&\'x\'"');
    writeFileSync(join(dir, "evil.moe"), src);
    const r = await build(join(dir, "evil.moe"), { randomWeights: 3 });
    expect(r.html).not.toContain("<i>evil");
    expect(r.html).toContain("&lt;i&gt;evil&lt;/i&gt;&amp;&#39;x&#39;");
    expect(unbalanced(r.html)).toBeNull();
  });

  it("is well-formed: balanced svg and element tags", () => {
    for (const r of [qwen, mixtral]) {
      const open = (r.html.match(/<svg\b/g) ?? []).length;
      expect(open).toBeGreaterThan(0);
      expect((r.html.match(/<\/svg>/g) ?? []).length).toBe(open);
      expect(unbalanced(r.html)).toBeNull();
    }
  });

  it("the command writes the page atomically and explains bad input", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-report-"));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), color: false };
    const file = join(dir, "report.html");
    expect(await reportCommand.run(io, [QWEN], { output: file, calibration: "5,6,7" })).toBe(0);
    expect(readFileSync(file, "utf8")).toContain(`<section id="expert-load">`);
    expect(readdirSync(dir)).toEqual(["report.html"]);
    expect(out.join("\n")).toMatch(/expert load over 3 tokens/);
    expect(await reportCommand.run(io, [QWEN], { output: join(dir, "bad.html"), calibration: "1,99999" })).toBe(1);
    expect(err.join("\n")).toMatch(/outside the vocabulary/);
    expect(readdirSync(dir)).toEqual(["report.html"]);
    await expect(reportCommand.run(io, [QWEN], {})).rejects.toThrow(/needs -o/);
  });

  it.skipIf(!existsSync(CHROMIUM))("renders in headless Chromium (apt package 'chromium')", () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-report-shot-"));
    const page = join(dir, "qwen2_moe.html");
    const png = join(dir, "qwen2_moe.png");
    writeFileSync(page, qwen.html);
    const r = spawnSync(CHROMIUM, [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "profile")}`, `--screenshot=${png}`,
      "--window-size=1280,2000", "--hide-scrollbars", `file://${page}`,
    ], { encoding: "utf8", timeout: 90_000 });
    expect(existsSync(png), `chromium wrote no screenshot (status ${r.status}): ${r.stderr}`).toBe(true);
    console.log(`report screenshot: ${png}`);
    const bytes = readFileSync(png);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const { width, height, colours, nonBackground } = decodePng(bytes);
    expect([width, height]).toEqual([1280, 2000]);
    expect(statSync(png).size).toBeGreaterThan(60_000);
    // A blank page has one colour; the report has text, bars and a viridis heatmap.
    expect(colours).toBeGreaterThan(200);
    expect(nonBackground).toBeGreaterThan(0.1);
  });
});

if (!existsSync(CHROMIUM)) console.log(`skipping the headless-Chromium screenshot test: ${CHROMIUM} is not installed (apt-get install -y chromium)`);

/** Decodes an 8-bit RGB/RGBA PNG: its size, distinct colours, and the share of pixels unlike the most common one. */
function decodePng(buf: Buffer): { width: number; height: number; colours: number; nonBackground: number } {
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const depth = buf[24]!;
  const type = buf[25]!;
  if (depth !== 8 || (type !== 2 && type !== 6)) throw new Error(`unexpected PNG format: depth ${depth}, colour type ${type}`);
  const bpp = type === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let at = 8; at < buf.length; ) {
    const len = buf.readUInt32BE(at);
    const kind = buf.toString("latin1", at + 4, at + 8);
    if (kind === "IDAT") idat.push(buf.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[y * stride + x - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp]! : 0;
      let p: number;
      if (f === 0) p = 0;
      else if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (src[x]! + p) & 0xff;
    }
  }
  const counts = new Map<number, number>();
  for (let i = 0; i < px.length; i += bpp) {
    const key = (px[i]! << 16) | (px[i + 1]! << 8) | px[i + 2]!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = Math.max(...counts.values());
  return { width, height, colours: counts.size, nonBackground: 1 - top / (width * height) };
}
