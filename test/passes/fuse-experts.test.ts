// The fuse-experts pass: on and off give the same logits to float32 rounding on every HF
// fixture, on the TypeScript device and on WASM (plain SIMD128 and threads with every split),
// through a batched prefill of sequences of different lengths and a cached decode step; and it
// fuses what it says (the expert bodies of f32 nn.Linear experts) and nothing it cannot.
import { describe, expect, it } from "vitest";
import { buildKernelModule } from "../../backends/wasm/build.js";
import { wasmDevice } from "../../backends/wasm/device.js";
import { jsDevice } from "../../backends/js/device.js";
import { planGraph } from "../../compiler/passes/pipeline.js";
import { FUSED_NAMES } from "../../runtime/kernels/fused.js";
import { allSteps } from "../../runtime/plan/steps.js";
import { Model } from "../../runtime/model.js";
import type { DeviceFactory } from "../../runtime/device.js";
import type { Plan } from "../../runtime/plan/plan.js";
import { hfFolders, loadFixture, relativeError } from "../helpers/fixtures.js";
import { verifyPlan } from "../../compiler/lower/verify.js";
import type { MoeStep } from "../../runtime/plan/plan.js";

/** The pass is opt-in (--enable-pass fuse-experts). */
const ON = ["fuse-experts"];
const plain = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;
const shared = buildKernelModule({ relaxedSimd: false, sharedMemory: true }).binary;
const workerUrl = new URL("../../dist/backends/wasm/threads/worker.js", import.meta.url);

// The WASM device runs fused steps with the fused kernels up to FUSED_MAX_ROWS rows and as their
// unfused kernels above; here also with the fused kernels at every row count, and with none.
const DEVICES: readonly { label: string; make: () => DeviceFactory }[] = [
  { label: "js", make: () => jsDevice() },
  { label: "wasm", make: () => wasmDevice(plain) },
  { label: "wasm, fused kernels at every row count", make: () => wasmDevice(plain, { fusedMaxRows: Infinity }) },
  { label: "wasm, fused steps run unfused", make: () => wasmDevice(plain, { fusedMaxRows: 0 }) },
];

function plans(graph: Parameters<typeof planGraph>[0]): { on: Plan; off: Plan } {
  return { on: planGraph(graph, { verify: true, enabled: ON, context: { fused: FUSED_NAMES } }), off: planGraph(graph, { verify: true, context: { fused: FUSED_NAMES } }) };
}

/** Counts of fused steps in a plan. */
function fusedCounts(plan: Plan): { glu: number; down: number } {
  let glu = 0;
  let down = 0;
  for (const s of allSteps(plan.steps)) {
    if (s.op === "glu") glu++;
    if (s.op === "moe") down += s.groups.filter((g) => g.fusedDown).length + (s.shared?.fusedDown ? 1 : 0);
  }
  return { glu, down };
}

/** A batched prefill of three prompts, then one cached decode step each: all logits, in order. */
async function run(plan: Plan, weights: ReadonlyMap<string, Float32Array>, device: DeviceFactory, prompt: readonly number[]): Promise<Float32Array[]> {
  const m = await Model.create(plan, (n, into) => into.set(weights.get(n)!), { maxContext: 64, maxTokens: 32, sequences: 3, device });
  try {
    const prompts = [prompt, prompt.slice(0, 3), prompt.slice(2).reverse()];
    const prefill = await m.forwardBatch(prompts.map((ids, seq) => ({ seq, ids })));
    const decode = await m.forwardBatch([5, 9, 2].map((id, seq) => ({ seq, ids: [id] })));
    return [...prefill, ...decode].map((a) => Float32Array.from(a));
  } finally {
    await m.dispose();
  }
}

describe("fuse-experts", () => {
  it("runs only when enabled, and only for a target that lists the fused kernels", async () => {
    const fx = await loadFixture("olmoe");
    expect(fusedCounts(planGraph(fx.graph, { enabled: ON }))).toEqual({ glu: 0, down: 0 });
    expect(fusedCounts(planGraph(fx.graph, { enabled: ON, context: { fused: ["glu_matmul"] } }))).toEqual({ glu: 0, down: 0 });
    expect(fusedCounts(planGraph(fx.graph, { context: { fused: FUSED_NAMES } }))).toEqual({ glu: 0, down: 0 });
    expect(fusedCounts(planGraph(fx.graph, { enabled: ON, disabled: ON, context: { fused: FUSED_NAMES } }))).toEqual({ glu: 0, down: 0 });
    // OLMoE: two MoE layers of one expert group each.
    expect(fusedCounts(planGraph(fx.graph, { enabled: ON, context: { fused: FUSED_NAMES } }))).toEqual({ glu: 2, down: 2 });
  });

  it("folds shared experts in (DeepSeek-V3: ungated; Qwen2-MoE: sigmoid gate) and fuses the split gate_up form (Granite)", async () => {
    for (const [name, min] of [["deepseek_v3", 2], ["qwen2_moe", 2], ["granitemoe", 2]] as const) {
      const fx = await loadFixture(name);
      const { on } = plans(fx.graph);
      const c = fusedCounts(on);
      expect(c.glu, name).toBeGreaterThanOrEqual(min);
      expect(c.down, name).toBeGreaterThanOrEqual(min);
      if (name !== "granitemoe") expect(on.steps.some((s) => s.op === "moe" && s.shared?.fusedDown), name).toBe(true);
    }
  });

  it("leaves experts in other formats (bf16 kept by weight-formats, --quantize) and [K, N] experts unfused", async () => {
    const fx = await loadFixture("olmoe");
    const q = planGraph(fx.graph, { enabled: ON, context: { fused: FUSED_NAMES, quantize: { kind: "uniform", format: "q8_0", text: "q8_0" } } });
    expect(fusedCounts(q)).toEqual({ glu: 0, down: 0 });
    const gpt = await loadFixture("gpt_oss");
    expect(fusedCounts(plans(gpt.graph).on)).toEqual({ glu: 0, down: 0 });
  });

  for (const name of hfFolders) {
    it(`${name}: pass on and off agree on JS and WASM (batched prefill, cached decode)`, async () => {
      const fx = await loadFixture(name);
      const { on, off } = plans(fx.graph);
      for (const d of DEVICES) {
        const a = await run(on, fx.weights, d.make(), fx.prompt);
        const b = await run(off, fx.weights, d.make(), fx.prompt);
        a.forEach((x, i) => expect(relativeError(x, b[i]!), `${d.label} output ${i}`).toBeLessThan(2e-6));
      }
    });
  }

  it("wasm threads with every call split agree with one thread", async () => {
    for (const name of ["olmoe", "qwen2_moe", "deepseek_v3"]) {
      const fx = await loadFixture(name);
      const { on } = plans(fx.graph);
      const a = await run(on, fx.weights, wasmDevice(shared, { threads: 3, splitThreshold: 1, workerUrl, fusedMaxRows: Infinity }), fx.prompt);
      const b = await run(on, fx.weights, wasmDevice(plain, { fusedMaxRows: Infinity }), fx.prompt);
      a.forEach((x, i) => expect(relativeError(x, b[i]!), `${name} output ${i}`).toBeLessThan(1e-6));
    }
  });

  it("the plan verifier refuses a fused down projection that is not an f32 nn.Linear matmul ending the body", async () => {
    const fx = await loadFixture("olmoe");
    const { on } = plans(fx.graph);
    expect(verifyPlan(on)).toEqual([]);
    const at = on.steps.findIndex((s) => s.op === "moe");
    const moe = on.steps[at] as MoeStep;
    const g = moe.groups[0]!;
    const withGroup = (group: typeof g) => ({ ...on, steps: on.steps.map((s, i) => (i === at ? { ...moe, groups: [group] } : s)) });
    expect(verifyPlan(withGroup({ ...g, steps: g.steps.slice(0, -1) })).map((d) => d.message).join("\n")).toMatch(/fusedDown, but its last step is not an out_in matmul/);
    const down = g.steps[g.steps.length - 1]!;
    const wi = down.op === "matmul" && "local" in down.weight ? g.bind[0]![down.weight.local]![0] : -1;
    const bf16 = { ...on, weights: on.weights.map((w, i) => (i === wi ? { ...w, format: "bf16" as const } : w)) };
    expect(verifyPlan(bf16).map((d) => d.message).join("\n")).toMatch(/fused down projection reads weight \d+ stored as bf16/);
  });

  it("a plan fused for a target with the kernels refuses a device without them, naming the switch", async () => {
    const fx = await loadFixture("olmoe");
    const { on } = plans(fx.graph);
    const js = jsDevice();
    const bare: DeviceFactory = Object.assign(async (req: Parameters<DeviceFactory>[0]) => {
      const d = await js(req);
      return { ...d, fused: undefined };
    }, { threads: 1 });
    const m = await Model.create(on, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 16, maxTokens: 8, sequences: 1, device: bare });
    await expect(m.forward(fx.prompt.slice(0, 2))).rejects.toThrow(/without --enable-pass fuse-experts/);
  });
});
