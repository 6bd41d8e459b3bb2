// The runtime is what an app ships: every file reachable from its entry points (runtime/index.ts
// and the worker) must stay out of the compiler and its toolchain. Backends keep their runtime
// side (device, threads, runtime.ts) apart from their emitter, which may use binaryen.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/compile.js";

const BANNED_PACKAGES = ["binaryen", "chevrotain", "esbuild", "ts-morph", "prettier", "vscode-languageserver"];

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [
    ...text.matchAll(/(?:import|export)[^;]*?from\s+"([^"]+)"/g),
    ...text.matchAll(/import\s+"([^"]+)"/g),
    ...text.matchAll(/import\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
}

/** Every file reachable from `entries` through relative imports, with the offending imports found on the way. */
function reach(entries: string[]): { files: Set<string>; offenders: string[] } {
  const files = new Set<string>();
  const offenders: string[] = [];
  const stack = [...entries];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    const rel = relative(ROOT, f);
    if (rel.startsWith("compiler/")) offenders.push(`${rel} is compiler code`);
    for (const spec of importsOf(f)) {
      if (!spec.startsWith(".")) {
        if (BANNED_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) offenders.push(`${rel}: imports ${spec}`);
        continue;
      }
      const target = resolve(dirname(f), spec.replace(/\.js$/, ".ts"));
      if (existsSync(target)) stack.push(target);
      else offenders.push(`${rel}: ${spec} does not resolve`);
    }
  }
  return { files, offenders };
}

describe("runtime independence", () => {
  it("nothing the runtime reaches imports the compiler or the compiler's toolchain", () => {
    const { files, offenders } = reach([join(ROOT, "runtime/index.ts"), join(ROOT, "backends/wasm/threads/worker.ts")]);
    expect(offenders).toEqual([]);
    // It does reach the backends' runtime sides, and not their emitters.
    const rel = [...files].map((f) => relative(ROOT, f));
    expect(rel).toContain("backends/wasm/device.ts");
    expect(rel).toContain("backends/js/kernels.ts");
    expect(rel.filter((f) => /backends\/wasm\/(build|module|emit)\.ts|backends\/registry\.ts/.test(f))).toEqual([]);
  });
});
