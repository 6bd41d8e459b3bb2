// The frames between a Node process and the Deno driver that owns the WebGPU device
// (remote.ts ⇄ driver.ts). Every frame is [u32 length of the rest][u8 op][payload],
// little-endian. Node sends; the driver answers only reads, synchronize, init and dispose
// (with the same id), or an error.
//   INIT     u32 id, JSON { request: DeviceRequest, options }      → INIT u32 id, JSON { name, regions }
//   LAUNCH   u8 kernel (index in WIRE_KERNELS), f64 args…
//   UPLOAD   f64 at, bytes
//   READ     u32 id, f64 at, f64 n                                → READ u32 id, bytes
//   SYNC     u32 id                                               → SYNC u32 id
//   DISPOSE  u32 id                                               → DISPOSE u32 id (then the driver exits)
//   ERROR    (driver only) u32 id, UTF-8 message: the request with that id failed (id 0: a launch or upload did)
import { KERNEL_NAMES } from "../../runtime/kernels/catalogue.js";
import { GROUPED_NAMES } from "../../runtime/kernels/grouped.js";

/** LAUNCH's kernel byte: an index into this list (the catalogue, then the grouped kernels). */
export const WIRE_KERNELS: readonly string[] = [...KERNEL_NAMES, ...GROUPED_NAMES];

export const OP = { INIT: 1, LAUNCH: 2, UPLOAD: 3, READ: 4, SYNC: 5, DISPOSE: 6, ERROR: 255 } as const;

/** Splits a byte stream into frames: push chunks, take whole frames. */
export class FrameReader {
  private buf = new Uint8Array(0);
  private len = 0;
  push(chunk: Uint8Array): void {
    if (this.len + chunk.byteLength > this.buf.byteLength) {
      const grown = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + chunk.byteLength, 1 << 16));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.byteLength;
  }
  /** The next whole frame (op, payload), or null. */
  next(): { op: number; body: Uint8Array } | null {
    if (this.len < 5) return null;
    const n = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(0, true);
    if (this.len < 4 + n) return null;
    const op = this.buf[4]!;
    const body = this.buf.slice(5, 4 + n);
    this.buf.copyWithin(0, 4 + n, this.len);
    this.len -= 4 + n;
    return { op, body };
  }
}

export function frame(op: number, ...parts: (Uint8Array | number[] | { u32: number } | { f64: number })[]): Uint8Array {
  let size = 1;
  for (const p of parts) size += p instanceof Uint8Array ? p.byteLength : Array.isArray(p) ? 8 * p.length : "u32" in p ? 4 : 8;
  const out = new Uint8Array(4 + size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, size, true);
  out[4] = op;
  let at = 5;
  for (const p of parts) {
    if (p instanceof Uint8Array) {
      out.set(p, at);
      at += p.byteLength;
    } else if (Array.isArray(p)) for (const v of p) (dv.setFloat64(at, v, true), (at += 8));
    else if ("u32" in p) (dv.setUint32(at, p.u32, true), (at += 4));
    else (dv.setFloat64(at, p.f64, true), (at += 8));
  }
  return out;
}
