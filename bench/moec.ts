// moec's side of the benchmark: a .moe program checked, passed through the pass pipeline,
// lowered to a plan and run by the runtime (`Model`) on the WASM SIMD kernels, the way
// `moec run --target wasm` does it (compiler/run/engines.ts). The compiled library comes
// from dist/ (`npm run bench` builds it first).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkSource } from "../dist/compiler/index.js";
import { runPipeline } from "../dist/compiler/passes/pipeline.js";
import { planGraph } from "../dist/compiler/passes/pipeline.js";
import { Model } from "../dist/runtime/model.js";
import { hasRelaxedSimd, wasmDevice } from "../dist/backends/wasm/device.js";
import type { Graph } from "../dist/compiler/index.js";
import type { WeightReader } from "../dist/runtime/model.js";
import type { DeviceFactory } from "../dist/runtime/device.js";

export type MoecKernels = "wasm" | "js";

export interface Kernels {
  readonly kind: MoecKernels;
  readonly label: string;
  readonly factory: DeviceFactory | undefined;
}

const BUILD = fileURLToPath(new URL("../dist/backends/wasm/build.js", import.meta.url));

/**
 * The WASM SIMD kernels (relaxed SIMD where V8 has it, single-threaded: sharedMemory false),
 * or, only when the WASM backend is not built yet or MOEC_BENCH_KERNELS=js, the TypeScript
 * kernels, labelled as such everywhere they are reported.
 */
export async function moecKernels(threads = 1, memory64 = false, fusedMaxRows?: number): Promise<Kernels> {
  const forced = process.env["MOEC_BENCH_KERNELS"];
  if (forced !== "js" && existsSync(BUILD)) {
    const mod = (await import(BUILD)) as {
      buildKernelModule(o: { relaxedSimd: boolean; sharedMemory: boolean; memory64?: boolean }): {
        binary: Uint8Array;
      };
    };
    const relaxed = hasRelaxedSimd();
    const binary = mod.buildKernelModule({
      relaxedSimd: relaxed,
      sharedMemory: threads > 1,
      memory64,
    }).binary;
    return {
      kind: "wasm",
      label: `moec wasm${relaxed ? " (relaxed SIMD)" : " (SIMD128)"}${memory64 ? ", 64-bit memory" : ""}, ${threads} thread${threads > 1 ? "s" : ""}`,
      factory: wasmDevice(binary, { threads, memory64, ...(fusedMaxRows !== undefined ? { fusedMaxRows } : {}) }),
    };
  }
  if (forced === "wasm") throw new Error(`MOEC_BENCH_KERNELS=wasm but ${BUILD} is missing (build backends/wasm first)`);
  return {
    kind: "js",
    label: "moec TypeScript kernels (NOT the WASM backend), 1 thread",
    factory: undefined,
  };
}

/** Checks a .moe source and runs the default pass pipeline; throws with the diagnostics on errors. */
export function compileSource(name: string, text: string): Graph {
  const checked = checkSource(name, text);
  if (!checked.graph) throw new Error(`${name} does not check:\n${checked.diagnostics.map((d) => JSON.stringify(d)).join("\n")}`);
  return runPipeline(checked.graph).graph;
}

export async function moecModel(graph: Graph, read: WeightReader, kernels: Kernels, maxTokens: number, maxContext: number, sequences = 1): Promise<Model> {
  const plan = planGraph(graph);
  return Model.create(plan, read, {
    maxTokens,
    maxContext,
    sequences,
    ...(kernels.factory ? { device: kernels.factory } : {}),
  });
}

/**
 * One MoE layer as a .moe program: token ids → embedding rows (the hidden states, one row per
 * token) → moe with a softmax top-k router renormalised over the k and SwiGLU experts → output.
 * No norm, no residual, no head: the output is the moe result itself.
 */
export function layerSource(experts: number, k: number, hidden: number, inter: number, rows: number): string {
  return `model MoeLayer {
  const vocab = ${rows}, d = ${hidden}
  const experts = ${experts}, top_k = ${k}, ffn = ${inter}

  expert SwiGLU(x: [T, d], ffn: int) -> [T, d] {
    gate = linear(x, ffn) @ "gate_proj"
    up = linear(x, ffn) @ "up_proj"
    return linear(silu(gate) * up, d) @ "down_proj"
  }

  input tokens: i32[seq]
  h = embed(tokens, vocab, d) @ "embed"
  output y = moe(h,
                 experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}",
                 router = topk(k = top_k, scoring = "softmax", renormalize = true) @ "gate") @ "mlp"
}
`;
}
