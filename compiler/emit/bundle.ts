// `moec compile --target T`: writes a self-contained bundle an app can import.
//   plan.json               the execution plan (runtime/plan/plan.ts, versioned)
//   the backend's files     for wasm: kernels*.wasm, plain / relaxed SIMD, unshared / shared memory, 32/64-bit
//   worker.js, *-HASH.js    the kernel worker for multithreading; chunks loaded on demand
//   driver.js               WebGPU for Node: the Deno process that owns the GPU device (webgpu bundles only)
//   runtime.js (+ types/)   the JS runtime, bundled (no compiler, no binaryen)
//   model.js, model.d.ts    the entry point: `import { loadModel } from "./model.js"`
//   weights.safetensors     the weight pack (with --weights, an HF folder, or --random-weights)
//   tokenizer.json, tokenizer_config.json, generation_config.json
//                           the tokenizer, when the model has one (compiler/emit/tokenizer-files.ts)
//   package.json            marks the folder as ES modules
// Files are written into a temporary folder that replaces the output folder's files only
// when everything succeeded; compiler/emit/outdir.ts keeps the user's own files safe.
import { cp, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Project, VariableDeclarationKind } from "ts-morph";
import type { Plan } from "../../runtime/plan/plan.js";
import { findBackend } from "../../backends/registry.js";
import { writeWeightPack, type PackProgress, type PackReader } from "../weights/pack.js";
import { openBundleDir } from "./outdir.js";

const here = dirname(fileURLToPath(import.meta.url));
/** dist/runtime, next to dist/compiler/emit. */
const runtimeDist = resolve(here, "..", "..", "runtime");

export interface BundleOptions {
  readonly outDir: string;
  readonly plan: Plan;
  readonly info: { readonly totalParams: number; readonly activeParams: number };
  /** Reads each weight in the plan's format (compiler/weights/bound.ts), or null for a bundle without weights. */
  readonly weights: PackReader | null;
  readonly onPackProgress?: (p: PackProgress) => void;
  /** The backend the bundle runs on by default (registered in backends/registry.ts; default "wasm"). */
  readonly target?: string;
  /** Write into a non-empty folder moec did not create (replacing only the bundle's files). */
  readonly force?: boolean;
  /** Tokenizer files to ship (file name → contents). */
  readonly tokenizer?: Readonly<Record<string, string>> | null;
}

/** Writes the bundle for `opts.target`'s backend (default "wasm"): its files, and a model.js that loads with it. */
export async function writeBundle(opts: BundleOptions): Promise<string[]> {
  const dir = await openBundleDir(resolve(opts.outDir), opts.force === true);
  const tmp = dir.tmp;
  try {
    await writeFile(join(tmp, "plan.json"), JSON.stringify(opts.plan));
    // The bundle is ES modules wherever it is copied.
    await writeFile(join(tmp, "package.json"), JSON.stringify({ name: `${opts.plan.model.toLowerCase()}-moec-bundle`, private: true, type: "module", main: "model.js", types: "model.d.ts" }, null, 2) + "\n");
    const target = opts.target ?? "wasm";
    const backend = findBackend(target);
    if (!backend) throw new Error(`no backend for target ${target}`);
    for (const name of backend.files) await writeFile(join(tmp, name), await backend.buildFile(name));
    // One build for the runtime and its worker: code-splitting keeps Node-only modules (file
    // reading, worker_threads) in chunks that browsers never load.
    await build({
      // driver.js (webgpu bundles): WebGPU for Node, the Deno side (backends/wgsl/remote.ts finds it beside the runtime).
      entryPoints: {
        runtime: join(runtimeDist, "index.js"),
        worker: join(runtimeDist, "..", "backends", "wasm", "threads", "worker.js"),
        ...(target === "webgpu" ? { driver: join(runtimeDist, "..", "backends", "wgsl", "driver.js") } : {}),
      },
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      outdir: tmp,
      chunkNames: "[name]-[hash]",
      external: ["node:*"],
      logLevel: "silent",
      legalComments: "none",
    });
    // The runtime's declarations, and those of the backends' runtime sides they refer to (not their emitters).
    const declarations = (src: string) => !src.endsWith(".js") && !src.endsWith(".map") && !/[\\/](emit|build|module|registry)\.d\.ts$|[\\/]wasm[\\/]kernels([\\/]|$)/.test(src);
    await cp(runtimeDist, join(tmp, "types", "runtime"), { recursive: true, filter: declarations });
    await cp(join(runtimeDist, "..", "backends"), join(tmp, "types", "backends"), { recursive: true, filter: declarations });
    await writeFile(join(tmp, "runtime.d.ts"), 'export * from "./types/runtime/index.js";\n');
    const info = { model: opts.plan.model, vocab: opts.plan.vocab, totalParams: opts.info.totalParams, activeParams: opts.info.activeParams, weights: opts.weights !== null, tokenizer: Boolean(opts.tokenizer) };
    await writeFile(
      join(tmp, "model.js"),
      `// Generated by moec. Usage: import { loadModel } from "./model.js"; const model = await loadModel();\n` +
        `import { loadModel as loadBundle } from "./runtime.js";\n\n` +
        `export const info = ${JSON.stringify(info, null, 2)};\n\n` +
        `/** Loads this model: its plan, kernels and weights from this folder. */\n` +
        `export function loadModel(options = {}) {\n  return loadBundle(new URL(".", import.meta.url), { backend: ${JSON.stringify(target)}, ...options });\n}\n`,
    );
    await writeFile(join(tmp, "model.d.ts"), modelDeclarations(info));
    for (const [name, text] of Object.entries(opts.tokenizer ?? {})) await writeFile(join(tmp, name), text);
    if (opts.weights) await writeWeightPack(join(tmp, "weights.safetensors"), opts.plan, opts.weights, opts.onPackProgress);
    // Replace the output folder's bundle files (leaving unrelated files alone).
    return await dir.commit();
  } finally {
    await dir.close();
  }
}

/** The bundle's typed entry point, generated with ts-morph so the literal types are exact. */
function modelDeclarations(info: { model: string; vocab: number; totalParams: number; activeParams: number; weights: boolean; tokenizer: boolean }): string {
  const project = new Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile("model.d.ts", "");
  file.addStatements("// Generated by moec: the types of this compiled model.");
  file.addImportDeclaration({ isTypeOnly: true, namedImports: ["Model", "BundleLoadOptions"], moduleSpecifier: "./runtime.js" });
  file.addExportDeclaration({ isTypeOnly: true, namedExports: ["Model", "BundleLoadOptions"], moduleSpecifier: "./runtime.js" });
  file.addVariableStatement({
    isExported: true,
    hasDeclareKeyword: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{
      name: "info",
      type: `{ readonly model: ${JSON.stringify(info.model)}; readonly vocab: ${info.vocab}; readonly totalParams: ${info.totalParams}; readonly activeParams: ${info.activeParams}; readonly weights: ${info.weights}; readonly tokenizer: ${info.tokenizer} }`,
    }],
  });
  file.addFunction({
    isExported: true,
    hasDeclareKeyword: true,
    name: "loadModel",
    docs: [`Loads ${info.model}: token ids in (0..${info.vocab - 1}), logits [tokens, ${info.vocab}] out${info.tokenizer ? "; with its tokenizer, model.generate also takes text or chat messages and streams text" : ""}.`],
    parameters: [{ name: "options", type: "BundleLoadOptions", hasQuestionToken: true }],
    returnType: "Promise<Model>",
  });
  return file.getFullText();
}
