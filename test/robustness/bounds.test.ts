// Class 4, unbounded reads and allocations: every size is checked before it is read or
// allocated. Devices and growing inputs are read with a cap; GGUF metadata that claims huge
// layer counts is refused before anything is built per layer; sequences, contexts and token
// counts are checked against the memory they need (by arithmetic) before any allocation.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadGraph } from "../../compiler/run/load.js";
import { lowerGraph } from "../../compiler/lower/lower.js";
import { randomWeights } from "../../compiler/weights/random.js";
import { LoadError, Model } from "../../runtime/model.js";
import { OptionError } from "../../runtime/options.js";
import { CappedReadError, readFileCapped } from "../../runtime/weights/read-capped.js";
import { fixture } from "../helpers/compile.js";
import { convertHfFixture } from "../helpers/gguf-writer.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 4, sizes checked before reading and allocating");
const tmp = mkdtempSync(join(tmpdir(), "moec-bounds-"));
const loaded = await loadGraph(fixture("moe", "tiny-mixtral.moe"));
if (!("hfDir" in loaded)) throw new Error("tiny-mixtral.moe does not check");
const weights = randomWeights(loaded.graph, 1);
const plan = lowerGraph(loaded.graph);

describe("class 4: nothing is read or allocated past what was checked", () => {
  it("reads are capped: files over the cap, devices and FIFOs with data", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 4096 }), async (size, cap) => {
        tally("capped reads of files");
        const f = join(tmp, `f-${size}`);
        writeFileSync(f, Buffer.alloc(size, 65));
        const r = await readFileCapped(f, cap).then((b) => b.length, (e: unknown) => e);
        if (size <= cap) expect(r).toBe(size);
        else {
          expect(r).toBeInstanceOf(CappedReadError);
          expect((r as CappedReadError).reason).toBe("too-large");
        }
      }),
      runs("capped reads", 40),
    );
    const t0 = performance.now();
    const zero = await readFileCapped("/dev/zero", 1 << 20).then(() => null, (e: unknown) => e);
    tally("capped reads of devices");
    expect((zero as CappedReadError).reason).toBe("too-large");
    expect(performance.now() - t0).toBeLessThan(15_000); // a hang guard, not a timing
    const folder = await readFileCapped(tmp, 1 << 20).then(() => null, (e: unknown) => e);
    tally("capped reads of devices");
    expect((folder as CappedReadError).reason).toBe("folder");
    // A FIFO with a writer that sends more than the cap.
    const fifo = join(tmp, "fifo");
    execFileSync("mkfifo", [fifo]);
    const writer = import("node:child_process").then(({ spawn }) => spawn("sh", ["-c", `head -c 3000000 /dev/zero > ${fifo}`]));
    const piped = await readFileCapped(fifo, 1 << 20).then(() => null, (e: unknown) => e);
    (await writer).kill();
    tally("capped reads of devices");
    expect((piped as CappedReadError).reason).toBe("too-large");
  });

  it("moec check /dev/zero, fmt /dev/zero, run --weights /dev/zero: refused quickly", () => {
    for (const args of [["check", "/dev/zero"], ["fmt", "/dev/zero"], ["run", fixture("moe", "tiny-mixtral.moe"), "--ids", "1", "--weights", "/dev/zero"], ["import", "/dev/zero"]]) {
      const r = moec(args, { timeoutMs: 20_000 });
      tally("CLI reads of /dev/zero");
      expect(isCleanFailure(r), `${args.join(" ")}: ${r.stderr}`).toBeNull();
      expect(r.ms).toBeLessThan(15_000);
    }
  });

  it("GGUF metadata claiming huge sizes is refused before anything is built per layer", async () => {
    const base = Buffer.from(await convertHfFixture(fixture("hf", "mixtral")));
    /** Sets a u32 metadata value in place (the key must already be a u32). */
    const patched = (key: string, value: number): Buffer => {
      const k = Buffer.concat([Buffer.alloc(8), Buffer.from(key), Buffer.from([4, 0, 0, 0])]);
      k.writeBigUInt64LE(BigInt(key.length), 0);
      const at = base.indexOf(k);
      if (at < 0) throw new Error(`no u32 key ${key}`);
      const b = Buffer.from(base);
      b.writeUInt32LE(value, at + k.length);
      return b;
    };
    const keys = ["llama.block_count", "llama.expert_count", "llama.expert_used_count", "llama.attention.head_count", "llama.attention.head_count_kv", "llama.embedding_length", "llama.feed_forward_length"];
    const { loadGgufModel } = await import("../../compiler/run/gguf-load.js");
    const { checkSource } = await import("../../compiler/index.js");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), fc.oneof(fc.integer({ min: 3, max: 2 ** 32 - 1 }), fc.constantFrom(2 ** 32 - 1, 2 ** 31, 1e9, 65537)), async (key, value) => {
        tally("GGUF with huge metadata");
        const f = join(tmp, "huge.gguf");
        writeFileSync(f, patched(key, value));
        const t0 = performance.now();
        // Either the import refuses it, or the program it makes is refused by the checker: fast, and without a crash.
        const r = await loadGgufModel(f).then(async (m) => {
          await m.source.close();
          return checkSource("huge.moe", m.text).graph === null ? "refused by the checker" : "accepted";
        }, (e: unknown) => (e as Error).name);
        expect(performance.now() - t0).toBeLessThan(15_000); // a hang guard, not a timing: generous, as CI shares its cores
        expect(["WeightFileError", "refused by the checker", "accepted"]).toContain(r);
        if (key === "llama.block_count") expect(r).toBe("WeightFileError");
      }),
      runs("gguf metadata", 30),
    );
  });

  it("sequences, maxContext and maxTokens are checked by arithmetic before memory is reserved", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          sequences: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2 ** 20, max: 2 ** 31 - 1 }), fc.constantFrom(1e9, 0, -1, 1.5, NaN)),
          maxContext: fc.oneof(fc.integer({ min: 1, max: 128 }), fc.integer({ min: 2 ** 26, max: 2 ** 31 - 1 }), fc.constantFrom(-5, 0, Infinity)),
        }),
        async (opts) => {
          tally("load sizes");
          const t0 = performance.now();
          const r = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { ...opts, maxTokens: 8 }).then(() => "loaded", (e: unknown) => e);
          expect(performance.now() - t0).toBeLessThan(15_000); // a hang guard, not a timing: generous, as CI shares its cores
          const valid = Number.isInteger(opts.sequences) && opts.sequences >= 1 && Number.isInteger(opts.maxContext) && opts.maxContext >= 1;
          if (!valid) expect(r).toBeInstanceOf(OptionError);
          else if (r !== "loaded") {
            expect(r).toBeInstanceOf(LoadError);
            expect((r as Error).message).toMatch(/needs .* more than .*(positions|maxTokens|memory)/);
          }
        },
      ),
      runs("load sizes", 40),
    );
  });

  it("-n beyond the context is refused before any weight is read; the weights must fit in memory", () => {
    const hf = fixture("hf", "mixtral");
    const r1 = moec(["run", hf, "--ids", "1,2", "-n", "1e12"]);
    tally("CLI sizes");
    expect(isCleanFailure(r1), r1.stderr).toBeNull();
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/use -n 127 or less/);
    const r2 = moec(["run", hf, "--ids", "1,2", "-n", "4", "--max-context", "100000000", "--target", "wasm"]);
    tally("CLI sizes");
    expect(r2.status, r2.stderr).toBe(0);
    const r3 = moec(["run", hf, "--ids", "1,2", "-n", "2"], { env: { MOEC_AVAILABLE_MEMORY: "1000000" } });
    tally("CLI sizes");
    expect(isCleanFailure(r3), r3.stderr).toBeNull();
    expect(r3.stderr).toMatch(/more than the 976\.6 KiB this machine has available.*nothing was read/);
  });
});
