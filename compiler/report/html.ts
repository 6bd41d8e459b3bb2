// The report page: one HTML file with inline CSS and inline SVG — no scripts, fonts, images
// or links outside the page. Every string that comes from the model goes through `esc`.
import {
  BYTES_PER_PARAM, CATEGORIES, NO_QUANTIZATION, type CalibrationRun, type KernelReport, type LayerRow, type MoeLayerInfo, type PassRow, type ReportData,
} from "./data.js";
import { barChart, columnChart, esc, fmtBytes, fmtCount, heatmap, layerStrip, legend, type Series, type StripCell } from "./svg.js";

const COLORS: Record<(typeof CATEGORIES)[number], string> = {
  embedding: "#9c755f",
  attention: "#4e79a7",
  norms: "#bab0ac",
  "dense linear": "#f28e2b",
  router: "#e15759",
  "shared experts": "#b07aa1",
  "routed experts": "#59a14f",
};
const MOE_COLOR = "#4e79a7";
const DENSE_COLOR = "#f28e2b";

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2328; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 60px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header .meta { color: #57606a; margin: 0 0 12px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 8px 0 16px; font-size: 13px; }
nav a { color: #0b5cad; text-decoration: none; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 14px 18px 16px; margin: 16px 0; overflow-x: auto; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 8px 14px; min-width: 150px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: #57606a; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid #e5e8eb; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { color: #57606a; font-weight: 600; white-space: nowrap; }
.nw { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; padding-right: 14px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; font-size: 12px; }
.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: 8px 12px; margin: 8px 0; }
.muted { color: #57606a; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0; font-size: 12px; }
.key { display: inline-flex; align-items: center; gap: 5px; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
details { margin: 4px 0; }
details > summary { cursor: pointer; padding: 3px 0; }
details > summary .muted { font-size: 12px; }
tr.h td { color: #57606a; font-style: italic; }
tr.d1 td.op { padding-left: 18px; }
tr.d2 td.op { padding-left: 36px; }
.chart { margin: 6px 0 10px; }
`;

/** A table of HTML cells (already escaped); `numeric` columns align right, `nowrap` ones do not wrap. */
function table(head: readonly string[], rows: readonly (readonly string[])[], { numeric = [], nowrap = [] }: { numeric?: readonly number[]; nowrap?: readonly number[] } = {}): string {
  const cls = (i: number) => {
    const c = [numeric.includes(i) ? "n" : "", nowrap.includes(i) ? "nw" : ""].filter(Boolean).join(" ");
    return c ? ` class="${c}"` : "";
  };
  const th = head.map((h, i) => `<th${cls(i)}>${h}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${c}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const count = (n: number) => esc(n.toLocaleString("en-US"));
const bytes = (params: number) => esc(fmtBytes(params * BYTES_PER_PARAM));

function ranges(layers: readonly (number | null)[]): string {
  const nums = layers.filter((l): l is number => l !== null);
  if (nums.length === 0) return "—";
  const out: string[] = [];
  let start = nums[0]!;
  let prev = start;
  for (const l of [...nums.slice(1), NaN]) {
    if (l === prev + 1) {
      prev = l;
      continue;
    }
    out.push(start === prev ? `${start}` : `${start}–${prev}`);
    start = prev = l;
  }
  return out.join(", ");
}

// ---- 0. header -----------------------------------------------------------------------

function header(d: ReportData): string {
  const p = d.params;
  const moeLayers = d.structure.filter((l) => l.kind === "moe").length;
  const cards: [string, string][] = [
    [fmtCount(p.totalParams), "parameters"],
    [fmtCount(p.activeParams), "active per token"],
    [fmtBytes(p.totalParams * BYTES_PER_PARAM), "weights at float32"],
    [`${d.structure.length}`, "layers"],
    [`${moeLayers}`, "MoE layers"],
  ];
  const constants = Object.entries(d.constants).map(([k, v]) => [`<code>${esc(k)}</code>`, `<code>${esc(String(v))}</code>`]);
  return `<header>
<h1>${esc(d.model)}</h1>
<p class="meta">moec report · model <code>${esc(d.source)}</code> · weights: ${esc(d.weights)}</p>
<div class="cards">${cards.map(([v, k]) => `<div class="card"><div class="v">${esc(v)}</div><div class="k">${esc(k)}</div></div>`).join("")}</div>
<nav>${[
    ["structure", "1. Layer structure"], ["params", "2. Parameters and memory"], ["passes", "3. Passes"], ["kernels", "4. Kernels"],
    ["quantization", "5. Quantization"], ["expert-load", "6. Expert load"], ["schedule", "7. Overlap schedule"],
  ].map(([id, t]) => `<a href="#${id}">${t}</a>`).join("")}</nav>
${constants.length ? `<details><summary>Model constants <span class="muted">(${constants.length})</span></summary>${table(["constant", "value"], constants)}</details>` : ""}
</header>`;
}

// ---- 1. structure --------------------------------------------------------------------

function structure(d: ReportData): string {
  const cells: StripCell[] = d.structure.map((l) => ({
    label: String(l.layer),
    fill: l.kind === "moe" ? MOE_COLOR : DENSE_COLOR,
    title: `layer ${l.layer}: ${l.kind}, attention ${l.attention}${l.kind === "moe" ? `, ${l.expertGroups}, ${l.router.join(", ")}` : ""}`,
    ...(l.attention.includes("window") ? { mark: "W" } : l.attention.startsWith("mla") ? { mark: "M" } : {}),
  }));
  const marks = [
    ...(cells.some((c) => c.mark === "W") ? ["W = sliding-window attention"] : []),
    ...(cells.some((c) => c.mark === "M") ? ["M = multi-head latent attention"] : []),
  ];
  const cols = (l: LayerRow) => [
    esc(l.attention),
    l.kind === "moe" ? "<b>moe</b>" : "dense",
    l.kind === "moe" ? esc(l.expertGroups) : "—",
    l.kind !== "moe" ? "—" : l.choice === "expert" ? `<span class="muted">expert choice</span>` : String(l.topK),
    l.kind === "moe" ? esc(l.router.join(", ")) : "—",
  ];
  // Runs of consecutive layers that look the same, then one row per layer.
  const runs: { first: number; last: number; row: LayerRow; key: string }[] = [];
  for (const l of d.structure) {
    const key = JSON.stringify(cols(l));
    const prev = runs[runs.length - 1];
    if (prev && prev.key === key && prev.last === l.layer - 1) prev.last = l.layer;
    else runs.push({ first: l.layer, last: l.layer, row: l, key });
  }
  const head = ["attention", "kind", "experts", "top-k", "router"];
  const runTable = table(["layers", "count", ...head], runs.map((r) => [r.first === r.last ? String(r.first) : `${r.first}–${r.last}`, String(r.last - r.first + 1), ...cols(r.row)]), { numeric: [1, 5], nowrap: [0, 1, 2, 3, 4, 5] });
  const perLayer = table(["layer", ...head], d.structure.map((l) => [String(l.layer), ...cols(l)]), { numeric: [0, 4], nowrap: [0, 1, 2, 3, 4] });
  return `<section id="structure"><h2>1. Layer structure</h2>
${d.structure.length ? `<div class="chart">${layerStrip(cells, { label: "layers: dense or MoE" })}</div>
${legend([{ name: "MoE layer", color: MOE_COLOR }, { name: "dense layer", color: DENSE_COLOR }], marks.length ? [{ name: marks.join(", "), swatch: "" }] : [])}` : `<p class="muted">The model has no layer loop.</p>`}
${d.structure.length > 16 && runs.length < d.structure.length ? `${runTable}\n<details><summary>One row per layer <span class="muted">(${d.structure.length} layers)</span></summary>${perLayer}</details>` : perLayer}
</section>`;
}

// ---- 2. parameters -------------------------------------------------------------------

function params(d: ReportData): string {
  const p = d.params;
  const totals = [
    ["total", p.totalParams],
    ["total without the embedding table", p.totalParams - p.embeddingParams],
    ["active per token", p.activeParams],
    ["active per token without the embedding table", p.activeParams - p.embeddingParams],
    ["embedding table", p.embeddingParams],
  ] as const;
  const series: Series[] = CATEGORIES.map((c) => ({ name: c, color: COLORS[c] }));
  const chart = barChart(
    p.rows.map((r) => ({ label: r.label, values: r.params.map((v) => v * BYTES_PER_PARAM), marker: r.active * BYTES_PER_PARAM, note: `${fmtBytes(r.total * BYTES_PER_PARAM)} (active ${fmtBytes(r.active * BYTES_PER_PARAM)})` })),
    series,
    { format: fmtBytes, label: "bytes per layer at float32" },
  );
  const layerRows = p.rows.map((r) => [esc(r.label), ...r.params.map((v) => (v ? count(v) : `<span class="muted">0</span>`)), count(r.total), bytes(r.total), count(r.active)]);
  return `<section id="params"><h2>2. Parameters and memory</h2>
${table(["", "parameters", "bytes at float32"], totals.map(([k, v]) => [esc(k), count(v), bytes(v)]), { numeric: [1, 2] })}
<p class="muted">Active per token: dense weights, routers, shared experts and <i>k</i> routed experts per MoE layer (the largest expert kind when experts differ); the whole embedding table counts as active, as most publishers count it. Tied weights are counted once.</p>
<h3>Bytes per layer (float32)</h3>
${legend(series, [{ name: "active per token", swatch: `<span class="sw" style="background:#111;width:3px"></span>` }])}
<div class="chart">${chart}</div>
<details><summary>Parameters per layer by category <span class="muted">(table)</span></summary>
${table(["layer", ...CATEGORIES.map(esc), "total", "bytes", "active"], layerRows, { numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] })}
</details>
${perExpert(p.moeLayers)}
</section>`;
}

function perExpert(moe: readonly MoeLayerInfo[]): string {
  if (moe.length === 0) return `<h3>Bytes per expert</h3><p class="muted">The model has no MoE layers.</p>`;
  // Layers with the same experts, router and shared expert share one chart.
  const groups: { key: string; layers: MoeLayerInfo[] }[] = [];
  for (const l of moe) {
    const key = JSON.stringify([l.experts.map((e) => [e.kind, e.def, e.params]), l.routerParams, l.sharedParams]);
    const g = groups.find((x) => x.key === key);
    if (g) g.layers.push(l);
    else groups.push({ key, layers: [l] });
  }
  const parts = [`<h3>Bytes per expert (float32)</h3>`];
  for (const g of groups) {
    const l = g.layers[0]!;
    const cols = l.experts.map((e) => ({
      label: String(e.index),
      value: e.params * BYTES_PER_PARAM,
      title: `expert ${e.index} (${e.kind === "ffn" ? (e.def ?? "ffn") : e.kind}): ${e.params.toLocaleString("en-US")} parameters, ${fmtBytes(e.params * BYTES_PER_PARAM)}`,
      ...(e.kind !== "ffn" ? { color: "#bab0ac" } : {}),
    }));
    if (l.sharedParams > 0) cols.push({ label: "shared", value: l.sharedParams * BYTES_PER_PARAM, title: `shared expert: ${l.sharedParams.toLocaleString("en-US")} parameters, ${fmtBytes(l.sharedParams * BYTES_PER_PARAM)}`, color: COLORS["shared experts"] });
    const layerNames = g.layers.length === 1 && l.layer === null ? esc(l.name) : `layer${g.layers.length > 1 ? "s" : ""} ${esc(ranges(g.layers.map((x) => x.layer)))}`;
    const kinds = new Map<string, { count: number; params: number }>();
    for (const e of l.experts) {
      const k = e.kind === "ffn" ? (e.def ?? "ffn") : e.kind;
      const v = kinds.get(k) ?? { count: 0, params: e.params };
      v.count++;
      kinds.set(k, v);
    }
    const rows = [...kinds].map(([k, v]) => [esc(k), count(v.count), count(v.params), bytes(v.params), bytes(v.params * v.count)]);
    rows.push([`router`, "1", count(l.routerParams), bytes(l.routerParams), bytes(l.routerParams)]);
    if (l.sharedParams > 0) rows.push(["shared expert", "1", count(l.sharedParams), bytes(l.sharedParams), bytes(l.sharedParams)]);
    parts.push(`<h3 class="muted" style="font-weight:500">${layerNames}${g.layers.length > 1 ? ` <span class="muted">(${g.layers.length} layers, identical experts)</span>` : ""}</h3>
<div class="chart">${columnChart(cols, { format: fmtBytes, label: `bytes per expert, ${layerNames}`, color: COLORS["routed experts"], height: 90 })}</div>
${table(["expert", "count", "parameters each", "bytes each", "bytes in all"], rows, { numeric: [1, 2, 3, 4] })}`);
  }
  return parts.join("\n");
}

// ---- 3. passes -----------------------------------------------------------------------

function passes(rows: readonly PassRow[]): string {
  if (rows.length === 0) return `<section id="passes"><h2>3. Passes</h2><p class="muted">No pass ran.</p></section>`;
  const arrow = (a: number, b: number, f: (n: number) => string = count) => (a === b ? `${f(a)} <span class="muted">(unchanged)</span>` : `${f(a)} → ${f(b)} <b>(${b > a ? "+" : "−"}${f(Math.abs(b - a))})</b>`);
  const body = rows.map((r) => {
    const ops = new Set([...Object.keys(r.before.ops), ...Object.keys(r.after.ops)]);
    const diff = [...ops].filter((o) => (r.before.ops[o] ?? 0) !== (r.after.ops[o] ?? 0)).map((o) => `${esc(o)} ${r.before.ops[o] ?? 0} → ${r.after.ops[o] ?? 0}`);
    return [
      `<code>${esc(r.name)}</code>`,
      esc(r.summary),
      arrow(r.before.nodes, r.after.nodes),
      arrow(r.before.bodyNodes, r.after.bodyNodes),
      arrow(r.before.params, r.after.params),
      arrow(r.before.weights, r.after.weights),
      r.changed ? (diff.length ? diff.join("<br>") : "rewired, same op counts") : `<span class="muted">no change</span>`,
    ];
  });
  return `<section id="passes"><h2>3. Passes</h2>
<p class="muted">The pipeline ran on the checked graph; each row compares the graph before and after the pass.</p>
${table(["pass", "what it does", "nodes", "nodes in expert bodies", "parameters", "weight tensors", "ops changed"], body)}
</section>`;
}

// ---- 4. kernels ----------------------------------------------------------------------

function kernels(k: KernelReport | { error: string }): string {
  if ("error" in k) return `<section id="kernels"><h2>4. Kernels</h2><p class="note">The graph could not be lowered to a plan: ${esc(k.error)}</p></section>`;
  const saved = k.valueBytesPerToken > 0 ? (1 - k.slotBytesPerToken / k.valueBytesPerToken) * 100 : 0;
  const summary = [
    ["plan steps", count(k.steps)],
    ["steps inside expert and shared-expert bodies", `${count(k.bodySteps)} <span class="muted">(run once per chosen expert over its tokens)</span>`],
    ["activation values → buffer slots", `${count(k.values)} values share ${count(k.slots)} slots (reused by liveness)`],
    ["activation bytes per token row", `${esc(fmtBytes(k.valueBytesPerToken))} if every value had its own buffer → ${esc(fmtBytes(k.slotBytesPerToken))} in slots (${esc(saved.toFixed(1))}% less)`],
    ["weights", `${count(k.weights)} tensors, ${esc(fmtBytes(k.weightBytes))} at float32`],
    ["KV caches", `${count(k.caches)}, ${esc(fmtBytes(k.kvBytesPerToken))} per token of context`],
    ["ops", k.ops.map(([o, n]) => `<code>${esc(o)}</code> ${n}`).join(" · ")],
  ];
  const groups = k.groups.map((g) => {
    const rows = g.rows.map((r) => `<tr class="d${Math.min(r.depth, 2)}${r.heading ? " h" : ""}"><td class="n">${r.index ?? ""}</td><td class="op"><code>${esc(r.op)}</code></td><td><code>${esc(r.io)}</code></td><td>${r.heading ? esc(r.detail) : `<code>${esc(r.detail)}</code>`}</td></tr>`);
    const inner = g.rows.filter((r) => r.depth > 0 && !r.heading).length;
    return `<details><summary><b>${esc(g.label)}</b> <span class="muted">— ${g.steps} step${g.steps === 1 ? "" : "s"}${inner ? ` + ${inner} inside expert bodies` : ""}</span></summary>
<table><thead><tr><th class="n">#</th><th>op</th><th>in → out (T = tokens)</th><th>details and weights</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table></details>`;
  });
  return `<section id="kernels"><h2>4. Kernels</h2>
${table(["", ""], summary.map(([a, b]) => [esc(a!), b!]))}
<h3>Steps by layer</h3>
${groups.join("\n")}
</section>`;
}

// ---- 5. quantization -----------------------------------------------------------------

function quantization(d: ReportData): string {
  const q = d.quantization;
  const rows = q.map((r) => [
    r.layer === null ? "—" : String(r.layer),
    r.first === r.last ? String(r.first) : `${r.first}–${r.last}`,
    esc(r.kind),
    r.bits > 0 ? `${r.bits} <span class="muted">(float32)</span>` : `<span class="muted">no weights</span>`,
    `<span class="muted">not measured: not quantized</span>`,
  ]);
  const tbl = table(["layer", "expert", "kind", "bits", "measured error"], rows, { numeric: [0] });
  if (d.quantized) return `<section id="quantization"><h2>5. Quantization</h2>${quantized(d.quantized.json, d.quantized.target)}</section>`;
  return `<section id="quantization"><h2>5. Quantization</h2>
<p class="note">${esc(NO_QUANTIZATION)} (pass --quantize SCHEME to see a scheme's formats and its measured error).</p>
${q.length === 0 ? `<p class="muted">The model has no experts.</p>` : q.length <= 32 ? tbl : `<details><summary>Bits per expert <span class="muted">(${q.length} rows)</span></summary>${tbl}</details>`}
</section>`;
}

type QJson = {
  scheme: string; bitsPerWeight: number; formats: Record<string, { tensors: number; bytes: number }>;
  fallbacks?: { name: string; format: string; why: string }[];
  mixed?: { budget: number; expertBitsPerWeight: number; others: string; experts: { label: string; tokens: number; format: string; bits: number; error: readonly number[] }[] };
  error: { skipped: string } | { calibration: string; tokens: number; logitsRelativeError: number; top1Agreement: number; routingChanged: number; layers: { label: string; relativeError: number; routingChanged: number }[] };
};

/** The quantized plan (quantJson of compiler/quant/run.ts): formats, the mixed choice, and the error against float32. */
function quantized(json: Record<string, unknown>, target: string): string {
  const q = json as unknown as QJson;
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const parts = [`<p>Weight-only quantization <b>${esc(q.scheme)}</b>: ${q.bitsPerWeight.toFixed(3)} bits per quantized weight (scales included), planned for ${esc(target)}.</p>`];
  parts.push(table(["format", "tensors", "bytes"], Object.entries(q.formats).map(([f, v]) => [esc(f), String(v.tensors), bytes(v.bytes)]), { numeric: [1, 2] }));
  if (q.fallbacks?.length) parts.push(`<details><summary>Fallbacks <span class="muted">(${q.fallbacks.length})</span></summary>${table(["weight", "format", "why"], q.fallbacks.map((f) => [esc(f.name), esc(f.format), esc(f.why)]))}</details>`);
  if ("skipped" in q.error) parts.push(`<p class="note">Error not measured: ${esc(q.error.skipped)}.</p>`);
  else {
    const e = q.error;
    parts.push(`<p>Against the float32 plan on ${esc(e.calibration)}: logits relative error <b>${e.logitsRelativeError.toExponential(2)}</b>, top-1 agreement <b>${pct(e.top1Agreement)}</b>, routing decisions changed <b>${pct(e.routingChanged)}</b>.</p>`);
    parts.push(table(["MoE layer", "output relative error", "routing changed"], e.layers.map((l) => [esc(l.label), l.relativeError.toExponential(2), pct(l.routingChanged)]), { numeric: [1, 2] }));
  }
  if (q.mixed) {
    const m = q.mixed;
    const tbl = table(["expert", "calibration tokens", "format", "bits"], m.experts.map((x) => [esc(x.label), String(x.tokens), esc(x.format), x.bits.toFixed(2)]), { numeric: [1, 3] });
    parts.push(`<p>Mixed precision under a budget of ${m.budget} bits per weight: experts at ${m.expertBitsPerWeight.toFixed(3)} on average, other weights ${esc(m.others)}.</p>`);
    parts.push(m.experts.length <= 32 ? tbl : `<details><summary>Format per expert <span class="muted">(${m.experts.length} rows)</span></summary>${tbl}</details>`);
  }
  return parts.join("\n");
}

// ---- 6. expert load ------------------------------------------------------------------

function expertLoad(d: ReportData): string {
  const c = d.calibration;
  if ("skipped" in c) return `<section id="expert-load"><h2>6. Expert load</h2><p class="note">${esc(c.skipped)}</p></section>`;
  return `<section id="expert-load"><h2>6. Expert load</h2>${loadBody(c.run)}</section>`;
}

function loadBody(r: CalibrationRun): string {
  const T = r.ids.length;
  const cols = Math.max(0, ...r.load.map((row) => row.length));
  const map = heatmap(r.load, {
    rowLabels: r.layers.map((l) => l.label),
    colLabels: Array.from({ length: cols }, (_, i) => String(i)),
    rowTitle: "MoE layer",
    colTitle: "expert",
    label: "expert load heatmap: tokens routed to each expert",
    cellTitle: (row, col, v) => {
      const sum = r.load[row]!.reduce((a, b) => a + b, 0);
      return `${r.layers[row]?.label ?? row}, expert ${col}: ${v} token${v === 1 ? "" : "s"}${sum ? ` (${((100 * v) / sum).toFixed(1)}% of the layer's assignments)` : ""}`;
    },
  });
  const rows = r.load.map((row, i) => {
    const l = r.layers[i]!;
    const sum = row.reduce((a, b) => a + b, 0);
    const mean = sum / Math.max(1, row.length);
    const max = Math.max(...row);
    const expected = l.choice === "token" ? `${T} × ${l.k} = ${T * l.k}` : "— (expert choice)";
    return [esc(l.label), count(sum), expected, count(max), count(Math.min(...row)), String(row.filter((v) => v === 0).length), mean > 0 ? (max / mean).toFixed(2) : "—"];
  });
  const total = r.load.flat().reduce((a, b) => a + b, 0);
  return `
<p>Calibration input: ${esc(r.source)}. The plan ran once over them on the <code>${esc(r.kernels)}</code> kernels; each cell counts the tokens the router sent to that expert (${count(total)} assignments in all).</p>
<div class="chart">${map}</div>
<details><summary>Load per layer <span class="muted">(table)</span></summary>
${table(["layer", "assignments", "expected (tokens × k)", "busiest expert", "idlest expert", "idle experts", "max / mean"], rows, { numeric: [1, 3, 4, 5, 6] })}
</details>
<details><summary>Calibration token ids</summary><p class="mono">${esc(r.ids.join(", "))}</p></details>`;
}

// ---- page ----------------------------------------------------------------------------

export function renderReport(d: ReportData): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moec report — ${esc(d.model)}</title>
<style>${CSS}</style>
</head>
<body><main>
${header(d)}
${structure(d)}
${params(d)}
${passes(d.passes)}
${kernels(d.kernels)}
${quantization(d)}
${expertLoad(d)}
<section id="schedule"><h2>7. Overlap schedule</h2><p>${esc(d.schedule)}</p></section>
<p class="muted">Generated by moec. Sizes are float32; counts and charts come from the graph after the pass pipeline.</p>
</main></body>
</html>
`;
}
