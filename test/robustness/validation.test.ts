// Class 7, nonsense accepted: the runtime validates what the CLI validates, with the same
// rules (runtime/options.ts is used by both), and the language refuses a negative layer count.
// Random values of every type for every option: each is accepted exactly when it is valid, and
// a refusal names the option.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/index.js";
import { loadGraph } from "../../compiler/run/load.js";
import { lowerGraph } from "../../compiler/lower/lower.js";
import { randomWeights } from "../../compiler/weights/random.js";
import { Model } from "../../runtime/model.js";
import { checkBundleLoadOptions, checkSampling, OptionError } from "../../runtime/options.js";
import { fixture } from "../helpers/compile.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 7, nonsense refused");
const loaded = await loadGraph(fixture("moe", "tiny-mixtral.moe"));
if (!("hfDir" in loaded)) throw new Error("tiny-mixtral.moe does not check");
const weights = randomWeights(loaded.graph, 5);
const plan = lowerGraph(loaded.graph);
const model = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { maxContext: 32, maxTokens: 8 });
const V = plan.vocab;

/** Any value a caller might pass by mistake. */
const anyValue = fc.oneof(
  fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 2, -4, 1e12, 2 ** 53, "1", "", true, false, [], {}, [1]),
  fc.integer({ min: -100, max: 100 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 3 }),
);

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
/** The rules, written out independently of runtime/options.ts. */
const RULES: Record<string, (v: unknown) => boolean> = {
  temperature: (v) => typeof v === "number" && Number.isFinite(v) && v >= 0,
  topK: (v) => isInt(v, 0),
  topP: (v) => typeof v === "number" && v > 0 && v <= 1,
  seed: (v) => typeof v === "number" && Number.isSafeInteger(v),
  maxNewTokens: (v) => isInt(v, 0, 32 - 3 + 1),
  maxContext: (v) => isInt(v, 1, 2 ** 31 - 1),
  maxTokens: (v) => isInt(v, 1, 2 ** 31 - 1),
  sequences: (v) => isInt(v, 1, 2 ** 31 - 1),
  threads: (v) => isInt(v, 1, 256),
  memoryBase: (v) => isInt(v, 0),
  splitThreshold: (v) => isInt(v, 0),
};

async function generateWith(opts: Record<string, unknown>, ids: unknown[] = [1, 2, 3]): Promise<unknown> {
  try {
    const out: number[] = [];
    for await (const t of model.generate(ids as number[], opts)) out.push(t);
    return out;
  } catch (e) {
    return e;
  }
}

describe("class 7: the runtime refuses what the CLI refuses", () => {
  it("generate options: accepted exactly when valid; a refusal names the option", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("temperature", "topK", "topP", "seed", "maxNewTokens"), anyValue, async (option, value) => {
        tally("generate options");
        const r = await generateWith({ maxNewTokens: 2, [option]: value });
        const valid = value === undefined || RULES[option]!(value);
        if (valid) expect(Array.isArray(r), `${option} = ${String(value)}: ${String(r)}`).toBe(true);
        else {
          expect(r, `${option} = ${String(value)}`).toBeInstanceOf(OptionError);
          expect((r as OptionError).option).toBe(option);
        }
      }),
      runs("generate options", 150),
    );
  });

  it("token ids: undefined, holes, NaN, negatives, floats and ids past the vocabulary are refused", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 0, max: V - 1 }), anyValue), { minLength: 0, maxLength: 6 }), async (ids) => {
        tally("token ids");
        const valid = ids.length > 0 && ids.every((id) => isInt(id, 0, V - 1));
        const g = await generateWith({ maxNewTokens: 1 }, ids);
        expect(Array.isArray(g), JSON.stringify(ids)).toBe(valid);
        let f: unknown = null;
        try {
          model.reset();
          await model.forward(ids as number[]);
        } catch (e) {
          f = e;
        }
        if (valid) expect(f).toBeNull();
        else expect(f).toBeInstanceOf(OptionError);
      }),
      runs("token ids", 100),
    );
  });

  it("load options: Model.create and loadModel's options refused exactly when invalid", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("maxContext", "maxTokens", "sequences", "threads", "memoryBase", "splitThreshold"), anyValue, async (option, value) => {
        tally("load options");
        const valid = value === undefined || RULES[option]!(value);
        let err: unknown = null;
        try {
          checkBundleLoadOptions({ [option]: value });
        } catch (e) {
          err = e;
        }
        if (valid) expect(err).toBeNull();
        else expect((err as OptionError).option).toBe(option);
        if (!valid && option !== "threads" && option !== "splitThreshold") {
          const r = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { [option]: value } as never).then(() => null, (e: unknown) => e);
          expect(r).toBeInstanceOf(OptionError);
        }
      }),
      runs("load options", 120),
    );
  });

  it("the CLI's sampling flags follow the same rules (one validation module)", () => {
    const samples = fc.sample(fc.tuple(fc.constantFrom(["temperature", "temperature"], ["top-k", "topK"], ["top-p", "topP"], ["seed", "seed"]), fc.constantFrom("-1", "2", "0", "0.5", "NaN", "1e400", "-4", "1.5", "abc")), { numRuns: 8, seed: runs("cli flags", 8).seed });
    for (const [[flag, option], raw] of samples) {
      tally("CLI flags");
      let apiValid = true;
      try {
        checkSampling({ [option]: Number(raw) });
      } catch {
        apiValid = false;
      }
      const r = moec(["run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "1", "--ids", "1,2", "-n", "1", `--${flag}=${raw}`]);
      expect(r.status === 0, `--${flag}=${raw}: ${r.stderr}`).toBe(apiValid);
      if (!apiValid) {
        expect(isCleanFailure(r)).toBeNull();
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`--${flag}`);
      }
    }
  });

  it("a negative layer count (or any loop range that runs backwards) is MOE3018, not an empty model", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (from, to) => {
        tally("loop ranges");
        const r = checkSource("m.moe", `model M {\n  const layers = ${to}\n  input x: f32[seq, 8]\n  h = x\n  for i in ${from}..layers {\n    h = h + x\n  }\n  output y = h\n}\n`);
        const codes = r.diagnostics.map((d) => d.code);
        if (to < from) {
          expect(codes).toContain("MOE3018");
          const d = r.diagnostics.find((x) => x.code === "MOE3018")!;
          expect(d.span?.line).toBe(5);
        } else expect(codes).not.toContain("MOE3018");
      }),
      runs("loop ranges", 60),
    );
  });
});
