// The executor's MoE step with every kind of router, on the TypeScript and the WASM kernels,
// against the reference interpreter: token choice goes through route_topk (softmax, sigmoid
// with selection bias and groups, softmax_topk, sparsemixer), capacity factors and expert
// choice through route() in JavaScript; zero and identity experts and a gated shared expert
// read the same permuted slices. Also the expert load the executor reports.
import { describe, expect, it } from "vitest";
import { buildKernelModule } from "../../backends/wasm/build.js";
import { planGraph as lowerGraph } from "../../compiler/passes/pipeline.js";
import { ReferenceSession } from "../../compiler/reference/interpreter.js";
import { randomWeights } from "../../compiler/weights/random.js";
import { wasmDevice } from "../../backends/wasm/device.js";
import { Model } from "../../runtime/model.js";
import { graphOfSource } from "../helpers/compile.js";

const ROUTERS: [string, string][] = [
  ["softmax top-2, renormalised", `topk(k = 2, scoring = "softmax", renormalize = true)`],
  ["sigmoid, selection bias, groups (DeepSeek-V3)", `topk(k = 3, scoring = "sigmoid", selection_bias = true, groups = 4, topk_groups = 2, group_scoring = "top2_sum", renormalize = true, scale = 2.5)`],
  ["groups scored by max (DeepSeek-V2)", `topk(k = 2, scoring = "softmax", groups = 4, topk_groups = 3, group_scoring = "max", scale = 1.7)`],
  ["softmax_topk (Mixtral)", `topk(k = 2, scoring = "softmax_topk")`],
  ["sparsemixer (Phi-3.5-MoE)", `topk(k = 2, scoring = "sparsemixer", jitter_eps = 0.3)`],
  ["capacity factor (route() in JavaScript)", `topk(k = 2, capacity_factor = 0.75)`],
  ["expert choice (route() in JavaScript)", `expert_choice(1.5)`],
];

const source = (router: string) => `model M {
  expert F(x: [T, 16], f: int) -> [T, 16] { return linear(silu(linear(x, f) @ "up"), 16) @ "down" }
  input tokens: i32[seq]
  h = embed(tokens, 32, 16)
  m = moe(h,
    experts = [6 of F(f = 8) @ "experts.{e}", 1 of zero, 1 of identity],
    router = ${router} @ "gate",
    shared = F(f = 8) @ "shared",
    shared_gate = sigmoid_gate() @ "shared_gate")
  output y = linear(h + m, 32)
}`;

const wasm = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;
const ids = [3, 17, 5, 30, 11, 2, 8, 21, 14];

describe("the MoE step against the reference interpreter", () => {
  for (const [name, router] of ROUTERS) {
    it(name, async () => {
      const g = graphOfSource(source(router));
      const w = randomWeights(g, 11);
      const want = new ReferenceSession(g, { get: (n) => w.get(n) }).forward(Int32Array.from(ids)).get("y")!.data;
      const plan = lowerGraph(g);
      for (const kernels of [undefined, wasmDevice(wasm)]) {
        const model = await Model.create(plan, (n, into) => into.set(w.get(n)!), { maxContext: 16, maxTokens: 16, ...(kernels ? { kernels } : {}) });
        const got = (await model.forward(ids));
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1e-3 + Math.abs(want[i]!)));
        expect(worst, `${model.kernels}: worst relative error ${worst}`).toBeLessThan(1e-4);
        // Every token-choice assignment is counted once (capacity drops some, expert choice takes C per expert).
        const load = model.expertLoad[0]!;
        expect(load.length).toBe(8);
        const total = load.reduce((a, b) => a + b, 0);
        if (router.startsWith("expert_choice")) expect(total).toBe(8 * Math.ceil((1.5 * ids.length) / 8));
        else if (router.includes("capacity")) expect(total).toBeLessThanOrEqual(2 * ids.length);
        else expect(total).toBe(ids.length * (router.includes("k = 3") ? 3 : 2));
      }
    });
  }
});
