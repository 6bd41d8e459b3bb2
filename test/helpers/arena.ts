// A bump allocator over a device's address space for kernel tests: buffers at random 4-byte
// (mis)alignments, each followed by guard words that must survive the kernel; outputs poisoned
// with NaN. (test/conformance/kernels.test.ts has its own copy for the float kernels.)
import type { Device } from "../../runtime/device.js";

const GUARD = 4;
const SENTINEL = 1234.5;

export class Arena {
  private top = 64; // pointer 0 stays "none"
  private guards: number[] = [];
  constructor(
    readonly device: Device,
    readonly bytes: number,
    private readonly rand: () => number,
  ) {}
  reset(): void {
    this.top = 64;
    this.guards = [];
  }
  /** `bytes` bytes at a random 4-byte (mis)alignment, followed by guard words. */
  allocBytes(bytes: number): number {
    this.top = (this.top + 63) & ~63;
    const p = this.top + 4 * Math.floor(this.rand() * 4);
    const guard = p + Math.ceil(bytes / 4) * 4;
    this.top = guard + 4 * GUARD;
    if (this.top > this.bytes) throw new Error("arena full");
    this.device.upload(guard, new Float32Array(GUARD).fill(SENTINEL));
    this.guards.push(guard);
    return p;
  }
  put(data: ArrayLike<number>): number {
    const p = this.allocBytes(4 * data.length);
    this.device.upload(p, Float32Array.from(data));
    return p;
  }
  putBytes(data: Uint8Array): number {
    const p = this.allocBytes(data.length);
    this.device.upload(p, data);
    return p;
  }
  putI32(data: ArrayLike<number>): number {
    const p = this.allocBytes(4 * data.length);
    this.device.upload(p, Int32Array.from(data));
    return p;
  }
  poisoned(n: number): number {
    const p = this.allocBytes(4 * n);
    this.device.upload(p, new Float32Array(n).fill(NaN));
    return p;
  }
  async read(p: number, n: number): Promise<Float32Array> {
    const b = await this.device.read(p, 4 * n);
    return new Float32Array(b.buffer, b.byteOffset, n);
  }
  async checkGuards(): Promise<void> {
    for (const g of this.guards) {
      const got = await this.read(g, GUARD);
      for (let i = 0; i < GUARD; i++) if (got[i] !== SENTINEL) throw new Error(`guard word overwritten at byte ${g + 4 * i}`);
    }
  }
}
