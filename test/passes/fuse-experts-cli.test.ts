// The fuse-experts pass from the command line: listed by `moec passes` as opt-in, shown in
// `moec ir --plan` with --enable-pass for a target with the fused kernels, and `moec run` giving
// the same tokens with it on and off.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/moec.js");
const OLMOE = join(ROOT, "test/fixtures/hf/olmoe");
const MIXTRAL = join(ROOT, "examples/mixtral-8x7b.moe");

function moec(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!existsSync(join(ROOT, "dist/compiler/cli/main.js")))("fuse-experts on the command line (dist/ built)", () => {
  it("moec passes lists it among the plan passes", () => {
    const r = moec("passes");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/plan passes[\s\S]*fuse-experts\s+Fuse each expert's gate\/up projections.*\(off unless --enable-pass fuse-experts\)/);
  });

  it("moec ir --plan --target wasm --enable-pass fuse-experts shows glu steps; without it, with --disable-pass or without a target, the unfused steps", () => {
    const on = moec("ir", MIXTRAL, "--plan", "--target", "wasm", "--enable-pass", "fuse-experts", "--verify");
    expect(on.code, on.err).toBe(0);
    expect(on.out).toMatch(/glu\s+v\d+ → v\d+\s+K=4096 N=14336/);
    expect(on.out).toMatch(/down projection fused/);
    const off = moec("ir", MIXTRAL, "--plan", "--target", "wasm", "--enable-pass", "fuse-experts", "--disable-pass", "fuse-experts");
    expect(off.code, off.err).toBe(0);
    expect(off.out).not.toMatch(/\bglu\b/);
    expect(moec("ir", MIXTRAL, "--plan", "--target", "wasm").out).not.toMatch(/\bglu\b/);
    expect(moec("ir", MIXTRAL, "--plan", "--enable-pass", "fuse-experts").out).not.toMatch(/\bglu\b/);
    expect(moec("ir", MIXTRAL, "--plan", "--target", "cuda9").code).toBe(2);
  });

  it("moec run gives the same tokens with the pass on and off, on wasm and js", () => {
    for (const target of ["wasm", "js"]) {
      const on = moec("run", OLMOE, "--ids", "1,2,3,4", "-n", "4", "--target", target, "--threads", "1", "--json", "--enable-pass", "fuse-experts");
      const off = moec("run", OLMOE, "--ids", "1,2,3,4", "-n", "4", "--target", target, "--threads", "1", "--json");
      expect(on.code, on.err).toBe(0);
      expect(off.code, off.err).toBe(0);
      const tokens = (s: string) => (JSON.parse(s) as { tokens: number[] }).tokens;
      expect(tokens(on.out), target).toEqual(tokens(off.out));
    }
    expect(moec("run", OLMOE, "--ids", "1", "--enable-pass", "fuse-expert").code).toBe(2);
  });
});
