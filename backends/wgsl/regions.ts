// The address space of runtime/memory.ts on GPU buffers. One storage binding may span at most
// `maxStorageBufferBindingSize` bytes (128 MiB on lavapipe, 2 GiB on most discrete GPUs), so
// the space is cut into regions, each one GPU buffer that is bound whole; a kernel's pointer
// resolves to (region, word offset) at launch. Cuts fall between tensors — weights, KV
// caches, activation slots, scratch — so every tensor lies inside one region; the weights
// never share a region with the rest. A tensor larger than the limit is cut between rows of
// its first dimension (a stacked expert tensor [E, …] between experts; those pieces are
// listed in `split`, and each kernel call reads one expert's slice); a single row larger than
// the limit cannot be bound and is refused, naming the tensor and the limit.
import type { DeviceRequest } from "../../runtime/device.js";
import { weightBytes } from "../../runtime/plan/formats.js";

export interface Region {
  readonly start: number;
  readonly end: number;
}

export interface RegionMap {
  readonly regions: readonly Region[];
  /** Weights cut into pieces (name, pieces), for messages and --json. */
  readonly split: readonly { name: string; pieces: number }[];
}

export class BindingLimitError extends Error {
  override name = "BindingLimitError";
}

interface Item {
  start: number;
  end: number;
  weight: boolean;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

export function regionsFor(req: DeviceRequest, limit: number): RegionMap {
  const { layout, plan } = req;
  const items: Item[] = [];
  const split: { name: string; pieces: number }[] = [];
  (plan.weights ?? []).forEach((w, i) => {
    const start = layout.weightOffsets[i]!;
    const bytes = weightBytes(w.format, w.shape);
    if (bytes <= limit) return void items.push({ start, end: start + bytes, weight: true });
    const rows = w.shape[0] ?? 1;
    const row = bytes / rows;
    if (!Number.isInteger(row) || row > limit) {
      throw new BindingLimitError(`${plan.model}: weight ${w.name} [${w.shape.join(", ")}] takes ${gib(bytes)}, and one of its rows ${gib(row)}, more than this GPU binds at once (maxStorageBufferBindingSize ${gib(limit)}); it cannot be split between rows`);
    }
    const per = Math.floor(limit / row);
    let pieces = 0;
    for (let r = 0; r < rows; r += per, pieces++) items.push({ start: start + r * row, end: start + Math.min(rows, r + per) * row, weight: true });
    split.push({ name: w.name, pieces });
  });
  for (const seq of layout.cacheOffsets) for (const c of seq) items.push({ start: c.k, end: c.k, weight: false }, { start: c.v, end: c.v, weight: false });
  for (const s of layout.slotOffsets) items.push({ start: s, end: s, weight: false });
  if (layout.scratchBytes > 0) items.push({ start: layout.scratch, end: layout.scratch + layout.scratchBytes, weight: false });
  // Non-weight items end where the next one starts (their sizes are the layout's business).
  items.sort((a, b) => a.start - b.start);
  for (let i = 0; i < items.length; i++) if (!items[i]!.weight && items[i]!.end === items[i]!.start) items[i]!.end = i + 1 < items.length ? items[i + 1]!.start : layout.totalBytes;
  const regions: Region[] = [];
  let cur: { start: number; end: number; weight: boolean } | null = null;
  for (const it of items) {
    if (it.end - it.start > limit) throw new BindingLimitError(`${plan.model}: ${it.weight ? "a weight" : "an activation, cache or scratch area"} of ${gib(it.end - it.start)} is larger than this GPU binds at once (maxStorageBufferBindingSize ${gib(limit)}); lower maxContext or maxTokens`);
    if (cur && cur.weight === it.weight && it.end - cur.start <= limit) cur.end = Math.max(cur.end, it.end);
    else {
      if (cur) regions.push({ start: cur.start, end: cur.end });
      cur = { ...it };
    }
  }
  if (cur) regions.push({ start: cur.start, end: cur.end });
  if (regions.length === 0 || items.length === 0) {
    // A bare address space (kernel tests): equal regions of at most the limit.
    regions.length = 0;
    for (let s = 0; s < layout.totalBytes; s += limit) regions.push({ start: s, end: Math.min(layout.totalBytes, s + limit) });
  }
  return { regions, split };
}

/** The region holding `at` (binary search), or -1. */
export function regionOf(regions: readonly Region[], at: number): number {
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = regions[mid]!;
    if (at < r.start) hi = mid - 1;
    else if (at >= r.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}
