// The backends the compiler knows: each runtime backend (runtime/backends.ts) with its emitter.
// `moec run`, `moec compile`, `moec report` and `--target` find targets here. The emitter table
// is mapped over the runtime's target names, so a backend without an emitter does not compile.
// A backend is one folder: backends/NAME/runtime.ts (what the runtime loads: its device) and
// the emitter its entry below points to (what the compiler writes for it).
import type { RuntimeBackend } from "../runtime/backend.js";
import { RUNTIME_BACKENDS, type Target } from "../runtime/backends.js";
import { cudaBackend, type NativeBackend } from "./cuda/native.js";
import { buildWasmFile } from "./wasm/emit.js";
import { buildWgslFile } from "./wgsl/emit.js";

export interface Emitter {
  /** Builds one of the backend's files (RuntimeBackend.files), for bundles and in-process runs. */
  buildFile(name: string): Promise<Uint8Array>;
}

const EMITTERS: { readonly [T in Target]: Emitter } = {
  wasm: { buildFile: buildWasmFile },
  webgpu: { buildFile: buildWgslFile },
  js: {
    buildFile: async (name) => {
      throw new Error(`the js backend has no files (asked for ${name})`);
    },
  },
};

export type Backend = RuntimeBackend & Emitter;

export const BACKENDS: readonly Backend[] = RUNTIME_BACKENDS.map((b) => ({ ...b, ...EMITTERS[b.target] }));

export { TARGETS, type Target } from "../runtime/backends.js";
export type { NativeBackend } from "./cuda/native.js";

/**
 * Emit-only backends: the compiler writes their code and a native toolchain builds and runs it
 * (`moec compile` writes the bundle, `moec run` builds and runs it where the toolchain and the
 * hardware are); the JS runtime never runs them, so they have no device and no runtime side.
 */
export const NATIVE_BACKENDS: readonly NativeBackend[] = [cudaBackend];

/** Every target `moec compile` takes: the JS runtime's backends, then the emit-only ones. */
export const COMPILE_TARGETS: readonly string[] = [...RUNTIME_BACKENDS.map((b) => b.target), ...NATIVE_BACKENDS.map((b) => b.target)];

export function findNativeBackend(target: string): NativeBackend | undefined {
  return NATIVE_BACKENDS.find((b) => b.target === target);
}

/** The backend of a target name, or undefined. */
export function findBackend(target: string): Backend | undefined {
  return BACKENDS.find((b) => b.target === target);
}
