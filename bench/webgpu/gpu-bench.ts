// WebGPU benchmarks, run in Deno on the GPU machine (bench/webgpu/run-gpu.sh bundles this with
// esbuild and runs it beside the PyTorch peers, torch_moe.py). Prints one JSON line per result.
//   floor     the card's WGSL streaming read bandwidth: a vec4 read kernel over 2 GiB
//   moe       one MoE layer (router, top-k, SwiGLU experts, weighted combine) at the OLMoE,
//             Qwen3-30B-A3B and Mixtral-8x7B shapes, f32 weights, T tokens: GPU time per layer
//             (timestamp queries around R layers in one submit), the bytes decode must read, and
//             the fraction of the floor that is
//   decode    a whole model (plan.json given, random weights) decoding: GPU and wall time per token
/// <reference types="@webgpu/types" />
import { createWebGpuDevice } from "../../backends/wgsl/device.js";
import { LAUNCH, weightAt, type LaunchContext } from "../../runtime/launch.js";
import { layoutFor } from "../../runtime/memory.js";
import { Model } from "../../runtime/model.js";
import { weightBytes } from "../../runtime/plan/formats.js";
import type { MoeStep, Plan, Step } from "../../runtime/plan/plan.js";
import { PLAN_FORMAT, PLAN_VERSION } from "../../runtime/plan/types.js";

declare const Deno: { args: string[]; readTextFile(p: string): Promise<string> };
const out = (o: object) => console.log(JSON.stringify(o));

const adapter = (await navigator.gpu.requestAdapter({ powerPreference: "high-performance" }))!;
const L = adapter.limits;
const gpu = await adapter.requestDevice({
  requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
  requiredLimits: { maxStorageBufferBindingSize: L.maxStorageBufferBindingSize, maxBufferSize: L.maxBufferSize, maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize },
});
out({ kind: "adapter", info: { description: adapter.info.description, vendor: adapter.info.vendor, architecture: adapter.info.architecture }, features: [...adapter.features], maxStorageBufferBindingSize: L.maxStorageBufferBindingSize });

/** A 64 MiB tile of uniform(−a, a) floats, repeated to fill any weight (weights repeat every 16 M elements). */
const TILE = Float32Array.from({ length: 1 << 24 }, () => Math.random() * 2 - 1);
function fillRandom(into: Float32Array, amp: number): void {
  for (let o = 0; o < into.length; o += TILE.length) {
    const n = Math.min(TILE.length, into.length - o);
    into.set(TILE.subarray(0, n), o);
    if (amp !== 1) for (let i = o; i < o + n; i++) into[i]! *= amp;
  }
}

// ---- the floor: vec4 streaming reads -------------------------------------------------------
async function floor(): Promise<number> {
  const bytes = Math.min(2 ** 31 - 2 ** 20, L.maxStorageBufferBindingSize, L.maxBufferSize) & ~0xfffff;
  const src = gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const sink = gpu.createBuffer({ size: 4 * 65536 * 4, usage: GPUBufferUsage.STORAGE });
  const WG = 256;
  const groups = 65535;
  const code = `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> s: array<vec4<f32>>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let total = arrayLength(&a);
  let stride = n.x * ${WG}u;
  var acc = vec4<f32>(0.0);
  for (var i = g.x; i < total; i = i + stride) { acc = acc + a[i]; }
  if (acc.x == 1.2345e-30) { s[g.x % 65536u] = acc; }
}`;
  const pipe = gpu.createComputePipeline({ layout: "auto", compute: { module: gpu.createShaderModule({ code }), entryPoint: "main" } });
  const bg = gpu.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: sink } }] });
  const qs = gpu.createQuerySet({ type: "timestamp", count: 2 });
  const res = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const back = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const times: number[] = [];
  for (let rep = 0; rep < 12; rep++) {
    const enc = gpu.createCommandEncoder();
    const p = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    p.setPipeline(pipe);
    p.setBindGroup(0, bg);
    p.dispatchWorkgroups(groups);
    p.end();
    enc.resolveQuerySet(qs, 0, 2, res, 0);
    enc.copyBufferToBuffer(res, 0, back, 0, 16);
    gpu.queue.submit([enc.finish()]);
    await back.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(back.getMappedRange().slice(0));
    back.unmap();
    if (rep >= 2) times.push(Number(t[1]! - t[0]!));
  }
  times.sort((a, b) => a - b);
  const bw = bytes / (times[Math.floor(times.length / 2)]! * 1e-9);
  out({ kind: "floor", bytes, medianNs: times[Math.floor(times.length / 2)], bestNs: times[0], bytesPerSecond: bw });
  src.destroy();
  return bw;
}

// ---- one MoE layer -------------------------------------------------------------------------
interface Shape { name: string; d: number; F: number; E: number; k: number; renormalize: boolean }
const SHAPES: Shape[] = [
  { name: "OLMoE-1B-7B", d: 2048, F: 1024, E: 64, k: 8, renormalize: false },
  { name: "Qwen3-30B-A3B", d: 2048, F: 768, E: 128, k: 8, renormalize: true },
  { name: "Mixtral-8x7B", d: 4096, F: 14336, E: 8, k: 2, renormalize: true },
];
// --tiny: the same runs at toy sizes (a check on lavapipe before the GPU machine).
const TINY = Deno.args.includes("--tiny");
if (TINY) SHAPES.splice(0, SHAPES.length, { name: "tiny-a", d: 64, F: 48, E: 8, k: 2, renormalize: true }, { name: "tiny-b", d: 96, F: 32, E: 16, k: 4, renormalize: false });
const TOKENS = TINY ? [1, 4, 70] : [1, 4, 16, 64, 256, 1024, 4096];

function layerPlan(s: Shape, maxT: number): Plan {
  const { d, F, E } = s;
  const step: MoeStep = {
    op: "moe", x: 1, routerInput: 1, out: 2,
    router: { choice: "token", k: s.k, scoring: "softmax", renormalize: s.renormalize, bias: false, selectionBias: false, groups: 1, topkGroups: 1, groupScoring: "max", scale: 1, capacityFactor: null, jitterEps: 0.01, pregated: false },
    routing: "kernel", routerWeight: { w: 0 }, routerBias: null, selectionBias: null, experts: E,
    groups: [{
      kind: "ffn", count: E, input: 3, output: 7,
      steps: [
        { op: "matmul", x: 3, out: 4, weight: { local: 0 }, bias: null, K: d, N: F, layout: "out_in" },
        { op: "matmul", x: 3, out: 5, weight: { local: 1 }, bias: null, K: d, N: F, layout: "out_in" },
        { op: "swiglu", gate: 4, up: 5, out: 6, alpha: 1, limit: null, upOffset: 0 },
        { op: "matmul", x: 6, out: 7, weight: { local: 2 }, bias: null, K: F, N: d, layout: "out_in" },
      ] as Step[],
      bind: Array.from({ length: E }, (_, e) => [[1, e * F * d], [2, e * F * d], [3, e * d * F]] as const),
    }],
    shared: null, sharedGate: null,
  };
  void maxT;
  return {
    format: PLAN_FORMAT, version: PLAN_VERSION, model: s.name, vocab: 0,
    input: { name: "x", value: 0 }, output: { name: "y", value: 2, width: d },
    weights: [
      { name: "router", shape: [E, d], format: "f32" },
      { name: "w1", shape: [E, F, d], format: "f32" },
      { name: "w3", shape: [E, F, d], format: "f32" },
      { name: "w2", shape: [E, d, F], format: "f32" },
    ],
    values: [{ width: 1, slot: 0 }, { width: d, slot: 1 }, { width: d, slot: 2 }, { width: d, slot: 3 }, { width: F, slot: 4 }, { width: F, slot: 5 }, { width: F, slot: 6 }, { width: d, slot: 7 }],
    slots: [1, d, d, d, F, F, F, d], caches: [], steps: [step],
  };
}

async function moeLayer(s: Shape, bw: number): Promise<void> {
  const maxT = Math.max(...TOKENS);
  const plan = layerPlan(s, maxT);
  // Slots for every assignment (T·k rows) so the step-by-step path runs in one pass of rows.
  const layout = layoutFor(plan, { maxTokens: maxT * s.k, maxContext: 1, limit: { bytes: 2 ** 50, text: "GPU" } });
  const dev = await createWebGpuDevice(gpu, { plan, layout, label: s.name }, { profile: true });
  for (let i = 0; i < plan.weights.length; i++) {
    const w = plan.weights[i]!;
    await dev.write(layout.weightOffsets[i]!, weightBytes("f32", w.shape), (dst) => fillRandom(new Float32Array(dst.buffer, dst.byteOffset, dst.byteLength / 4), i === 0 ? 1 : 1 / Math.sqrt(w.shape[2]!)));
  }
  const x = new Float32Array(maxT * s.d);
  fillRandom(x, 1);
  const step = plan.steps[0] as MoeStep;
  for (const T of TOKENS) {
    dev.upload(layout.slotOffsets[1]!, x.subarray(0, T * s.d));
    const ctx: LaunchContext = {
      device: dev, k: dev.launch, plan, layout, segments: [{ seq: 0, start: 0, length: T, position: 0, ropeLength: T }], expertLoad: [],
      v: (v) => layout.slotOffsets[plan.values[v]!.slot]!,
      w: (ref, bind) => ("w" in ref ? layout.weightOffsets[ref.w]! : layout.weightOffsets[bind![ref.local]![0]]! + 4 * bind![ref.local]![1]),
      wq: (ref, bind) => ("w" in ref ? weightAt(plan, layout, ref.w, 0) : weightAt(plan, layout, bind![ref.local]![0], bind![ref.local]![1])),
      width: (v) => plan.values[v]!.width,
      runBody: (steps, n, bind) => { for (const st of steps) void (LAUNCH[st.op] as (...a: unknown[]) => unknown)(ctx, st, n, bind); },
    };
    const run = () => (LAUNCH.moe as (c: LaunchContext, st: MoeStep, T: number, b: null) => unknown)(ctx, step, T, null);
    run();
    await dev.synchronize();
    await dev.gpuNanos();
    const before = dev.dispatches();
    const R = T <= 64 ? 50 : T <= 1024 ? 10 : 4;
    const t0 = performance.now();
    for (let r = 0; r < R; r++) run();
    await dev.synchronize();
    const wallMs = (performance.now() - t0) / R;
    const dispatches = (dev.dispatches() - before) / R;
    const ns = (await dev.gpuNanos())! / R;
    // bytes decode must read: the router, every chosen expert's three matrices once, x and out
    const offs = new Int32Array((await dev.read(layout.scratch + Math.ceil((4 * T * s.E) / 16) * 16, 4 * (s.E + 1))).buffer);
    let used = 0;
    for (let e = 0; e < s.E; e++) if (offs[e + 1]! > offs[e]!) used++;
    const bytes = 4 * (s.E * s.d + used * 3 * s.F * s.d + 2 * T * s.d);
    const flops = 2 * T * s.k * 3 * s.F * s.d;
    out({ kind: "moe", shape: s.name, T, gpuUs: ns / 1e3, wallUs: wallMs * 1e3, dispatches, expertsUsed: used, bytes, floorUs: (bytes / bw) * 1e6, fractionOfFloor: bytes / bw / (ns * 1e-9), tflops: flops / (ns * 1e-9) / 1e12 });
  }
  await dev.dispose();
}

// ---- whole-model decode ----------------------------------------------------------------------
async function decode(planFile: string, bw: number): Promise<void> {
  const plan = JSON.parse(await Deno.readTextFile(planFile)) as Plan;
  let dev: Awaited<ReturnType<typeof createWebGpuDevice>> | null = null;
  const factory = Object.assign(async (req: Parameters<typeof createWebGpuDevice>[1]) => (dev = await createWebGpuDevice(gpu, req, { profile: true })), { addressLimit: { bytes: 2 ** 50, text: "GPU" }, offHost: true });
  const t0 = performance.now();
  const model = await Model.create(plan, (_n, into) => fillRandom(into, 0.02), { maxContext: 512, maxTokens: 64, device: factory });
  out({ kind: "load", model: plan.model, seconds: (performance.now() - t0) / 1e3, regionsSplit: dev!.regions.split });
  const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % plan.vocab);
  await model.forward(prompt);
  await dev!.gpuNanos();
  const steps = 32;
  let tok = 1;
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) {
    const logits = await model.forward([tok]);
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
    tok = best;
  }
  const wallMs = (performance.now() - t1) / steps;
  const gpuMs = (await dev!.gpuNanos())! / steps / 1e6;
  // active bytes per token: every weight but the experts', plus k experts' weights per MoE step
  let dense = 0;
  let active = 0;
  const expertWeights = new Set<number>();
  for (const s of plan.steps) if (s.op === "moe") for (const g of s.groups) for (const b of g.bind) for (const [w] of b) expertWeights.add(w);
  plan.weights.forEach((w, i) => {
    if (!expertWeights.has(i)) dense += weightBytes(w.format, w.shape);
  });
  for (const s of plan.steps) {
    if (s.op !== "moe") continue;
    const g = s.groups[0]!;
    const per = g.bind[0]!.reduce((a, [w]) => a + weightBytes(plan.weights[w]!.format, plan.weights[w]!.shape) / (plan.weights[w]!.shape.length === 3 ? g.count : 1), 0);
    active += s.router.k * per;
  }
  const bytes = dense + active;
  out({ kind: "decode", model: plan.model, steps, gpuMsPerToken: gpuMs, wallMsPerToken: wallMs, activeBytes: bytes, floorMs: (bytes / bw) * 1e3, fractionOfFloor: bytes / bw / (gpuMs * 1e-3) });
  await model.dispose();
}

const bw = await floor();
const only = Deno.args.find((a) => a.startsWith("--shapes="))?.slice(9).split(",");
for (const s of SHAPES) if (!only || only.includes(s.name)) await moeLayer(s, bw);
const planArg = Deno.args.find((a) => a.startsWith("--decode="));
if (planArg) await decode(planArg.slice(9), bw);
