// Class 9, leftovers: Ctrl-C (SIGINT) or SIGTERM during `moec compile` leaves no temporary
// folder or partial weight pack beside the output; temporary files of single-file outputs go too.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fixture, ROOT } from "../helpers/compile.js";
import { runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 9, leftovers");

/** Runs `moec compile` and sends `signal` after `ms`; resolves with how it ended. */
function interrupted(out: string, signal: NodeJS.Signals, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, "bin", "moec.js"), "compile", fixture("hf", "mixtral"), "--target", "wasm", "-o", out], { stdio: "ignore" });
    const timer = setTimeout(() => p.kill(signal), ms);
    p.on("exit", (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig });
    });
  });
}

describe("class 9: nothing is left behind", () => {
  it("SIGINT or SIGTERM at a random moment of moec compile leaves no temporary folder", async () => {
    const cases = fc.sample(fc.record({ signal: fc.constantFrom<NodeJS.Signals>("SIGINT", "SIGTERM"), ms: fc.integer({ min: 150, max: 2500 }), nested: fc.boolean() }), { numRuns: 4, seed: runs("signals", 4).seed });
    for (const c of cases) {
      const parent = mkdtempSync(join(tmpdir(), "moec-leftovers-"));
      const out = c.nested ? join(parent, "a", "b", "bundle") : join(parent, "bundle");
      const r = await interrupted(out, c.signal, c.ms);
      tally("interrupted compiles");
      const left = readdirSync(parent, { recursive: true }).map(String);
      if (r.code === 0) {
        // It finished before the signal: a complete bundle, and still nothing temporary.
        expect(left.filter((f) => f.includes(".tmp-"))).toEqual([]);
        continue;
      }
      expect(r.signal ?? r.code, JSON.stringify(r)).toBe(c.signal);
      expect(left.filter((f) => f.includes(".tmp-")), `${c.signal} after ${c.ms} ms`).toEqual([]);
      // A signal after the bundle was committed (its marker lists exactly what is there) leaves that
      // finished bundle; one before leaves nothing at all, not even the parents made for it.
      const marker = join(out, ".moec-bundle");
      if (existsSync(marker)) {
        const listed = (JSON.parse(readFileSync(marker, "utf8")) as { files: string[] }).files;
        expect(readdirSync(out).filter((f) => f !== ".moec-bundle").sort(), `${c.signal} after ${c.ms} ms: a committed bundle is whole`).toEqual([...listed].sort());
      } else expect(left, `${c.signal} after ${c.ms} ms`).toEqual([]);
    }
  });

  it("a temporary output file registered for cleanup is removed when the process is signalled", () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-cleanup-"));
    const cleanup = pathToFileURL(join(ROOT, "dist", "compiler", "run", "cleanup.js")).href;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      const file = join(dir, `out.tmp-${signal}`);
      writeFileSync(file, "partial");
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", `const { removeOnSignal } = await import(${JSON.stringify(cleanup)}); removeOnSignal(${JSON.stringify(file)}); process.kill(process.pid, "${signal}"); setTimeout(() => {}, 5000);`], { timeout: 10_000 });
      tally("signalled processes");
      expect(r.signal).toBe(signal);
      expect(existsSync(file)).toBe(false);
    }
  });
});
