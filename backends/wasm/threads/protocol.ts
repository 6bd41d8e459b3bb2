// The shared control block between the runtime and its kernel workers (one SharedArrayBuffer):
//   i32[0] generation: bumped by the runtime to hand out a batch of jobs
//   i32[1] done: jobs finished in the current batch
//   i32[2] stop: 1 tells the workers to exit
//   i32[3] failed: 1 once a worker died (the runtime then stops waiting and reports it)
//   per worker w: i32[HEADER + w] the function id (-1: nothing this time), and
//   f64 args at ARGS + w · MAX_ARGS (float64 holds every i32 pointer, every pointer of a 64-bit
//   memory — below 2^53 — and every f32 value exactly).
import { SPLIT_KERNELS } from "../../../runtime/kernels/catalogue.js";
import { FUSED_KERNELS, FUSED_NAMES } from "../../../runtime/kernels/fused.js";

export const HEADER = 16;
export const MAX_WORKERS = 64;
export const MAX_ARGS = 24;
export const ARGS_BYTE_OFFSET = 4 * (HEADER + MAX_WORKERS);
export const CONTROL_BYTES = ARGS_BYTE_OFFSET + 8 * MAX_WORKERS * MAX_ARGS;

/** Kernel exports a worker may be asked to run, by id: the catalogue's splittable kernels, then the fused ones. */
export const WORKER_FUNCTIONS: readonly string[] = [...SPLIT_KERNELS, ...FUSED_NAMES.filter((k) => "split" in FUSED_KERNELS[k])];

/** Iterations to spin before sleeping in Atomics.wait: a decode step dispatches hundreds of jobs. */
export const SPIN = 20000;
