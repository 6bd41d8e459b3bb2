// What `moec run --target` accepts: the graph interpreter (`reference`, the semantics every
// backend is tested against), or the compiled plan on a registered backend (backends/registry.ts).
import { NATIVE_BACKENDS } from "../../backends/registry.js";
import { RUNTIME_BACKENDS, TARGETS } from "../../runtime/backends.js";

/** The graph interpreter, the JS runtime's backends, and the emit-only ones (built and run natively). */
export const RUN_TARGETS: readonly string[] = ["reference", ...TARGETS, ...NATIVE_BACKENDS.map((b) => b.target)];

/** What `moec run` uses without --target: the first registered backend (the fastest first) that runs here. */
export function defaultRunTarget(): string {
  return RUNTIME_BACKENDS.find((b) => b.available())?.target ?? "reference";
}
