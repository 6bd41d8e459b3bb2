// Binding checkpoint tensors to a graph by name. Every parameter must be present with the
// expected shape, and every checkpoint tensor must be used; problems are reported together,
// naming the tensors (up to a limit) and the expected and actual shapes.
import type { Graph } from "../ir/graph.js";
import { WeightFileError, type WeightSource } from "../../runtime/weights/safetensors.js";
import { expectedTensors, type ExpectedTensor } from "./expected.js";
import { checkTensorFinite, shouldCheckWeights, weightMemoryProblem, type CheckWeights } from "../run/weight-checks.js";

const LIST_LIMIT = 12;

export class BindError extends Error {}

function listed(names: readonly string[], render: (n: string) => string): string {
  const shown = names.slice(0, LIST_LIMIT).map((n) => `    ${render(n)}`);
  if (names.length > LIST_LIMIT) shown.push(`    … and ${names.length - LIST_LIMIT} more`);
  return shown.join("\n");
}

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;

/**
 * MXFP4 (GPT-OSS): `X` is stored as `X_blocks` + `X_scales` in [..., out, in] order; moec's
 * stacked `in_out` layout wants [..., in, out], so the dequantised tensor is transposed.
 */
async function readMxfp4(src: WeightSource, name: string, want: readonly number[]): Promise<Float32Array | null> {
  if (!src.has(`${name}_blocks`) || !src.has(`${name}_scales`)) return null;
  const { shape, data } = await src.readMxfp4(name);
  const [rowsN, colsN] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  if (want.length !== shape.length || want[want.length - 2] !== colsN || want[want.length - 1] !== rowsN) {
    throw new BindError(`${name}: MXFP4 tensor dequantises to ${fmt(shape)}, which does not transpose to the expected ${fmt(want)}`);
  }
  const out = new Float32Array(data.length);
  const mat = rowsN * colsN;
  for (let b = 0; b < data.length / mat; b++) {
    for (let r = 0; r < rowsN; r++) for (let c = 0; c < colsN; c++) out[b * mat + c * rowsN + r] = data[b * mat + r * colsN + c]!;
  }
  return out;
}

export interface BindOptions {
  /** Scan every tensor for NaN / ±Infinity as it is read (compiler/run/weight-checks.ts); default "auto". */
  readonly checkWeights?: CheckWeights;
  /** Where the binder's notes go (tensors left unbound on purpose); default: standard error. */
  readonly onNote?: (message: string) => void;
}

/**
 * The name prefixes of checkpoint tensors a program leaves unbound on purpose: its string constant
 * `unused_weights`, prefixes separated by spaces (a multimodal checkpoint's vision tower:
 * `const unused_weights = "model.visual."`). Tensors under them are not "unused" errors; the binder says how
 * many it left. A `*` in a prefix stands for one non-empty name segment without dots, so that a per-layer
 * module can be named once (DeepSeek-V3.2's `model.layers.*.self_attn.indexer.`).
 */
export function unusedWeightPrefixes(graph: Graph): string[] {
  const v = graph.constants["unused_weights"];
  return typeof v === "string" ? v.split(/\s+/).filter((p) => p.length > 0) : [];
}

/**
 * Checks that `src` holds every tensor the graph needs, with its shape, and nothing else; throws
 * BindError listing all problems. Returns the expected tensors. Reads no tensor data.
 */
export function checkBinding(graph: Graph, src: WeightSource, sourceName: string, opts: BindOptions = {}): Map<string, ExpectedTensor> {
  const want = expectedTensors(graph);
  const have = new Set(src.names());
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const used = new Set<string>();
  for (const [name, t] of want) {
    if (have.has(name)) {
      used.add(name);
      const actual = src.info(name).shape;
      if (fmt(actual) !== fmt(t.shape)) wrongShape.push(name);
    } else if (have.has(`${name}_blocks`) && have.has(`${name}_scales`)) {
      used.add(`${name}_blocks`);
      used.add(`${name}_scales`);
    } else missing.push(name);
  }
  const prefixes = unusedWeightPrefixes(graph);
  const matchers = prefixes.map(prefixMatcher);
  const skipped = prefixes.length ? [...have].filter((n) => !used.has(n) && matchers.some((m) => m(n))) : [];
  const extra = [...have].filter((n) => !used.has(n) && !skipped.includes(n));
  if (skipped.length) {
    const note = opts.onNote ?? ((m: string) => process.stderr.write(`moec: note: ${m}\n`));
    note(`${sourceName}: ${skipped.length} tensor${skipped.length > 1 ? "s" : ""} under ${prefixes.map((p) => `"${p}"`).join(", ")} left unbound, as the model's unused_weights says (${skipped.slice(0, 3).join(", ")}${skipped.length > 3 ? ", …" : ""})`);
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`  ${missing.length} tensor${missing.length > 1 ? "s" : ""} the model needs ${missing.length > 1 ? "are" : "is"} missing:\n${listed(missing, (n) => `${n} ${fmt(want.get(n)!.shape)} (for ${want.get(n)!.origin})`)}`);
  if (wrongShape.length) problems.push(`  ${wrongShape.length} tensor${wrongShape.length > 1 ? "s have" : " has"} the wrong shape:\n${listed(wrongShape, (n) => `${n}: expected ${fmt(want.get(n)!.shape)}, found ${fmt(src.info(n).shape)}`)}`);
  if (extra.length) problems.push(`  ${extra.length} tensor${extra.length > 1 ? "s" : ""} in the checkpoint ${extra.length > 1 ? "are" : "is"} not used by the model:\n${listed(extra, (n) => `${n} ${fmt(src.info(n).shape)}`)}`);
  if (problems.length) {
    throw new BindError(`${sourceName}: the weights do not match the model ${graph.name}:\n${problems.join("\n")}\n  hint: check the weight names (@ "...") in the model, or that the checkpoint is for this configuration.`);
  }
  return want;
}

/** `name` starts with `prefix`, where each `*` in the prefix matches one non-empty run of characters other than ".". */
export function prefixMatcher(prefix: string): (name: string) => boolean {
  if (!prefix.includes("*")) return (n) => n.startsWith(prefix);
  const re = new RegExp(`^${prefix.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^.]+")}`);
  return (n) => re.test(n);
}

/** Whether `name` is a GPT-OSS MXFP4 pair (`name_blocks`, `name_scales`) in `src`. */
export function isMxfp4Pair(src: WeightSource, name: string): boolean {
  return !src.has(name) && src.has(`${name}_blocks`) && src.has(`${name}_scales`);
}

/** Reads tensor `name` as float32 (an MXFP4 pair dequantised and transposed to the expected [..., in, out]). */
export async function readBoundF32(src: WeightSource, name: string, shape: readonly number[], sourceName: string): Promise<Float32Array> {
  if (!src.has(name)) return (await readMxfp4(src, name, shape))!;
  try {
    return await src.readF32(name);
  } catch (e) {
    if (e instanceof WeightFileError) throw e;
    throw new BindError(`${sourceName}: tensor ${name}: ${(e as Error).message}`);
  }
}

/** Reads and checks every tensor the graph needs; throws BindError listing all problems. */
export async function bindWeights(graph: Graph, src: WeightSource, sourceName: string, opts: BindOptions = {}): Promise<Map<string, Float32Array>> {
  const want = checkBinding(graph, src, sourceName, opts);
  const have = new Set(src.names());
  // Sizes before reads: the float32 weights must fit in the memory the machine has now.
  const bytes = 4 * [...want.values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  const first = [...want.keys()].find((n) => have.has(n));
  const short = weightMemoryProblem(graph.name, bytes, first !== undefined ? src.info(first).file : sourceName);
  if (short) throw new BindError(short);
  const check = shouldCheckWeights(opts.checkWeights, bytes);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of want) {
    if (have.has(name)) {
      try {
        out.set(name, await src.readF32(name));
      } catch (e) {
        if (e instanceof WeightFileError) throw e;
        throw new BindError(`${sourceName}: tensor ${name}: ${(e as Error).message}`);
      }
    } else out.set(name, (await readMxfp4(src, name, t.shape))!);
    if (check) checkTensorFinite(out.get(name)!, have.has(name) ? src.info(name).file : src.info(`${name}_blocks`).file, name, t.shape);
  }
  return out;
}
