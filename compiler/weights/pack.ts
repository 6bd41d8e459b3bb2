// The weight pack: a safetensors file holding exactly the plan's weights, in plan order, as
// float32, with moec metadata. Other tools can still read it. Written to a temporary file and
// renamed, so a failed or interrupted pack never leaves a partial file behind.
import { open, rename, unlink } from "node:fs/promises";
import type { Plan } from "../../runtime/plan/plan.js";

export interface PackProgress {
  readonly written: number;
  readonly total: number;
}

export async function writeWeightPack(path: string, plan: Plan, read: (name: string) => Float32Array | Promise<Float32Array>, onProgress?: (p: PackProgress) => void): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: "pt", "moec.plan.format": plan.format, "moec.plan.version": String(plan.version), "moec.model": plan.model } };
  let offset = 0;
  for (const w of plan.weights) {
    const bytes = 4 * w.shape.reduce((a, b) => a * b, 1);
    header[w.name] = { dtype: "F32", shape: w.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data section
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    await fh.write(head);
    let written = 0;
    for (const w of plan.weights) {
      const data = await read(w.name);
      await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      written += data.byteLength;
      onProgress?.({ written, total: offset });
    }
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
