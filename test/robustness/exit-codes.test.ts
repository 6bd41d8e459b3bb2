// Class 5, internal errors for user mistakes: a weights path that is a folder, a KV cache too
// large for -n, memory that cannot be reserved, an output that cannot be written — each is the
// user's to fix: exit 1 or 2 with what to change, never "internal error … a bug in moec" (70).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { userFailure } from "../../compiler/cli/errors.js";
import { OutDirError } from "../../compiler/emit/outdir.js";
import { LowerError } from "../../compiler/lower/lower.js";
import { RunError } from "../../compiler/run/load.js";
import { BindError } from "../../compiler/weights/bind.js";
import { NonFiniteError } from "../../runtime/finite.js";
import { MemoryLimitError } from "../../runtime/memory.js";
import { LoadError } from "../../runtime/model.js";
import { OptionError } from "../../runtime/options.js";
import { CappedReadError } from "../../runtime/weights/read-capped.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 5, user mistakes are not internal errors");
const tmp = mkdtempSync(join(tmpdir(), "moec-exit-"));
const MOE = fixture("moe", "tiny-mixtral.moe");
const HF = fixture("hf", "mixtral");

// Weight paths that are not weight files.
mkdirSync(join(tmp, "folder.safetensors"));
mkdirSync(join(tmp, "folder.gguf"));
mkdirSync(join(tmp, "hf-folder-weights"));
writeFileSync(join(tmp, "hf-folder-weights", "config.json"), "{}");
mkdirSync(join(tmp, "hf-folder-weights", "model.safetensors"));
writeFileSync(join(tmp, "empty.safetensors"), "");
writeFileSync(join(tmp, "file"), "a file, not a folder");

const WEIGHTS = [join(tmp, "folder.safetensors"), join(tmp, "folder.gguf"), join(tmp, "hf-folder-weights"), join(tmp, "empty.safetensors"), "/dev/zero", "/dev/null", join(tmp, "missing.safetensors"), MOE, join(tmp, "file")];
const OUTPUTS = ["/proc/x", "/proc/self/x/y", "/dev/null/x", join(tmp, "file", "out"), join(tmp, "file")];

/** Command lines with one user mistake each. */
const mistakes: fc.Arbitrary<{ args: string[]; env?: Record<string, string> }> = fc.oneof(
  fc.constantFrom(...WEIGHTS).map((w) => ({ args: ["run", MOE, "--ids", "1,2", "-n", "1", "--weights", w] })),
  fc.constantFrom(...WEIGHTS).map((w) => ({ args: ["compile", MOE, "--target", "wasm", "-o", join(tmp, "never"), "--weights", w] })),
  fc.constantFrom(...OUTPUTS).map((o) => ({ args: ["compile", MOE, "--target", "wasm", "-o", o, "--random-weights", "1"] })),
  fc.constantFrom(...OUTPUTS).map((o) => ({ args: ["run", MOE, "--random-weights", "1", "--ids", "1", "-n", "1", "--logits", o] })),
  fc.constantFrom(...OUTPUTS).map((o) => ({ args: ["report", MOE, "--random-weights", "1", "-o", o] })),
  fc.record({ n: fc.constantFrom("1e12", "200", "99999999"), target: fc.constantFrom("reference", "wasm", "js") }).map(({ n, target }) => ({ args: ["run", HF, "--ids", "1,2,3", "-n", n, "--target", target] })),
  fc.constantFrom("wasm", "js").map((target) => ({ args: ["run", HF, "--ids", "1,2", "-n", "2", "--max-context", "2000000000", "--target", target] })),
  fc.constantFrom("1500000", "1", "600000").map((m) => ({ args: ["run", HF, "--ids", "1,2", "-n", "2", "--target", "wasm"], env: { MOEC_AVAILABLE_MEMORY: m } })),
  fc.constantFrom(join(tmp, "folder.gguf"), join(tmp, "hf-folder-weights"), tmp).map((m) => ({ args: ["run", m, "--ids", "1"] })),
);

describe("class 5: user mistakes exit 1 or 2 with what to change", () => {
  it("random command lines with one mistake each: a clean failure, never exit 70", () => {
    const cases = fc.sample(mistakes, { numRuns: 14, seed: runs("cli mistakes", 14).seed });
    // The mistakes the issue names, always.
    cases.push(
      { args: ["run", MOE, "--ids", "1,2", "--weights", join(tmp, "folder.safetensors")] },
      { args: ["run", HF, "--ids", "1,2", "-n", "1e12", "--target", "wasm"] },
      { args: ["run", HF, "--ids", "1,2", "-n", "2", "--target", "wasm"], env: { MOEC_AVAILABLE_MEMORY: "1500000" } },
    );
    for (const c of cases) {
      const r = moec(c.args, { ...(c.env ? { env: c.env } : {}), timeoutMs: 30_000 });
      tally("command lines");
      // Some of these are fine after all (a memory limit the model fits in).
      if (r.status === 0) continue;
      expect(isCleanFailure(r), `moec ${c.args.join(" ")}${c.env ? ` (${JSON.stringify(c.env)})` : ""}\n${r.stderr}`).toBeNull();
    }
  });

  it("every user error class maps to exit 1 or 2 with its message; an unknown error stays an internal one", () => {
    const users: (() => Error)[] = [
      () => new RunError("r"), () => new LowerError("l"), () => new BindError("b"), () => new LoadError("d"), () => new MemoryLimitError("m"),
      () => new NonFiniteError("n"), () => new OptionError("x", 1, "y"), () => new CappedReadError("f", "io", "p"), () => new WeightFileError("f", "w"),
      () => new OutDirError("o", true), () => new OutDirError("o"), () => Object.assign(new Error("e"), { code: "EISDIR", path: "/p" }),
      () => Object.assign(new Error("e"), { code: "ENOSPC" }), () => new RangeError("Array buffer allocation failed"),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...users), (make) => {
        tally("error classes");
        const f = userFailure(make());
        expect(f).not.toBeNull();
        expect([1, 2]).toContain(f!.code);
        expect(f!.message.length).toBeGreaterThan(0);
      }),
      runs("error classes", 40),
    );
    expect(userFailure(new TypeError("x is undefined"))).toBeNull();
    expect(userFailure(new Error("plain"))).toBeNull();
  });
});
