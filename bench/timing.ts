// Wall-clock timing with performance.now(): warm up, then run until both a minimum time and
// a minimum count are reached, and report the median and the 10th/90th percentiles.

export interface Stats {
  /** Milliseconds. */
  readonly median: number;
  readonly p10: number;
  readonly p90: number;
  readonly n: number;
}

export interface MeasureOptions {
  readonly warmupSeconds?: number;
  readonly minWarmup?: number;
  readonly seconds?: number;
  readonly minIters?: number;
  readonly maxIters?: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    n: s.length,
  };
}

/** `fn(i)` gets the iteration number (warmup iterations count from 0 too) so callers can vary inputs. */
export async function measure(fn: (i: number) => unknown, opts: MeasureOptions = {}): Promise<Stats> {
  const warmupMs = 1000 * (opts.warmupSeconds ?? 0.3);
  const minWarmup = opts.minWarmup ?? 2;
  const ms = 1000 * (opts.seconds ?? 1);
  const minIters = opts.minIters ?? 5;
  const maxIters = opts.maxIters ?? 5000;
  let i = 0;
  const w0 = performance.now();
  for (let k = 0; k < minWarmup || performance.now() - w0 < warmupMs; k++) await fn(i++);
  const samples: number[] = [];
  const t0 = performance.now();
  while ((samples.length < minIters || performance.now() - t0 < ms) && samples.length < maxIters) {
    const a = performance.now();
    await fn(i++);
    samples.push(performance.now() - a);
  }
  return stats(samples);
}
