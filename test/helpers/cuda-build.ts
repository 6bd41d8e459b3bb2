// Builds the CUDA backend's sources for tests: on the CPU through moec_emu.h (g++ -DMOEC_EMU),
// or with nvcc for the GPU architectures (compile only). The runtime and kernel objects are
// built once per source hash (in the OS temp folder) and shared by every model a test links.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import type { Plan } from "../../runtime/plan/plan.js";
import { csrcDir, cstyleSources, CUDA_ARCHS, formatSources, NVCC_FLAGS } from "../../backends/cuda/emit.js";
import { planToC } from "../../backends/cuda/plan-c.js";

const run = promisify(execFile);

export function which(tool: string): string | null {
  for (const dir of (process.env["PATH"] ?? "").split(":")) if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  return null;
}

export const EMU_FLAGS = ["-O1", "-std=c++20", "-ffp-contract=off", "-w", "-DMOEC_EMU", "-x", "c++"];

/** The static sources plus every generated one except model.cu, in `dir`. */
async function writeLibrarySources(dir: string): Promise<string[]> {
  await mkdir(join(dir, "tests"), { recursive: true });
  const src = csrcDir();
  for (const f of await readdir(src)) if (/\.(h|cuh|cu|c)$/.test(f)) await copyFile(join(src, f), join(dir, f));
  await copyFile(join(src, "tests", "kernel_test.cu"), join(dir, "tests", "kernel_test.cu"));
  const generated = { ...cstyleSources(), ...formatSources(STORAGE_FORMATS) };
  for (const [name, text] of Object.entries(generated)) await writeFile(join(dir, name), text);
  return ["runtime.cu", "ops.cu", "tune.cu", "cstyle.cu", "formats_used.cu", ...STORAGE_FORMATS.map((f) => `mm_${f}.cu`)];
}

async function hashSources(flags: readonly string[] = EMU_FLAGS): Promise<string> {
  const h = createHash("sha256");
  const src = csrcDir();
  for (const f of (await readdir(src)).sort()) if (/\.(h|cuh|cu|c)$/.test(f)) h.update(f).update(await readFile(join(src, f)));
  h.update(await readFile(join(src, "tests", "kernel_test.cu")));
  for (const text of Object.values(cstyleSources())) h.update(text);
  h.update(flags.join(" "));
  return h.digest("hex").slice(0, 16);
}

/** Runs `jobs` with at most `n` at a time. */
async function parallel<T>(n: number, jobs: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  }));
  return out;
}

let library: Promise<string> | null = null;

/** The emulated library's folder: sources and objects (build/*.o) of everything but a model. */
export function emuLibrary(): Promise<string> {
  return (library ??= (async () => {
    const dir = join(tmpdir(), `moec-cuda-emu-${await hashSources()}`);
    if (existsSync(join(dir, "ready"))) return dir;
    const units = await writeLibrarySources(dir);
    await mkdir(join(dir, "build"), { recursive: true });
    const jobs = [
      ...units.map((u) => () => run("g++", [...EMU_FLAGS, "-c", join(dir, u), "-o", join(dir, "build", u.replace(/\.cu$/, ".o"))], { maxBuffer: 1 << 24 })),
      () => run("gcc", ["-O1", "-c", join(dir, "main.c"), "-o", join(dir, "build", "main.o")]),
    ];
    await parallel(2, jobs);
    await writeFile(join(dir, "ready"), "");
    return dir;
  })());
}

/** An emulated moec_run for `plan`, linked against the shared library objects. */
export async function emuModel(plan: Plan, dir: string): Promise<string> {
  const lib = await emuLibrary();
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(lib)) if (/\.(h|cuh)$/.test(f)) await copyFile(join(lib, f), join(dir, f));
  await writeFile(join(dir, "model.cu"), planToC(plan).source);
  await run("g++", [...EMU_FLAGS, "-c", join(dir, "model.cu"), "-o", join(dir, "model.o")], { maxBuffer: 1 << 24 });
  const objects = ["runtime", "ops", "tune", "cstyle", "formats_used", ...STORAGE_FORMATS.map((f) => `mm_${f}`), "main"].map((o) => join(lib, "build", `${o}.o`));
  const exe = join(dir, "moec_run_emu");
  await run("g++", [join(dir, "model.o"), ...objects, "-o", `${exe}.tmp`]);
  await rename(`${exe}.tmp`, exe);
  return exe;
}

/** The emulated kernel_test program. */
export async function emuKernelTest(): Promise<string> {
  const lib = await emuLibrary();
  const exe = join(lib, "kernel_test");
  if (existsSync(exe)) return exe;
  await run("g++", [...EMU_FLAGS, "-c", join(lib, "tests", "kernel_test.cu"), "-o", join(lib, "build", "kernel_test.o")], { maxBuffer: 1 << 24 });
  const objects = ["cstyle", "formats_used", ...STORAGE_FORMATS.map((f) => `mm_${f}`)].map((o) => join(lib, "build", `${o}.o`));
  await run("g++", [join(lib, "build", "kernel_test.o"), ...objects, "-o", `${exe}.tmp`]);
  await rename(`${exe}.tmp`, exe);
  return exe;
}

// ---- nvcc (compile and link only: no GPU here) ------------------------------------------------------

/** nvcc for every architecture a bundle builds for by default (sm_80 and sm_90a). */
export const NVCC_ALL = [...NVCC_FLAGS, ...CUDA_ARCHS];

let nvccLib: Promise<string> | null = null;

/**
 * Every library source (every storage format's kernels), kernel_test and main.c compiled with nvcc
 * for sm_80 and sm_90a, once per source hash (a folder in the OS temp folder; nvcc is slow).
 */
export function nvccLibrary(): Promise<string> {
  return (nvccLib ??= (async () => {
    const dir = join(tmpdir(), `moec-cuda-nvcc-${await hashSources(NVCC_ALL)}`);
    if (existsSync(join(dir, "ready"))) return dir;
    const units = await writeLibrarySources(dir);
    await mkdir(join(dir, "build"), { recursive: true });
    const jobs = [
      ...[...units, "tests/kernel_test.cu"].map((u) => () => run("nvcc", [...NVCC_ALL, "-c", join(dir, u), "-o", join(dir, "build", u.replace(/^tests\//, "").replace(/\.cu$/, ".o"))], { maxBuffer: 1 << 24 })),
      () => run("gcc", ["-O2", "-c", join(dir, "main.c"), "-o", join(dir, "build", "main.o")]),
    ];
    await parallel(2, jobs);
    await writeFile(join(dir, "ready"), "");
    return dir;
  })());
}

/** model.cu of `plan` compiled with nvcc and linked with the library into moec_run (not run: no GPU). */
export async function nvccModel(plan: Plan, dir: string): Promise<string> {
  const lib = await nvccLibrary();
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(lib)) if (/\.(h|cuh)$/.test(f)) await copyFile(join(lib, f), join(dir, f));
  await writeFile(join(dir, "model.cu"), planToC(plan).source);
  await run("nvcc", [...NVCC_ALL, "-c", join(dir, "model.cu"), "-o", join(dir, "model.o")], { maxBuffer: 1 << 24 });
  const objects = ["runtime", "ops", "tune", "cstyle", "formats_used", ...STORAGE_FORMATS.map((f) => `mm_${f}`), "main"].map((o) => join(lib, "build", `${o}.o`));
  const exe = join(dir, "moec_run");
  await run("nvcc", [...CUDA_ARCHS, join(dir, "model.o"), ...objects, "-o", exe], { maxBuffer: 1 << 24 });
  return exe;
}

/** kernel_test linked for the GPU (compile and link check). */
export async function nvccKernelTest(): Promise<string> {
  const lib = await nvccLibrary();
  const exe = join(lib, "kernel_test");
  if (existsSync(exe)) return exe;
  const objects = ["kernel_test", "cstyle", "formats_used", ...STORAGE_FORMATS.map((f) => `mm_${f}`)].map((o) => join(lib, "build", `${o}.o`));
  await run("nvcc", [...CUDA_ARCHS, ...objects, "-o", `${exe}.tmp`], { maxBuffer: 1 << 24 });
  await rename(`${exe}.tmp`, exe);
  return exe;
}
