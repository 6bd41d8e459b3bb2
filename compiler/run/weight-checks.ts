// Checks on the weights `moec run`, `moec compile` and `moec report` load, made before or while
// they are read, never after a model has silently produced garbage:
//   - memory: the float32 weights must fit in the memory this machine has available, checked
//     before the first tensor is read (a 60 GB checkpoint on a 16 GB machine is refused at once);
//   - values: with the check on, every tensor is scanned for NaN and ±Infinity as it is read
//     (one pass over data already in cache), and the first bad element is named — file, tensor,
//     index. On by default when the weights are at most AUTO_CHECK_BYTES as float32 (the scan
//     then costs well under a second); --check-weights forces it, --no-check-weights skips it.
import { availableMemory, formatBytes } from "../../runtime/options.js";
import { describeNonFinite, firstNonFinite, indexText } from "../../runtime/finite.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";

/** Weights up to this many bytes as float32 (2 GiB, about 537 M parameters) are checked by default. */
export const AUTO_CHECK_BYTES = 2 * 2 ** 30;

/** "on", "off", or "auto" (on for models up to AUTO_CHECK_BYTES). */
export type CheckWeights = "on" | "off" | "auto";

export function shouldCheckWeights(mode: CheckWeights | undefined, float32Bytes: number): boolean {
  return mode === "on" || ((mode ?? "auto") === "auto" && float32Bytes <= AUTO_CHECK_BYTES);
}

const gib = formatBytes;

/** Why `bytes` of float32 weights cannot be held now, or null. */
export function weightMemoryProblem(model: string, bytes: number, source: string): string | null {
  const free = availableMemory();
  if (free === null || bytes <= free) return null;
  return `${source}: the weights of ${model} take ${gib(bytes)} as float32 (moec holds them as float32 in memory), more than the ${gib(free)} this machine has available; nothing was read. Use a machine with more memory, or a smaller model`;
}

/** Throws a WeightFileError naming the first NaN or ±Infinity of a tensor, if any. */
export function checkTensorFinite(data: Float32Array, file: string, tensor: string, shape: readonly number[]): void {
  const bad = firstNonFinite(data);
  if (bad < 0) return;
  let count = 1;
  for (let i = bad + 1; i < data.length; i++) if (data[i]! - data[i]! !== 0) count++;
  throw new WeightFileError(
    file,
    `element ${bad} (index ${indexText(bad, shape)} of [${shape.join(", ")}]) is ${describeNonFinite(data[bad]!)}, and ${count === 1 ? "it is the only non-finite value" : `${count} of its ${data.length} values are NaN or Infinity`}; ` +
      `such a model computes NaN logits. The checkpoint is damaged, was saved from a diverged run, or its dtype in the header does not match its bytes; re-export or re-download it (or pass --no-check-weights to run it anyway)`,
    tensor,
  );
}
