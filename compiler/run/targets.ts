// What `moec run --target` accepts: the graph interpreter (`reference`, the semantics every
// backend is tested against), or the compiled plan on a registered backend (backends/registry.ts).
import { RUNTIME_BACKENDS, TARGETS } from "../../runtime/backends.js";

export const RUN_TARGETS: readonly string[] = ["reference", ...TARGETS];

/** What `moec run` uses without --target: the first registered backend (the fastest first) that runs here. */
export function defaultRunTarget(): string {
  return RUNTIME_BACKENDS.find((b) => b.available())?.target ?? "reference";
}
