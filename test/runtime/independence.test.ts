// The runtime is what an app ships: it must not import the compiler, binaryen or chevrotain.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/compile.js";

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

describe("runtime independence", () => {
  it("no runtime file imports the compiler or the compiler's toolchain", () => {
    const offenders: string[] = [];
    for (const f of files(join(ROOT, "runtime"))) {
      const text = readFileSync(f, "utf8");
      // Static imports and re-exports, side-effect imports, and dynamic import("...").
      const specs = [
        ...text.matchAll(/(?:import|export)[^;]*?from\s+"([^"]+)"/g),
        ...text.matchAll(/import\s+"([^"]+)"/g),
        ...text.matchAll(/import\(\s*"([^"]+)"\s*\)/g),
      ].map((m) => m[1]!);
      for (const spec of specs) {
        const banned = /(^|\/)(compiler|backends)\//.test(spec) || ["binaryen", "chevrotain", "esbuild", "ts-morph", "prettier"].includes(spec);
        if (banned) offenders.push(`${f}: ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
