// The on-disk kernel cache (backends/wasm/kernel-cache.ts): a second build reads the first one's
// file, a damaged file is rebuilt, MOEC_CACHE_DIR=off writes nothing, and files it did not make stay.
import { mkdtempSync, readdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kernelBuildKey, kernelCacheDir, readCachedKernels, writeCachedKernels } from "../../../backends/wasm/kernel-cache.js";
import { buildKernelModule } from "../../../backends/wasm/build.js";

let dir: string;
const saved = process.env["MOEC_CACHE_DIR"];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "moec-cache-"));
  process.env["MOEC_CACHE_DIR"] = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env["MOEC_CACHE_DIR"];
  else process.env["MOEC_CACHE_DIR"] = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe("the kernel cache", () => {
  it("keeps a build and gives back the same bytes; a damaged file reads as absent", () => {
    const name = "kernels.wasm";
    expect(readCachedKernels(name)).toBeNull();
    const built = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;
    writeCachedKernels(name, built);
    const files = readdirSync(join(dir, "kernels"));
    expect(files).toEqual([`${kernelBuildKey()}-${name}`]);
    expect(Buffer.from(readCachedKernels(name)!).equals(Buffer.from(built))).toBe(true);
    // Truncated (a crash mid-copy by some other tool): not valid WebAssembly, so rebuilt by the caller.
    const path = join(dir, "kernels", files[0]!);
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    expect(readCachedKernels(name)).toBeNull();
  });

  it("drops older builds of the same file and nothing else", () => {
    const kdir = join(dir, "kernels");
    const bytes = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;
    writeCachedKernels("kernels.wasm", bytes);
    writeFileSync(join(kdir, "0123456789abcdef-kernels.wasm"), "old build"); // another version's file
    writeFileSync(join(kdir, "0123456789abcdef-kernels-shared.wasm"), "old build of another file");
    writeFileSync(join(kdir, "notes.txt"), "the user's");
    writeCachedKernels("kernels.wasm", bytes);
    expect(readdirSync(kdir).sort()).toEqual(["0123456789abcdef-kernels-shared.wasm", `${kernelBuildKey()}-kernels.wasm`, "notes.txt"].sort());
  });

  it("is off with MOEC_CACHE_DIR=off, and an unwritable folder costs nothing but the cache", () => {
    process.env["MOEC_CACHE_DIR"] = "off";
    expect(kernelCacheDir()).toBeNull();
    writeCachedKernels("kernels.wasm", new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(readCachedKernels("kernels.wasm")).toBeNull();
    process.env["MOEC_CACHE_DIR"] = join(dir, "file");
    writeFileSync(join(dir, "file"), "not a folder");
    expect(() => writeCachedKernels("kernels.wasm", new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))).not.toThrow();
    expect(readCachedKernels("kernels.wasm")).toBeNull();
    expect(readFileSync(join(dir, "file"), "utf8")).toBe("not a folder");
  });
});
