// Small inline-SVG chart helpers for `moec report`: a layer strip, horizontal stacked bars,
// vertical columns and a heatmap with a colour scale. Every piece of text goes through
// `esc`, so names from a model (which may contain `<`, `&` or quotes) cannot break the page.

/** Escapes text for HTML/SVG element content and double- or single-quoted attributes. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** 46_702_792_704 → "46.70 B"; small counts are written out with thousands separators. */
export function fmtCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)} K`;
  return n.toLocaleString("en-US");
}

/** Bytes in binary units: "1.50 KiB", "86.99 GiB". */
export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(2)} ${units[u]}`;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** Label every n-th of many narrow columns, n a round number (1, 2, 4, 5, 8, 10, 16, …) with ≥ minGap px between labels. */
function labelStep(cellWidth: number, minGap: number): number {
  const need = Math.ceil(minGap / Math.max(cellWidth, 1e-6));
  for (let base = 1; ; base *= 10) for (const m of [1, 2, 4, 5, 8]) if (m * base >= need) return m * base;
}

function svgOpen(width: number, height: number, label: string): string {
  return `<svg width="${r1(width)}" height="${r1(height)}" viewBox="0 0 ${r1(width)} ${r1(height)}" role="img" aria-label="${esc(label)}">`;
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${r1(x)}" y="${r1(y)}"${attrs ? " " + attrs : ""}>${esc(s)}</text>`;
}

/** Shortens a label to `max` characters with an ellipsis (the full text goes in a tooltip). */
function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(1, max - 1)) + "…";
}

// ---- layer strip ---------------------------------------------------------------------

export interface StripCell {
  /** Shown under the cell (e.g. the layer index). */
  readonly label: string;
  readonly fill: string;
  /** Tooltip. */
  readonly title: string;
  /** A short mark drawn inside the cell when there is room (e.g. "S" for sliding window). */
  readonly mark?: string;
}

export function layerStrip(cells: readonly StripCell[], opts: { width?: number; label?: string } = {}): string {
  const width = opts.width ?? 1100;
  const n = Math.max(1, cells.length);
  const cw = Math.max(4, Math.min(36, (width - 10) / n));
  const h = 26;
  const every = labelStep(cw, 24);
  const total = 10 + cw * n;
  const parts = [svgOpen(Math.max(total, 60), h + 22, opts.label ?? "layer strip")];
  cells.forEach((c, i) => {
    const x = 5 + i * cw;
    parts.push(`<g><title>${esc(c.title)}</title><rect x="${r1(x)}" y="2" width="${r1(Math.max(1, cw - 1.5))}" height="${h}" rx="2" fill="${esc(c.fill)}"/>`);
    if (c.mark && cw >= 12) parts.push(text(x + (cw - 1.5) / 2, 2 + h / 2 + 4, c.mark, `text-anchor="middle" font-size="10" fill="#fff"`));
    parts.push("</g>");
    if (i % every === 0) parts.push(text(x + (cw - 1.5) / 2, h + 16, c.label, `text-anchor="middle" font-size="10" fill="#444"`));
  });
  parts.push("</svg>");
  return parts.join("");
}

// ---- horizontal stacked bars ---------------------------------------------------------

export interface Series {
  readonly name: string;
  readonly color: string;
}

export interface BarRow {
  readonly label: string;
  /** One value per series, in series order. */
  readonly values: readonly number[];
  /** Drawn as a thin black tick on the bar (e.g. the active part). */
  readonly marker?: number;
  /** Text after the bar; default: the formatted total. */
  readonly note?: string;
}

export function legend(series: readonly Series[], extra: readonly { name: string; swatch: string }[] = []): string {
  const items = [
    ...series.map((s) => `<span class="key"><span class="sw" style="background:${esc(s.color)}"></span>${esc(s.name)}</span>`),
    ...extra.map((e) => `<span class="key">${e.swatch}${esc(e.name)}</span>`),
  ];
  return `<div class="legend">${items.join("")}</div>`;
}

export function barChart(rows: readonly BarRow[], series: readonly Series[], opts: { format: (v: number) => string; width?: number; label: string; labelWidth?: number }): string {
  const width = opts.width ?? 1100;
  const labelW = opts.labelWidth ?? 130;
  const noteW = 190;
  const barW = width - labelW - noteW;
  const rowH = 16;
  const gap = 4;
  const max = Math.max(1, ...rows.map((r) => r.values.reduce((a, b) => a + b, 0)));
  const height = rows.length * (rowH + gap) + 6;
  const parts = [svgOpen(width, height, opts.label)];
  rows.forEach((row, i) => {
    const y = 3 + i * (rowH + gap);
    const total = row.values.reduce((a, b) => a + b, 0);
    const tip = [`${row.label}: ${opts.format(total)}`, ...row.values.map((v, j) => (v > 0 ? `${series[j]?.name ?? j}: ${opts.format(v)}` : "")).filter(Boolean)];
    if (row.marker !== undefined) tip.push(`active: ${opts.format(row.marker)}`);
    parts.push(`<g><title>${esc(tip.join("\n"))}</title>`);
    parts.push(text(labelW - 6, y + rowH - 4, clip(row.label, Math.floor(labelW / 6.5)), `text-anchor="end" font-size="11" fill="#333"`));
    let x = labelW;
    row.values.forEach((v, j) => {
      if (v <= 0) return;
      const w = (v / max) * barW;
      parts.push(`<rect x="${r1(x)}" y="${y}" width="${r1(Math.max(w, 0.5))}" height="${rowH}" fill="${esc(series[j]?.color ?? "#999")}"/>`);
      x += w;
    });
    if (row.marker !== undefined && row.marker > 0) {
      const mx = labelW + (row.marker / max) * barW;
      parts.push(`<rect x="${r1(mx - 1)}" y="${y - 2}" width="2" height="${rowH + 4}" fill="#111"/>`);
    }
    parts.push(text(x + 6, y + rowH - 4, row.note ?? opts.format(total), `font-size="11" fill="#333"`));
    parts.push("</g>");
  });
  parts.push("</svg>");
  return parts.join("");
}

// ---- vertical columns ----------------------------------------------------------------

export interface Column {
  readonly label: string;
  readonly value: number;
  readonly title: string;
  readonly color?: string;
}

export function columnChart(cols: readonly Column[], opts: { format: (v: number) => string; width?: number; height?: number; label: string; color?: string }): string {
  const width = opts.width ?? 1100;
  const plotH = opts.height ?? 120;
  const axisW = 80;
  const n = Math.max(1, cols.length);
  const cw = Math.max(2, Math.min(40, (width - axisW - 10) / n));
  const max = Math.max(1, ...cols.map((c) => c.value));
  const every = labelStep(cw, 22);
  const total = axisW + cw * n + 10;
  const top = 8;
  const parts = [svgOpen(Math.max(total, 200), top + plotH + 22, opts.label)];
  parts.push(`<line x1="${axisW - 2}" y1="${top}" x2="${axisW - 2}" y2="${top + plotH}" stroke="#999"/>`);
  parts.push(`<line x1="${axisW - 2}" y1="${top + plotH}" x2="${r1(axisW + cw * n)}" y2="${top + plotH}" stroke="#999"/>`);
  parts.push(text(axisW - 6, top + 9, opts.format(max), `text-anchor="end" font-size="10" fill="#555"`));
  parts.push(text(axisW - 6, top + plotH, "0", `text-anchor="end" font-size="10" fill="#555"`));
  cols.forEach((c, i) => {
    const x = axisW + i * cw;
    const h = (c.value / max) * plotH;
    parts.push(`<g><title>${esc(c.title)}</title>`);
    if (c.value > 0) parts.push(`<rect x="${r1(x + 0.5)}" y="${r1(top + plotH - h)}" width="${r1(Math.max(1, cw - 1.5))}" height="${r1(Math.max(h, 0.5))}" fill="${esc(c.color ?? opts.color ?? "#4e79a7")}"/>`);
    else parts.push(`<rect x="${r1(x + 0.5)}" y="${top + plotH - 2}" width="${r1(Math.max(1, cw - 1.5))}" height="2" fill="#ccc"/>`);
    parts.push("</g>");
    if (i % every === 0) parts.push(text(x + cw / 2, top + plotH + 14, c.label, `text-anchor="middle" font-size="10" fill="#444"`));
  });
  parts.push("</svg>");
  return parts.join("");
}

// ---- heatmap -------------------------------------------------------------------------

// A perceptually ordered sequential scale (viridis, sampled at 9 stops).
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];

function hexToRgb(h: string): [number, number, number] {
  return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
}

/** The scale's colour at t in [0, 1]. */
export function scaleColor(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = hexToRgb(VIRIDIS[i]!);
  const b = hexToRgb(VIRIDIS[i + 1]!);
  const c = a.map((v, j) => Math.round(v + (b[j]! - v) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

export interface HeatmapOptions {
  readonly rowLabels: readonly string[];
  readonly colLabels: readonly string[];
  readonly rowTitle: string;
  readonly colTitle: string;
  readonly label: string;
  readonly width?: number;
  /** Tooltip of a cell. */
  readonly cellTitle?: (row: number, col: number, value: number) => string;
}

/**
 * values[row][col] as coloured cells, with axis labels and a colour bar. Every cell carries
 * `data-row`, `data-col` and `data-value` so tests and tools can read the numbers back.
 */
export function heatmap(values: readonly (readonly number[])[], opts: HeatmapOptions): string {
  const rows = values.length;
  const cols = Math.max(1, ...values.map((r) => r.length));
  const width = opts.width ?? 1100;
  const left = 78;
  const top = 34;
  const legendW = 90;
  const cw = Math.max(3, Math.min(44, (width - left - legendW - 10) / cols));
  const ch = Math.max(6, Math.min(24, 480 / Math.max(1, rows)));
  const max = Math.max(0, ...values.flat());
  const min = Math.min(max, ...values.flat());
  const plotW = cw * cols;
  const plotH = ch * rows;
  const W = left + plotW + legendW;
  const H = top + plotH + 34;
  const parts = [svgOpen(W, H, opts.label)];
  // axis titles
  parts.push(text(left + plotW / 2, 12, opts.colTitle, `text-anchor="middle" font-size="11" font-weight="600" fill="#333"`));
  parts.push(text(12, top + plotH / 2, opts.rowTitle, `text-anchor="middle" font-size="11" font-weight="600" fill="#333" transform="rotate(-90 12 ${r1(top + plotH / 2)})"`));
  // column labels
  const everyC = labelStep(cw, cols > 100 ? 26 : 20);
  opts.colLabels.forEach((l, c) => {
    if (c % everyC === 0) parts.push(text(left + c * cw + cw / 2, top - 6, l, `text-anchor="middle" font-size="10" fill="#444"`));
  });
  // row labels
  const everyR = labelStep(ch, 11);
  opts.rowLabels.forEach((l, r) => {
    if (r % everyR === 0) parts.push(text(left - 6, top + r * ch + ch / 2 + 3.5, clip(l, 11), `text-anchor="end" font-size="10" fill="#444"`));
  });
  const showNumbers = cw >= 26 && ch >= 14;
  values.forEach((row, r) => {
    // Layers with fewer experts than the widest: the missing columns are grey, not data.
    for (let c = row.length; c < cols; c++) {
      parts.push(`<rect class="na" x="${r1(left + c * cw)}" y="${r1(top + r * ch)}" width="${r1(cw)}" height="${r1(ch)}" fill="#eceef0" stroke="#fff" stroke-width="${cw >= 6 ? 0.5 : 0}"><title>${esc(`${opts.rowLabels[r] ?? r}: no expert ${c}`)}</title></rect>`);
    }
    row.forEach((v, c) => {
      const t = max > min ? (v - min) / (max - min) : max > 0 ? 1 : 0;
      const fill = scaleColor(t);
      const x = left + c * cw;
      const y = top + r * ch;
      const tip = opts.cellTitle ? opts.cellTitle(r, c, v) : `${opts.rowLabels[r] ?? r}, ${opts.colLabels[c] ?? c}: ${v}`;
      parts.push(`<rect class="cell" data-row="${r}" data-col="${c}" data-value="${v}" x="${r1(x)}" y="${r1(y)}" width="${r1(cw)}" height="${r1(ch)}" fill="${fill}" stroke="#fff" stroke-width="${cw >= 6 ? 0.5 : 0}"><title>${esc(tip)}</title></rect>`);
      if (showNumbers) parts.push(text(x + cw / 2, y + ch / 2 + 3.5, String(v), `text-anchor="middle" font-size="10" fill="${t > 0.6 ? "#111" : "#fff"}" pointer-events="none"`));
    });
  });
  // colour bar
  const lx = left + plotW + 24;
  const barH = Math.max(60, Math.min(plotH, 200));
  const id = `scale${Math.abs(hashString(opts.label))}`;
  parts.push(`<defs><linearGradient id="${id}" x1="0" y1="1" x2="0" y2="0">${VIRIDIS.map((c, i) => `<stop offset="${r1((i / (VIRIDIS.length - 1)) * 100)}%" stop-color="${c}"/>`).join("")}</linearGradient></defs>`);
  parts.push(`<rect x="${r1(lx)}" y="${top}" width="14" height="${r1(barH)}" fill="url(#${id})" stroke="#999" stroke-width="0.5"/>`);
  parts.push(text(lx + 18, top + 9, String(max), `font-size="10" fill="#444"`));
  parts.push(text(lx + 18, top + barH, String(min), `font-size="10" fill="#444"`));
  parts.push(text(lx, top + barH + 14, "tokens", `font-size="10" fill="#444"`));
  parts.push("</svg>");
  return parts.join("");
}

function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
