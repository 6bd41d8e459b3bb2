// The weight pack: a safetensors file holding exactly the plan's weights, in plan order, each in
// its storage format laid out as the kernels read it, so a runtime copies every weight from the
// file into the model's memory in one read. Other safetensors tools still read it:
//   f32, f16, bf16   one tensor, dtype F32 / F16 / BF16, the plan's shape
//   int8             `NAME` I8 [rows…, K], then `NAME_scale` F32 [rows…] right after it (the
//                    per-channel layout compressed-tensors and bitsandbytes use: weight + scale)
//   block formats    `NAME` U8 [rows…, bytes per row]: ggml's blocks (GGUF types) or moec's
//                    (int4, fp8), as runtime/plan/formats.ts lays them out
// The header's `moec.formats` metadata maps every non-f32 weight to its format (JSON). Written to a
// temporary file and renamed, so a failed or interrupted pack never leaves a partial file behind.
import { open, rename, unlink } from "node:fs/promises";
import type { Plan } from "../../runtime/plan/plan.js";
import { weightBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import { packTensors } from "../../runtime/weights/pack-layout.js";

export interface PackProgress {
  readonly written: number;
  readonly total: number;
}

/** Reads weight `name` in `format` into `into` (compiler/weights/bound.ts BoundWeights.read). */
export type PackReader = (name: string, format: StorageFormat, shape: readonly number[], into: Uint8Array) => Promise<void>;

export async function writeWeightPack(path: string, plan: Plan, read: PackReader, onProgress?: (p: PackProgress) => void): Promise<void> {
  const formats = Object.fromEntries(plan.weights.filter((w) => w.format !== "f32").map((w) => [w.name, w.format]));
  const header: Record<string, unknown> = {
    __metadata__: { format: "pt", "moec.plan.format": plan.format, "moec.plan.version": String(plan.version), "moec.model": plan.model, ...(Object.keys(formats).length ? { "moec.formats": JSON.stringify(formats) } : {}) },
  };
  let offset = 0;
  for (const w of plan.weights) {
    for (const [name, dtype, shape, bytes] of packTensors(w)) {
      header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
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
      const bytes = new Uint8Array(weightBytes(w.format, w.shape));
      await read(w.name, w.format, w.shape, bytes);
      await fh.write(bytes);
      written += bytes.byteLength;
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
