// The CUDA kernels on the CPU (backends/cuda/csrc/moec_emu.h runs each thread of a block as a
// fiber): every storage format decoded as runtime/weights decodes it, every matmul kernel (GEMV,
// gate/up pairs, f32 tiles, tensor-core tiles, [K, N] weights) dense and grouped by expert
// against double-precision sums, the GPU router against route(), attention variants, and the
// Mamba-2 scan printed from the C-style base over a pass of several sequences against mamba2Scan, and
// Jamba's causal_conv1d and mamba_scan against causalConv1d and mambaScan.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { emuKernelTest, emuLibrary, which } from "../../helpers/cuda-build.js";
import { namedRandom, runSeed } from "../../helpers/seed.js";
import { kernelCases } from "./cases.js";

const run = promisify(execFile);
const seed = runSeed("cuda kernels");

describe.skipIf(!which("g++"))("CUDA kernels (CPU emulation)", () => {
  it("match their references", async () => {
    const exe = await emuKernelTest();
    const cases = join(await emuLibrary(), `cases-${process.pid}.bin`);
    await writeFile(cases, kernelCases(namedRandom(seed, "kernels"), { routes: 400 }));
    const { stdout } = await run(exe, [cases], { maxBuffer: 1 << 26 }).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`kernel_test failed:\n${(e.stdout ?? "").split("\n").filter((l) => !l.startsWith("PASS")).join("\n")}\n${e.stderr ?? ""}`);
    });
    const lines = stdout.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
    expect(lines.at(-1)).toMatch(/^(\d+) of \1 checks passed$/);
    expect(lines.filter((l) => l.includes("mamba2_scan")).length).toBe(12); // 4 passes × y, state, conv window
    expect(lines.filter((l) => l.includes("causal_conv1d") || l.includes("mamba_scan ")).length).toBe(12); // 3 passes × conv y, window, scan y, state
    // The 16-bit tensor-core kernel (moec_gemm16): dense, grouped, placed, and gate/up pairs.
    for (const kind of [/^PASS matmul .* gemm16/, /^PASS grouped \S+ .* gemm16 placed/, /^PASS gate\/up pair .* gemm16/, /^PASS grouped gate\/up pair .* gemm16/])
      expect(lines.filter((l) => kind.test(l)).length, String(kind)).toBeGreaterThan(0);
  }, 900_000); // the emulated library builds first when its sources changed (minutes on 2 busy cores)
});
