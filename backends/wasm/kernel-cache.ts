// Built kernel files kept on disk between runs. binaryen takes seconds to build and optimise the
// kernel library, which every `moec run` paid at its start. A file is keyed by a hash of the code
// the build runs (this backend's folder and the runtime it implements: catalogue, formats) and
// binaryen's version, so a changed moec never reads a file an older one built; a file that does
// not validate is rebuilt. The cache is only ever an optimisation: a folder that cannot be read or
// written costs a rebuild, nothing else. MOEC_CACHE_DIR=DIR moves it, MOEC_CACHE_DIR=off turns it off.
import { createHash, type Hash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder kernel files are kept in, or null when the cache is off. */
export function kernelCacheDir(): string | null {
  const env = process.env["MOEC_CACHE_DIR"];
  if (env === "off" || env === "0") return null;
  if (env) return join(env, "kernels");
  return join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "moec", "kernels");
}

let key: string | null = null;

/** A hash of every source file the kernel build can run, and binaryen's version (16 hex digits). */
export function kernelBuildKey(): string {
  if (key) return key;
  const here = dirname(fileURLToPath(import.meta.url)); // backends/wasm (in dist/ or the source tree)
  const h = createHash("sha256");
  hashTree(h, here, "wasm");
  hashTree(h, join(here, "..", "..", "runtime"), "runtime");
  try {
    h.update(readFileSync(createRequire(import.meta.url).resolve("binaryen/package.json")));
  } catch {
    h.update("binaryen: unknown");
  }
  key = h.digest("hex").slice(0, 16);
  return key;
}

function hashTree(h: Hash, dir: string, label: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) hashTree(h, path, `${label}/${e.name}`);
    else if (/\.(js|ts|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts")) {
      h.update(`${label}/${e.name}\0`);
      h.update(readFileSync(path));
    }
  }
}

const FILE = /^[0-9a-f]{16}-(kernels[a-z0-9-]*\.wasm)$/;

/** The cached build of kernel file `name`, or null (no cache, no file, or a file that does not validate). */
export function readCachedKernels(name: string): Uint8Array | null {
  const dir = kernelCacheDir();
  if (!dir) return null;
  try {
    const bytes = new Uint8Array(readFileSync(join(dir, `${kernelBuildKey()}-${name}`)));
    return WebAssembly.validate(bytes) ? bytes : null;
  } catch {
    return null;
  }
}

/** Keeps a build of kernel file `name` (written whole, then renamed: a reader never sees half a file); drops older builds of it. */
export function writeCachedKernels(name: string, bytes: Uint8Array): void {
  const dir = kernelCacheDir();
  if (!dir) return;
  const final = join(dir, `${kernelBuildKey()}-${name}`);
  const tmp = join(dir, `.${kernelBuildKey()}-${name}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, final);
    // Only files of this name pattern, built by another version of moec, are removed.
    for (const f of readdirSync(dir)) {
      const m = FILE.exec(f);
      if (m && m[1] === name && f !== `${kernelBuildKey()}-${name}`) rmSync(join(dir, f), { force: true });
    }
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // (the folder itself is unusable: nothing was written)
    }
  }
}
