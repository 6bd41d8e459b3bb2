// Stands in for the compiler's lazily loaded tools (binaryen, esbuild, ts-morph, prettier, …) in the
// Deno bundles of bench/webgpu: Deno resolves every import of a bundle before it runs, and these
// runs never call them. Any use says so.
module.exports = new Proxy({}, { get(_t, key) { if (key === "__esModule") return false; throw new Error(`this bundle was built without the module providing ${String(key)} (bench/webgpu/prepare-gpu.sh)`); } });
