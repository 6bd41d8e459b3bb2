// Shared by the robustness suite (issue 10, "nothing lost, nothing silent"): one file per class
// of failure, each a property test over generated bad inputs that reports how many it tried.
//
// Replay a run: MOEC_ROBUST_SEED=<seed printed below> npx vitest run test/robustness
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll } from "vitest";
import { ROOT } from "../helpers/compile.js";

const envSeed = process.env["MOEC_ROBUST_SEED"];
export const SEED = envSeed !== undefined && envSeed.trim() !== "" && Number.isFinite(Number(envSeed)) ? Number(envSeed) | 0 : (Math.random() * 0x7fffffff) | 0;

/** Counts inputs per property of one class, printed when the file's tests end. */
export function tallyFor(klass: string): (property: string, n?: number) => void {
  const counts = new Map<string, number>();
  afterAll(() => {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log([`${klass}: ${total} inputs tried (seed ${SEED}; replay with MOEC_ROBUST_SEED=${SEED})`, ...[...counts].map(([p, n]) => `  ${p.padEnd(60)} ${String(n).padStart(6)}`)].join("\n"));
  });
  return (property, n = 1) => counts.set(property, (counts.get(property) ?? 0) + n);
}

/** fast-check parameters: the printed seed mixed with the property's name, so each replays alone. */
export function runs(name: string, numRuns: number): { seed: number; numRuns: number } {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193);
  return { seed: (SEED ^ h) | 0, numRuns };
}

export interface CliRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** `moec ...args` as a child process (dist/ must be built: `npm test` runs tsc first). */
export function moec(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): CliRun {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 60_000,
    env: { ...process.env, NO_COLOR: "1", MOEC_DEBUG: "", ...opts.env },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms: performance.now() - t0 };
}

/** What every failure must look like: exit 1 or 2, a message, no stack trace, no "internal error". */
export function isCleanFailure(r: CliRun): string | null {
  if (r.signal) return `killed by ${r.signal} (a hang?)`;
  if (r.status !== 1 && r.status !== 2) return `exit status ${r.status}, not 1 or 2`;
  if (/internal error|a bug in moec/i.test(r.stderr)) return "reported as an internal error";
  if (/\n\s+at .+:\d+:\d+\)?\n/.test(r.stderr)) return "printed a stack trace";
  if (r.stderr.trim() === "") return "printed no message";
  return null;
}
