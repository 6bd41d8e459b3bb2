// What a backend gives the runtime: its target name, what it can do, and a device for a plan.
// Each backend folder (backends/NAME) exports one of these from `runtime.ts`; runtime/backends.ts
// lists them, and the compiler's registry (backends/registry.ts) adds each one's emitter.
import type { DeviceFactory } from "./device.js";
import type { FusedName } from "./kernels/fused.js";
import type { StorageFormat } from "./plan/formats.js";
import type { Plan } from "./plan/plan.js";

export interface Capabilities {
  /** Weight storage formats its kernels read. */
  readonly formats: readonly StorageFormat[];
  /** It can run kernels on several threads. */
  readonly threads: boolean;
  /** It can address models over 4 GiB. */
  readonly memory64: boolean;
  /** Where it runs: "node", "browser", "deno". */
  readonly hosts: readonly string[];
  /** The optional fused kernels (kernels/fused.ts) its devices have; the fuse-experts pass uses only these. */
  readonly fused?: readonly FusedName[];
}

export interface DeviceOptions {
  readonly plan: Plan;
  /** Kernel threads (backends without threads use 1). */
  readonly threads: number;
  readonly maxContext: number;
  readonly maxTokens: number;
  readonly sequences: number;
  readonly memoryBase?: number;
  /** Splittable kernels with less work than this stay on one thread (tuning). */
  readonly splitThreshold?: number;
  /** Reads one of the backend's files (kernel builds): from a bundle, or built on demand by the compiler. */
  readonly files: (name: string) => Promise<Uint8Array>;
  /** The worker script for threads, where the default location does not hold it. */
  readonly workerUrl?: URL;
}

export interface RuntimeBackend {
  /** The `--target` name. */
  readonly target: string;
  /** One line for `--help` and `moec targets`. */
  readonly summary: string;
  readonly capabilities: Capabilities;
  /** The files a bundle of this target ships besides plan, runtime and weights. */
  readonly files: readonly string[];
  /** Whether it can run here (an engine feature it needs, such as WebAssembly SIMD). */
  available(): boolean;
  /** The device to run `plan` on, with these sizes. */
  device(opts: DeviceOptions): Promise<DeviceFactory>;
}
