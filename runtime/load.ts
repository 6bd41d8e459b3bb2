// Loading a compiled bundle: `plan.json`, `weights.safetensors` and the backend's files (the
// `.wasm` kernel builds) from a folder (Node) or a URL (fetch, in browsers and Node alike).
import { runtimeBackend, UnknownTargetError } from "./backends.js";
import { checkPlan, LoadError, Model, resolveSizes, type LoadOptions, type RawWeightReader } from "./model.js";
import { packTensors } from "./weights/pack-layout.js";
import type { Plan } from "./plan/plan.js";
import { defaultThreads } from "../backends/wasm/device.js";
import { streamWeights, WeightStreamError } from "./weights/stream.js";
import { checkBundleLoadOptions } from "./options.js";

export interface BundleLoadOptions extends LoadOptions {
  /** The backend to run on: "wasm" (default) or "js" (the TypeScript kernels, for engines without WebAssembly SIMD). */
  readonly backend?: string;
  /** Kernel threads (default: the cores available in Node, and in cross-origin isolated pages; else 1). */
  readonly threads?: number;
  /** Splittable kernels with less work than this stay on one thread (tuning; default 2^18 multiply-adds). */
  readonly splitThreshold?: number;
  /** Load the bundle's tokenizer.json, if it has one (default true). */
  readonly tokenizer?: boolean;
}

function isRemote(u: URL): boolean {
  return u.protocol === "http:" || u.protocol === "https:";
}

async function readBytes(u: URL): Promise<Uint8Array> {
  if (isRemote(u)) {
    const r = await fetch(u);
    if (!r.ok) throw new LoadError(`${u.href}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }
  // Read with a cap (a plan or kernel file is megabytes; a folder or a device is refused).
  const { readFileCapped } = await import("./weights/read-capped.js");
  const { fileURLToPath } = await import("node:url");
  try {
    return await readFileCapped(fileURLToPath(u), 1 << 30);
  } catch (e) {
    throw new LoadError(`${u.pathname}: ${(e as { reason?: string }).reason === "missing" ? "no such file" : ((e as { problem?: string }).problem ?? (e as Error).message)}`);
  }
}

/** Loads a bundle folder (a path or a URL ending in '/'). */
export async function loadModel(source: string | URL, opts: BundleLoadOptions = {}): Promise<Model> {
  checkBundleLoadOptions(opts);
  let base: URL;
  if (source instanceof URL) base = source;
  else if (/^https?:\/\//.test(source) || source.startsWith("file:")) base = new URL(source);
  else {
    const { pathToFileURL } = await import("node:url");
    const { resolve } = await import("node:path");
    base = pathToFileURL(resolve(source) + "/");
  }
  if (!base.pathname.endsWith("/")) base = new URL(base.href + "/");
  const planUrl = new URL("plan.json", base);
  let plan: Plan;
  try {
    plan = checkPlan(JSON.parse(new TextDecoder().decode(await readBytes(planUrl))), planUrl.href);
  } catch (e) {
    if (e instanceof LoadError) throw e;
    throw new LoadError(`${planUrl.href}: ${(e as Error).message}`);
  }
  let backend;
  try {
    backend = runtimeBackend(opts.backend ?? "wasm");
  } catch (e) {
    throw e instanceof UnknownTargetError ? new LoadError(e.message) : e;
  }
  const weightsUrl = new URL("weights.safetensors", base);
  const reader = await openWeights(weightsUrl, plan);
  try {
    const threads = backend.capabilities.threads ? (opts.threads ?? (await defaultThreads())) : 1;
    const device = await backend.device({
      plan,
      threads,
      ...resolveSizes(opts),
      sequences: opts.sequences ?? 1,
      ...(opts.memoryBase !== undefined ? { memoryBase: opts.memoryBase } : {}),
      ...(opts.splitThreshold !== undefined ? { splitThreshold: opts.splitThreshold } : {}),
      files: (name) => readBytes(new URL(name, base)),
    });
    const model = await Model.create(plan, reader.reader, { ...opts, device });
    // The tokenizer, when the bundle ships one (loaded on demand: bundles without text never load the tokenizer code).
    if (opts.tokenizer !== false) {
      try {
        model.tokenizer = await (await import("./text/load.js")).loadTokenizer(base);
      } catch (e) {
        await model.dispose();
        throw new LoadError((e as Error).message);
      }
    }
    return model;
  } finally {
    await reader.close();
  }
}

async function openWeights(u: URL, plan: Plan): Promise<{ reader: RawWeightReader; close: () => Promise<void> }> {
  if (isRemote(u)) {
    // Browsers (and Node given a URL): stream the pack straight into the model's memory.
    const r = await fetch(u);
    if (!r.ok) throw new LoadError(`${u.href}: HTTP ${r.status}`);
    try {
      const w = await streamWeights(u.href, r, plan.weights.map((p) => ({ name: p.name, tensors: packTensors(p) })));
      return {
        reader: {
          raw: async (name, _format, into) => {
            try {
              await w.read(name, into);
            } catch (e) {
              throw e instanceof WeightStreamError ? new LoadError(e.message) : e;
            }
          },
        },
        close: () => w.close(),
      };
    } catch (e) {
      throw e instanceof WeightStreamError ? new LoadError(e.message) : e;
    }
  }
  const { openSafetensors } = await import("./weights/safetensors.js");
  const { fileURLToPath } = await import("node:url");
  const file = await openSafetensors(fileURLToPath(u));
  // Every weight's tensors, in the plan's format, back to back (runtime/weights/pack-layout.ts).
  for (const w of plan.weights) {
    let end = -1;
    for (const [name, dtype, shape, bytes] of packTensors(w)) {
      const info = file.has(name) ? file.info(name) : null;
      const problem = !info
        ? `the weight pack has no tensor ${name}`
        : info.dtype !== dtype || info.shape.join(",") !== shape.join(",") || info.byteLength !== bytes
          ? `tensor ${name} is ${info.dtype} [${info.shape.join(", ")}], but the plan stores ${w.name} as ${w.format} (${dtype} [${shape.join(", ")}])`
          : end >= 0 && info.offset !== end
            ? `tensor ${name} does not follow ${w.name} in the file`
            : null;
      if (problem) {
        await file.close();
        throw new LoadError(`${file.file}: ${problem}; the pack is not this bundle's: recompile the bundle with its weights`);
      }
      end = info!.offset + bytes;
    }
  }
  return { reader: { raw: (name, _format, into) => file.readSpanInto(name, into) }, close: () => file.close() };
}
