// Class 3, the user's files: no output may delete or replace a file of the user's. Random user
// folders (random names, bundle-like names, sub-folders) given to `-o`: refused unless moec made
// the folder (.moec-bundle) or --force is given, and even then only the bundle's own files
// change; single-file outputs (--logits, report -o, import -o) never replace an input, a
// folder or a device node.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUNDLE_MARKER, checkOutDir, OutDirError, openBundleDir } from "../../compiler/emit/outdir.js";
import { RunError } from "../../compiler/run/load.js";
import { outputTarget, writeFileAtomic } from "../../compiler/run/write.js";
import { fixture } from "../helpers/compile.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 3, the user's files");
const root = mkdtempSync(join(tmpdir(), "moec-outputs-"));
let counter = 0;
const fresh = () => join(root, `case-${counter++}`);

/** Every file under `dir` with a hash of its contents (folders as entries too). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(relative(dir, p) + "/", "dir");
        walk(p);
      } else out.set(relative(dir, p), createHash("sha1").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

/** The files a (fake) bundle writes: the real fixed names and a hashed chunk. */
const BUNDLE_FILES = ["package.json", "model.js", "model.d.ts", "runtime.js", "plan.json", "kernels.wasm", "weights.safetensors"];
const userName = fc.oneof(fc.constantFrom(...BUNDLE_FILES, "types", "README.md", "index.html", ".git", "src", BUNDLE_MARKER + ".bak"), fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,11}$/));
const userFolder = fc.uniqueArray(fc.record({ name: userName, dir: fc.boolean(), body: fc.string({ maxLength: 20 }) }), { minLength: 1, maxLength: 8, selector: (e) => e.name });

function makeUserFolder(dir: string, entries: { name: string; dir: boolean; body: string }[]): void {
  mkdirSync(dir, { recursive: true });
  for (const e of entries) {
    if (e.dir) {
      mkdirSync(join(dir, e.name));
      writeFileSync(join(dir, e.name, "inside.txt"), e.body);
    } else writeFileSync(join(dir, e.name), e.body);
  }
}

/** Writes a fake bundle through the real output-folder logic. */
async function writeBundle(dir: string, force: boolean, files = BUNDLE_FILES): Promise<string[]> {
  const b = await openBundleDir(dir, force);
  try {
    for (const f of files) writeFileSync(join(b.tmp, f), `bundle ${f}`);
    mkdirSync(join(b.tmp, "types"));
    writeFileSync(join(b.tmp, "types", "index.d.ts"), "export {};");
    return await b.commit();
  } finally {
    await b.close();
  }
}

describe("class 3: nothing of the user's is removed", () => {
  it("a non-empty folder moec did not make is refused without --force, untouched", async () => {
    await fc.assert(
      fc.asyncProperty(userFolder, async (entries) => {
        tally("user folders refused");
        const dir = fresh();
        makeUserFolder(dir, entries);
        const before = snapshot(dir);
        const err = await writeBundle(dir, false).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(OutDirError);
        expect((err as OutDirError).usage).toBe(true);
        expect((err as Error).message).toContain("--force");
        expect(snapshot(dir)).toEqual(before);
        // Nothing is left beside it either.
        expect(readdirSync(root).filter((f) => f.startsWith(`${dir.split("/").pop()}.tmp-`))).toEqual([]);
      }),
      runs("refused", 40),
    );
  });

  it("with --force only the bundle's files change; every other file stays as it was", async () => {
    await fc.assert(
      fc.asyncProperty(userFolder, async (entries) => {
        tally("user folders with --force");
        const dir = fresh();
        makeUserFolder(dir, entries);
        const before = snapshot(dir);
        const written = await writeBundle(dir, true);
        const after = snapshot(dir);
        for (const [p, h] of before) {
          const top = p.split("/")[0]!;
          if (!written.includes(top)) expect(after.get(p), p).toBe(h);
        }
        expect(existsSync(join(dir, BUNDLE_MARKER))).toBe(true);
      }),
      runs("force", 30),
    );
  });

  it("in a folder moec made, files the user added later survive a recompile, and stale bundle files go", async () => {
    await fc.assert(
      fc.asyncProperty(userFolder, fc.boolean(), async (entries, dropWeights) => {
        tally("recompiles into a marked folder");
        const dir = fresh();
        await writeBundle(dir, false);
        // The user's additions (only names the bundle does not use: the others would collide).
        const added = entries.filter((e) => !BUNDLE_FILES.includes(e.name) && e.name !== "types" && e.name !== BUNDLE_MARKER);
        for (const e of added) makeUserFolder(dir, [e]);
        const before = snapshot(dir);
        const files = dropWeights ? BUNDLE_FILES.filter((f) => f !== "weights.safetensors") : BUNDLE_FILES;
        await writeBundle(dir, false, files);
        const after = snapshot(dir);
        for (const e of added) for (const [p, h] of before) if (p === e.name || p.startsWith(`${e.name}/`)) expect(after.get(p), p).toBe(h);
        expect(existsSync(join(dir, "weights.safetensors"))).toBe(!dropWeights);
      }),
      runs("marked", 30),
    );
  });

  it("a user's file that collides with a bundle name in a marked folder is not replaced without --force", async () => {
    const dir = fresh();
    await writeBundle(dir, false, BUNDLE_FILES.filter((f) => f !== "plan.json"));
    writeFileSync(join(dir, "plan.json"), "my own plan");
    const err = await writeBundle(dir, false).then(() => null, (e: unknown) => e);
    tally("collision in a marked folder");
    expect(err).toBeInstanceOf(OutDirError);
    expect(readFileSync(join(dir, "plan.json"), "utf8")).toBe("my own plan");
  });

  it("single-file outputs never replace an input, a folder or a device, and write through symlinks", async () => {
    const dir = fresh();
    mkdirSync(dir);
    const input = join(dir, "model.moe");
    writeFileSync(input, "model M {}");
    const link = join(dir, "link.f32");
    const target = join(dir, "target.f32");
    writeFileSync(target, "old");
    symlinkSync(target, link);
    const cases: [string, readonly (string | undefined)[], RegExp | null][] = [
      [input, [input], /an input of this command/],
      [join(dir, "."), [], /it is a folder/],
      [dir, [input], /it is a folder/],
      [join(dir, "x", "..", "model.moe"), [dir], /an input of this command/],
      [link, [target], /an input of this command/],
    ];
    for (const [out, inputs, want] of cases) {
      tally("single-file outputs");
      const err = await outputTarget(out, { inputs }).then(() => null, (e: unknown) => e);
      expect(err, out).toBeInstanceOf(RunError);
      expect((err as Error).message).toMatch(want!);
    }
    expect(readFileSync(input, "utf8")).toBe("model M {}");
    await writeFileAtomic(link, "new");
    tally("single-file outputs");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("new");
    // A character device is written in place, never replaced by a file (as root, rename would succeed).
    await writeFileAtomic("/dev/null", "x");
    tally("single-file outputs");
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });

  it("the CLI: compile into a user's folder, --logits onto the weights, report -o onto the model, import -o onto config.json", () => {
    const dir = fresh();
    makeUserFolder(dir, [
      { name: "package.json", dir: false, body: '{"name":"mine"}' },
      { name: "types", dir: true, body: "mine" },
      { name: "model.js", dir: false, body: "mine" },
    ]);
    const before = snapshot(dir);
    const model = fixture("moe", "tiny-mixtral.moe");
    const r1 = moec(["compile", model, "--target", "wasm", "-o", dir, "--random-weights", "1"]);
    tally("CLI outputs");
    expect(isCleanFailure(r1), r1.stderr).toBeNull();
    expect(r1.status).toBe(2);
    expect(snapshot(dir)).toEqual(before);

    const hf = join(root, "hf");
    mkdirSync(hf);
    for (const f of ["config.json", "model.safetensors"]) writeFileSync(join(hf, f), readFileSync(fixture("hf", "mixtral", f)));
    const weightsBefore = snapshot(hf);
    for (const args of [
      ["run", hf, "--ids", "1,2", "-n", "1", "--logits", join(hf, "model.safetensors")],
      ["report", hf, "-o", join(hf, "config.json")],
      ["import", hf, "-o", join(hf, "config.json")],
      ["run", model, "--random-weights", "1", "--ids", "1,2", "-n", "1", "--logits", model],
    ]) {
      const r = moec(args);
      tally("CLI outputs");
      expect(isCleanFailure(r), `${args.join(" ")}: ${r.stderr}`).toBeNull();
      expect(r.stderr).toContain("an input of this command");
    }
    expect(snapshot(hf)).toEqual(weightsBefore);
  });
});
