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

/** Writes a fake bundle through the real output-folder logic (declarations under types/, as a real one has). */
async function writeBundle(dir: string, force: boolean, files = BUNDLE_FILES, declarations = ["index.d.ts"]): Promise<string[]> {
  const b = await openBundleDir(dir, force);
  try {
    for (const f of files) writeFileSync(join(b.tmp, f), `bundle ${f}`);
    for (const d of declarations) {
      mkdirSync(join(b.tmp, "types", d, ".."), { recursive: true });
      writeFileSync(join(b.tmp, "types", d), `bundle ${d}`);
    }
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
        // A folder of the user's where the bundle writes a file is refused (it would be deleted), untouched.
        if (entries.some((e) => e.dir && BUNDLE_FILES.includes(e.name))) {
          await expect(writeBundle(dir, true)).rejects.toThrow(/is a folder here, and the bundle writes a file there/);
          expect(snapshot(dir)).toEqual(before);
          return;
        }
        const written = await writeBundle(dir, true);
        const after = snapshot(dir);
        // Only the paths the bundle writes change (a file of the user's named "types" included).
        for (const [p, h] of before) {
          if (!written.includes(p) && !(p === "types" || p === "types/index.d.ts")) expect(after.get(p), p).toBe(h);
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

  // Inside the bundle's own folders (types/): what the user keeps there is theirs too.
  const nested = fc.uniqueArray(fc.tuple(fc.constantFrom("", "runtime/", "runtime/text/", "mine/"), fc.stringMatching(/^[a-z][a-z0-9_-]{0,7}\.(d\.ts|txt)$/)).map(([d, f]) => d + f), { minLength: 1, maxLength: 5 });
  const declarations = ["index.d.ts", "runtime/model.d.ts", "runtime/text/tokenizer.d.ts"];

  it("in a folder moec made, the user's files inside types/ survive a recompile; the bundle's stale declarations go", async () => {
    await fc.assert(
      fc.asyncProperty(nested, fc.boolean(), async (mine, dropOne) => {
        tally("user files inside types/ of a marked folder");
        const dir = fresh();
        await writeBundle(dir, false, BUNDLE_FILES, declarations);
        const added = mine.filter((p) => !declarations.includes(p));
        for (const p of added) {
          mkdirSync(join(dir, "types", p, ".."), { recursive: true });
          writeFileSync(join(dir, "types", p), `mine ${p}`);
        }
        const next = dropOne ? declarations.filter((d) => d !== "runtime/text/tokenizer.d.ts") : declarations;
        await writeBundle(dir, false, BUNDLE_FILES, next);
        for (const p of added) expect(readFileSync(join(dir, "types", p), "utf8"), p).toBe(`mine ${p}`);
        for (const d of next) expect(readFileSync(join(dir, "types", d), "utf8")).toBe(`bundle ${d}`);
        expect(existsSync(join(dir, "types", "runtime/text/tokenizer.d.ts"))).toBe(!dropOne);
        // A folder the bundle no longer uses goes, unless the user keeps something in it.
        if (dropOne) expect(existsSync(join(dir, "types", "runtime", "text"))).toBe(added.some((p) => p.startsWith("runtime/text/")));
      }),
      runs("nested marked", 30),
    );
  });

  it("with --force, the user's files inside their own types/ survive; a folder of theirs where the bundle writes a file is refused", async () => {
    await fc.assert(
      fc.asyncProperty(nested, async (mine) => {
        tally("user's types/ with --force");
        const dir = fresh();
        mkdirSync(dir);
        const theirs = mine.filter((p) => !declarations.includes(p));
        for (const p of theirs) {
          mkdirSync(join(dir, "types", p, ".."), { recursive: true });
          writeFileSync(join(dir, "types", p), `mine ${p}`);
        }
        writeFileSync(join(dir, "README.md"), "mine");
        await writeBundle(dir, true, BUNDLE_FILES, declarations);
        for (const p of theirs) expect(readFileSync(join(dir, "types", p), "utf8"), p).toBe(`mine ${p}`);
        expect(readFileSync(join(dir, "README.md"), "utf8")).toBe("mine");
      }),
      runs("nested force", 20),
    );
    const dir = fresh();
    makeUserFolder(dir, [{ name: "model.js", dir: true, body: "mine" }]);
    const before = snapshot(dir);
    const err = await writeBundle(dir, true).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OutDirError);
    expect((err as Error).message).toMatch(/model\.js is a folder here, and the bundle writes a file there/);
    expect(snapshot(dir)).toEqual(before);
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
