// The device seam: everything the executor needs from a backend. A device owns the model's
// memory (one address space laid out by runtime/memory.ts: weights, KV caches, activation
// slots, scratch), launches the catalogue's kernels on it, and moves bytes across: uploads
// (token ids, RoPE tables, host-routed assignments), weight writes at load, and reads (the
// logits, and the few values the plan marks as read back, such as MoE expert offsets). The
// executor never touches memory itself, so a GPU device plugs in behind the same calls.
import type { Kernels } from "./kernels/catalogue.js";
import type { GroupedKernels } from "./kernels/grouped.js";
import type { Layout } from "./memory.js";
import type { Plan } from "./plan/plan.js";

export interface Device {
  /** What runs the kernels, for messages and `--json` ("wasm ×2 threads", "js"). */
  readonly name: string;
  /** The catalogue's kernels, launched in call order on this device's memory. */
  readonly launch: Kernels;
  /**
   * Optional: kernels that find each row's expert in device memory (kernels/grouped.ts). A
   * device that has them runs MoE steps with nothing read back mid-pass (launch.ts).
   */
  readonly grouped?: GroupedKernels;
  /** Copies host bytes to `at`. */
  upload(at: number, data: ArrayBufferView): void;
  /** Lets `fill` write `bytes` bytes at `at` — straight into device memory where it is host-visible. */
  write(at: number, bytes: number, fill: (dst: Uint8Array) => void | Promise<void>): Promise<void>;
  /** A copy of `bytes` bytes at `at`, once every launch before it has finished. */
  read(at: number, bytes: number): Promise<Uint8Array>;
  /** Resolves when every launch so far has finished. */
  synchronize(): Promise<void>;
  /** Frees the memory and stops worker threads, if any; the device cannot run afterwards. */
  dispose(): Promise<void>;
}

/** What a device is made for. */
export interface DeviceRequest {
  readonly plan: Plan;
  readonly layout: Layout;
  /** The model and its sizes, for messages ("Mixtral with a 2048-token context"). */
  readonly label: string;
}

/** Makes the device a model runs on (a backend's `createDevice`, or a test's own). */
export interface DeviceFactory {
  (req: DeviceRequest): Promise<Device>;
  /** Threads the kernels run on (the layout gives each its own attention scratch). */
  readonly threads?: number;
  /**
   * The largest address space its devices hold, with a phrase naming that limit, where it is
   * not the 16 GiB of a 64-bit WebAssembly memory (a GPU device's is its GPU's memory).
   */
  readonly addressLimit?: { readonly bytes: number; readonly text: string };
  /**
   * Whether the model's memory lives outside the host's (a GPU's): the host-memory check before
   * loading does not apply then (weights pass through the host one at a time); the device
   * refuses what its own memory cannot hold when it allocates.
   */
  readonly offHost?: boolean;
}

/**
 * A device over one linear memory the host can see (WASM memories, plain buffers): uploads,
 * writes and reads are copies into and out of the memory's buffer, and launches are
 * synchronous, so reads resolve at once.
 */
export function linearDevice(name: string, memory: () => ArrayBuffer, launch: Kernels, dispose: () => Promise<void> = async () => {}): Device {
  const bytes = (at: number, n: number) => new Uint8Array(memory(), at, n);
  return {
    name,
    launch,
    upload(at, data) {
      bytes(at, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    },
    async write(at, n, fill) {
      await fill(bytes(at, n));
    },
    async read(at, n) {
      return bytes(at, n).slice();
    },
    async synchronize() {},
    dispose,
  };
}
