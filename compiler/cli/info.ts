// The human-readable `moec info` report: constants, structure, parameter counts, and a
// per-layer table.
import type { Graph, ModelStats } from "../index.js";

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 || c >= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd());
}

export function formatInfo(file: string, graph: Graph, stats: ModelStats): string {
  const lines: string[] = [];
  lines.push(`model ${graph.name}  (${file})`);
  const consts = Object.entries(graph.constants).map(([k, v]) => `${k}=${v}`);
  if (consts.length) lines.push(`  constants: ${consts.join(" ")}`);
  const layerRows = stats.layers.filter((l) => l.layer !== null);
  const dense = layerRows.filter((l) => l.kind === "dense").length;
  lines.push(`  layers: ${layerRows.length} (${stats.moeLayers} moe, ${dense} dense)`);
  const moe = layerRows.find((l) => l.kind === "moe");
  if (moe) lines.push(`  experts: ${moe.experts} per moe layer, ${moe.topK > 0 ? `top-${moe.topK}` : "expert-choice"} (first moe layer)`);
  lines.push(`  parameters: ${formatCount(stats.totalParams)} total, ${formatCount(stats.activeParams)} active per token (${formatCount(stats.activeParams - stats.embeddingParams)} without the input embedding table)`);
  lines.push("");
  const rows = [["layer", "kind", "attention", "experts", "top-k", "params", "active"]];
  for (const l of stats.layers) {
    rows.push([l.layer === null ? "-" : String(l.layer), l.kind, l.attention || "-", l.experts ? String(l.experts) : "-", l.topK ? String(l.topK) : "-", formatCount(l.totalParams), formatCount(l.activeParams)]);
  }
  lines.push(...table(rows).map((r) => "  " + r));
  lines.push("  (layer '-' holds what is outside the layer loop: embeddings, final norm, output head)");
  return lines.join("\n");
}
