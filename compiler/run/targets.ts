// What `moec run --target` accepts: the graph interpreter, or the compiled plan on WASM or TS kernels.
export const RUN_TARGETS = ["reference", "wasm", "js"] as const;
export type RunTarget = (typeof RUN_TARGETS)[number];
