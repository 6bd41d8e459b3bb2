// The backends the runtime knows, by target name. A new backend is a folder under backends/
// whose `runtime.ts` exports a RuntimeBackend, plus one line here (and its emitter in
// backends/registry.ts, which the type checker holds to this list).
import { jsBackend } from "../backends/js/runtime.js";
import { wasmBackend } from "../backends/wasm/runtime.js";
import { webgpuBackend } from "../backends/wgsl/runtime.js";
import type { RuntimeBackend } from "./backend.js";

export const RUNTIME_BACKENDS = [wasmBackend, jsBackend, webgpuBackend] as const satisfies readonly RuntimeBackend[];

export type Target = (typeof RUNTIME_BACKENDS)[number]["target"];
export const TARGETS = RUNTIME_BACKENDS.map((b) => b.target) as Target[];

export class UnknownTargetError extends Error {}

/**
 * Targets the compiler emits code for that this runtime never runs (backends/registry.ts lists
 * them as NATIVE_BACKENDS): asking the JS runtime for one says where it does run.
 */
export const EMIT_ONLY_TARGETS: Readonly<Record<string, string>> = {
  cuda: "runs only through the C runtime that `moec compile --target cuda` emits (moec.h, built with nvcc), not in JavaScript",
};

export function runtimeBackend(target: string): RuntimeBackend {
  const b = RUNTIME_BACKENDS.find((x) => x.target === target);
  if (!b) {
    const native = EMIT_ONLY_TARGETS[target];
    throw new UnknownTargetError(native ? `the ${target} target ${native}; the JS runtime runs ${TARGETS.join(", ")}` : `no backend for target '${target}'; registered: ${TARGETS.join(", ")}`);
  }
  return b;
}
