// The cuda target as the compiler sees it: an emit-only backend. The JS runtime never runs CUDA;
// `moec compile --target cuda` writes a C/CUDA bundle (emit.ts), and `moec run --target cuda`
// builds that bundle with nvcc and runs its host program, when this machine has nvcc and an
// NVIDIA GPU — and says which of the two is missing when it has not.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Capabilities } from "../../runtime/backend.js";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import type { Plan } from "../../runtime/plan/plan.js";
import { openBundleDir } from "../../compiler/emit/outdir.js";
import { writeWeightPack, type PackProgress, type PackReader } from "../../compiler/weights/pack.js";
import { writeCudaSources } from "./emit.js";

const exec = promisify(execFile);

/** A target whose code runs outside the JS runtime: the compiler emits it, a native toolchain builds and runs it. */
export interface NativeBackend {
  readonly target: string;
  readonly summary: string;
  readonly capabilities: Capabilities;
  /** What this machine lacks to build and run it (empty: it can). */
  missing(): Promise<string[]>;
  /** Writes the bundle; returns the names of its files. */
  writeBundle(opts: NativeBundleOptions): Promise<string[]>;
  /** Builds and runs the plan on token ids (greedy). */
  run(opts: NativeRunOptions): Promise<NativeRunResult>;
}

export interface NativeBundleOptions {
  readonly outDir: string;
  readonly plan: Plan;
  /** Reads each weight in the plan's storage format (compiler/weights/bound.ts), or null for no pack. */
  readonly weights: PackReader | null;
  readonly force?: boolean;
  readonly tuning?: string | null;
  readonly onPackProgress?: (p: PackProgress) => void;
}

export interface NativeRunOptions {
  readonly plan: Plan;
  readonly weights: PackReader;
  readonly ids: readonly number[];
  readonly maxNew: number;
  readonly maxContext: number;
  readonly logitsPath?: string;
  /** Build progress lines (nvcc takes a few minutes the first time). */
  readonly onLog?: (line: string) => void;
}

export interface NativeRunResult {
  readonly ids: number[];
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly device: string;
}

/** A native backend that cannot build or run here: the message names what is missing. */
export class ToolchainError extends Error {}

function which(tool: string): string | null {
  for (const dir of (process.env["PATH"] ?? "").split(":")) if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  return null;
}

/** The GPUs nvidia-smi sees ("NVIDIA H200, 9.0"), or [] without a driver or a GPU. */
async function gpus(): Promise<{ name: string; cc: string }[]> {
  if (!which("nvidia-smi")) return [];
  try {
    const { stdout } = await exec("nvidia-smi", ["--query-gpu=name,compute_cap", "--format=csv,noheader"], { timeout: 20_000 });
    return stdout.trim().split("\n").filter(Boolean).map((l) => {
      const [name, cc] = l.split(",").map((s) => s.trim());
      return { name: name ?? "GPU", cc: cc ?? "" };
    });
  } catch {
    return [];
  }
}

export const cudaBackend: NativeBackend = {
  target: "cuda",
  summary: "CUDA C for NVIDIA GPUs (sm_80 and newer): emits .cu/.h with a C ABI, a Makefile and a host program; runs through that C runtime, never in JS",
  // fused: the fuse-experts pass's glu steps print as the gate/up pair kernels (plan-c.ts); its fused
  // down projection is what the grouped matmul's placing epilogue already does.
  capabilities: { formats: STORAGE_FORMATS, threads: true, memory64: true, fused: ["glu_matmul", "matmul_scatter_add"], hosts: ["the emitted C runtime (nvcc and an NVIDIA GPU)"] },
  async missing() {
    const out: string[] = [];
    if (!which("nvcc")) out.push("nvcc (the CUDA compiler) is not on PATH");
    if ((await gpus()).length === 0) out.push(which("nvidia-smi") ? "nvidia-smi sees no NVIDIA GPU" : "there is no NVIDIA driver (nvidia-smi is not on PATH), so no GPU");
    return out;
  },
  async writeBundle(opts) {
    const dir = await openBundleDir(opts.outDir, opts.force === true);
    try {
      await writeCudaSources(dir.tmp, opts.plan, opts.tuning);
      if (opts.weights) await writeWeightPack(join(dir.tmp, "weights.safetensors"), opts.plan, opts.weights, opts.onPackProgress);
      return await dir.commit();
    } finally {
      await dir.close();
    }
  },
  async run(opts) {
    const missing = await this.missing();
    if (missing.length) throw new ToolchainError(`--target cuda builds the emitted CUDA code and runs it on a GPU, and this machine cannot: ${missing.join("; ")}. Use 'moec compile --target cuda -o DIR' here and build DIR with make where nvcc and a GPU are.`);
    const gpu = (await gpus())[0]!;
    // One build folder per plan (and GPU architecture), reused across runs.
    const arch = gpu.cc === "9.0" ? "-gencode=arch=compute_90a,code=sm_90a" : `-gencode=arch=compute_${gpu.cc.replace(".", "")},code=sm_${gpu.cc.replace(".", "")}`;
    const key = createHash("sha256").update(JSON.stringify(opts.plan)).update(arch).digest("hex").slice(0, 16);
    const dir = join(tmpdir(), `moec-cuda-run-${key}`);
    await mkdir(dir, { recursive: true });
    if (!existsSync(join(dir, "moec_run"))) {
      await writeCudaSources(dir, opts.plan);
      opts.onLog?.(`building the CUDA bundle for ${gpu.name} in ${dir} (nvcc, a few minutes the first time)`);
      try {
        await exec("make", ["-j4", `ARCHS=${arch}`], { cwd: dir, maxBuffer: 1 << 26 });
      } catch (e) {
        throw new ToolchainError(`building the CUDA bundle failed (in ${dir}):\n${((e as { stderr?: string }).stderr ?? String(e)).slice(-4000)}`);
      }
    }
    const weights = join(dir, `weights-${process.pid}.safetensors`);
    await writeWeightPack(weights, opts.plan, opts.weights);
    try {
      const args = ["--ids", opts.ids.join(","), "-n", String(opts.maxNew), "-w", weights, "--max-context", String(opts.maxContext), "--json"];
      if (opts.logitsPath) args.push("--logits", opts.logitsPath);
      const { stdout } = await exec(join(dir, "moec_run"), args, { cwd: dir, maxBuffer: 1 << 26 }).catch((e: { stderr?: string }) => {
        throw new ToolchainError(`the CUDA host program failed: ${(e.stderr ?? String(e)).trim()}`);
      });
      const r = JSON.parse(stdout) as { ids: number[]; prefill_ms: number; decode_ms: number };
      return { ids: r.ids, prefillMs: r.prefill_ms, decodeMs: r.decode_ms, device: gpu.name };
    } finally {
      await rm(weights, { force: true });
    }
  },
};

