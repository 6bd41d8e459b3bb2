// Class 2, shared state: one Model has one KV cache per sequence slot, so concurrent use must be
// refused, never interleaved. Random schedules of generate, generateBatch, forward,
// forwardBatch and reset, stepped in random orders: every call either gives exactly what it
// gives alone, or is refused with a ModelBusyError; closing a generator frees the model.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadGraph } from "../../compiler/run/load.js";
import { lowerGraph } from "../../compiler/lower/lower.js";
import { randomWeights } from "../../compiler/weights/random.js";
import { ModelBusyError } from "../../runtime/lock.js";
import { Model, ModelDisposedError } from "../../runtime/model.js";
import { fixture } from "../helpers/compile.js";
import { runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 2, concurrent calls on one model");
const loaded = await loadGraph(fixture("moe", "tiny-mixtral.moe"));
if (!("hfDir" in loaded)) throw new Error("tiny-mixtral.moe does not check");
const weights = randomWeights(loaded.graph, 3);
const plan = lowerGraph(loaded.graph);
const model = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { maxContext: 48, maxTokens: 16, sequences: 2 });

type Op =
  | { kind: "generate"; prompt: number[]; n: number }
  | { kind: "batch"; prompts: number[][]; n: number }
  | { kind: "forward"; ids: number[] }
  | { kind: "forwardBatch"; ids: number[] }
  | { kind: "reset" };

const ids = (max: number) => fc.array(fc.integer({ min: 0, max: plan.vocab - 1 }), { minLength: 1, maxLength: max });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("generate" as const), prompt: ids(6), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("batch" as const), prompts: fc.array(ids(5), { minLength: 1, maxLength: 2 }), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forward" as const), ids: ids(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forwardBatch" as const), ids: ids(3) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
);

async function drain<T>(it: AsyncGenerator<T, void, void>): Promise<T[]> {
  const out: T[] = [];
  for await (const t of it) out.push(t);
  return out;
}

/** What a generation gives when it has the model to itself. */
async function alone(o: Op): Promise<unknown[]> {
  if (o.kind === "generate") return drain(model.generate(o.prompt, { maxNewTokens: o.n }));
  if (o.kind === "batch") return drain(model.generateBatch(o.prompts, { maxNewTokens: o.n }));
  return [];
}

describe("class 2: concurrent calls never interleave", () => {
  it("random schedules: each call gives its solo result or a ModelBusyError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 5 }), fc.array(fc.nat(), { minLength: 4, maxLength: 40 }), async (ops, schedule) => {
        tally("schedules");
        const expected: unknown[][] = [];
        for (const o of ops) expected.push(await alone(o));
        model.reset();
        const iters = ops.map((o) => (o.kind === "generate" ? model.generate(o.prompt, { maxNewTokens: o.n }) : o.kind === "batch" ? model.generateBatch(o.prompts, { maxNewTokens: o.n }) : null));
        const got: unknown[][] = ops.map(() => []);
        const state = ops.map(() => "pending" as "pending" | "done" | "busy" | "ran");
        for (const pick of schedule) {
          const i = pick % ops.length;
          if (state[i] !== "pending") continue;
          tally("calls and steps");
          const o = ops[i]!;
          const it = iters[i];
          try {
            if (it) {
              const r = await it.next();
              if (r.done) state[i] = "done";
              else got[i]!.push(r.value);
            } else {
              if (o.kind === "forward") await model.forward(o.ids);
              else if (o.kind === "forwardBatch") await model.forwardBatch([{ seq: 1, ids: o.ids }]);
              else model.reset();
              state[i] = "ran";
            }
          } catch (e) {
            // The only refusals: the model is busy, or (for forward) the cache it grew is full.
            if (e instanceof ModelBusyError) state[i] = "busy";
            else if (!it && e instanceof RangeError && /context of sequence \d+ is full/.test(e.message)) state[i] = "ran";
            else throw e;
          }
        }
        // Whatever ran, ran alone: a finished or partly consumed generation matches its solo tokens.
        ops.forEach((o, i) => {
          if (state[i] === "busy") expect(got[i]).toEqual([]);
          else if (o.kind === "generate" || o.kind === "batch") expect(got[i]).toEqual(expected[i]!.slice(0, got[i]!.length));
        });
        // Closing the unfinished generators frees the model.
        for (const it of iters) await it?.return();
        const again = await drain(model.generate([1, 2, 3], { maxNewTokens: 2 }));
        expect(again).toHaveLength(2);
      }),
      runs("schedules", 80),
    );
  });

  it("two generate calls started together: the second is refused at once, the first is intact", async () => {
    const solo = await drain(model.generate([5, 6, 7], { maxNewTokens: 4 }));
    const results = await Promise.allSettled([drain(model.generate([5, 6, 7], { maxNewTokens: 4 })), drain(model.generate([9, 9], { maxNewTokens: 4 }))]);
    tally("two generate calls at once");
    expect(results[0]).toEqual({ status: "fulfilled", value: solo });
    expect(results[1]!.status).toBe("rejected");
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ModelBusyError);
    expect(String((results[1] as PromiseRejectedResult).reason.message)).toMatch(/generate\(\) was called while generate\(\) is running/);
  });

  // forward is asynchronous: calls made without awaiting the previous one are in flight together.
  it("random orders with forward calls not awaited: generation waits for them, reset is refused, nothing interleaves", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ids(3), { minLength: 1, maxLength: 3 }), ids(5), fc.integer({ min: 1, max: 4 }), fc.constantFrom("generate", "batch", "reset"), async (pre, prompt, n, then) => {
        tally("forward calls in flight, then another call");
        model.reset();
        // What the forwards give alone, one after the other from an empty cache; and the generation alone.
        const soloForwards: Float32Array[] = [];
        for (const f of pre) soloForwards.push(await model.forward(f));
        const soloGen = then === "generate" ? await drain(model.generate(prompt, { maxNewTokens: n })) : then === "batch" ? await drain(model.generateBatch([prompt], { maxNewTokens: n })) : [];
        model.reset();
        const flying = pre.map((f) => model.forward(f));
        if (then === "reset") {
          expect(() => model.reset()).toThrow(ModelBusyError);
        } else {
          const got = then === "generate" ? await drain(model.generate(prompt, { maxNewTokens: n })) : await drain(model.generateBatch([prompt], { maxNewTokens: n }));
          expect(got).toEqual(soloGen);
        }
        const outs = await Promise.all(flying);
        outs.forEach((o, i) => expect(o).toEqual(soloForwards[i]));
      }),
      runs("forwards in flight", 25),
    );
  });

  it("dispose waits for the forward calls in flight; every call after it is refused", async () => {
    const m = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { maxContext: 48, maxTokens: 16 });
    model.reset();
    const solo = await model.forward([3, 1, 4]);
    const flying = m.forward([3, 1, 4]);
    const disposed = m.dispose();
    expect(await flying).toEqual(solo);
    await disposed;
    tally("calls after dispose", 5);
    await expect(m.forward([1])).rejects.toBeInstanceOf(ModelDisposedError);
    await expect(m.forwardBatch([{ seq: 0, ids: [1] }])).rejects.toBeInstanceOf(ModelDisposedError);
    expect(() => m.reset()).toThrow(ModelDisposedError);
    await expect(drain(m.generate([1, 2], { maxNewTokens: 2 }))).rejects.toThrow(/after dispose\(\).*load the model again/);
    await expect(m.dispose()).resolves.toBeUndefined();
  });
});
