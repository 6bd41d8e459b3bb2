// The two onnxruntime engines behind one small interface: onnxruntime-node (native CPU
// execution provider, MLAS) and onnxruntime-web (its WebAssembly build, run in Node).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OnnxMoeModel } from "./moe-model.ts";

export interface OrtLayer {
  readonly name: string;
  run(x: Float32Array, T: number, d: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * onnxruntime-node: the model is written to a temporary folder (external data sits next to it) and
 * loaded by path. `env`: environment variables set only while the session is created, for kernel
 * switches its kernels read when they are constructed (QMoE's ORT_USE_MLAS_Q4_GEMM_MOE).
 */
export async function ortNode(m: OnnxMoeModel, threads: number, env: Readonly<Record<string, string>> = {}): Promise<OrtLayer> {
  const ort = await import("onnxruntime-node");
  const dir = mkdtempSync(join(tmpdir(), "moec-bench-"));
  try {
    writeFileSync(join(dir, "moe.onnx"), m.model);
    for (const file of m.files) writeFileSync(join(dir, file.path), file.data);
    const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
    Object.assign(process.env, env);
    const session = await ort.InferenceSession
      .create(join(dir, "moe.onnx"), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      })
      .finally(() => {
        for (const [k, v] of saved) if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      });
    return {
      name: `onnxruntime-node (${threads} thread${threads > 1 ? "s" : ""}${Object.keys(env).length ? `, ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ")}` : ""})`,
      async run(x, T, d) {
        const out = await session.run({
          input: new ort.Tensor("float32", x.subarray(0, T * d), [T, d]),
        });
        return out["output"]!.data as Float32Array;
      },
      async release() {
        await session.release();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

let webThreads: number | null = null;

/**
 * onnxruntime-web's WASM build in Node. Its thread count is fixed at the first session of the
 * process (env.wasm.numThreads; in Node its default is min(4, ceil(cores / 2))), so every
 * call in one process must ask for the same count.
 */
export async function ortWeb(m: OnnxMoeModel, threads: number): Promise<OrtLayer> {
  const ort = await import("onnxruntime-web");
  if (webThreads === null) {
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.simd = true;
    webThreads = threads;
  } else if (webThreads !== threads) throw new Error(`onnxruntime-web already runs with ${webThreads} threads in this process`);
  const session = await ort.InferenceSession.create(m.model, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
    externalData: m.files.map((f) => ({ path: f.path, data: f.data })),
  });
  return {
    name: `onnxruntime-web (wasm, ${threads} thread${threads > 1 ? "s" : ""})`,
    async run(x, T, d) {
      const out = await session.run({
        input: new ort.Tensor("float32", x.slice(0, T * d), [T, d]),
      });
      return out["output"]!.data as Float32Array;
    },
    async release() {
      await session.release();
    },
  };
}
