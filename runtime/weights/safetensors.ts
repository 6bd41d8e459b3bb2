// Lazy, validating reader for safetensors files and (sharded) Hugging Face checkpoints.
// Only headers are read up front; tensor bytes are read on request with positioned reads,
// and nothing is allocated before the size it needs has been checked against the real file.
import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import * as path from "node:path";
import {
  type DType, DTYPE_BITS, byteSize, convertibleToF32, dequantMxfp4, isDType, mxfp4Shape, toFloat32,
} from "./dtypes.js";
import { readFileCapped } from "./read-capped.js";
import type { StorageFormat } from "../plan/formats.js";

export { type DType, dequantMxfp4, mxfp4Shape } from "./dtypes.js";

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Every problem with a weight file. The message names the file (and tensor), the problem, and a remedy. */
export class WeightFileError extends Error {
  override name = "WeightFileError";
  constructor(readonly file: string, problem: string, readonly tensor?: string) {
    super(`${file}: ${tensor === undefined ? "" : `tensor "${tensor}": `}${problem}`);
  }
}

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Number of elements (product of the shape). */
  numel: number;
  byteLength: number;
  /** The file holding the tensor. */
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  offset: number;
}

export interface RawTensor {
  info: TensorInfo;
  /** Exactly `info.byteLength` little-endian bytes, in a buffer of their own. */
  bytes: Uint8Array;
}

/** What both a single file and a checkpoint offer. */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  readTensor(name: string): Promise<RawTensor>;
  readF32(name: string): Promise<Float32Array>;
  readMxfp4(baseName: string): Promise<{ shape: number[]; data: Float32Array }>;
  /**
   * The storage format (runtime/plan/formats.ts) the tensor's bytes are already in, or null when
   * moec keeps no such format (it is then read as float32). With `readStoredInto`, a reader
   * copies those bytes straight into the model's memory.
   */
  storedFormat?(name: string): StorageFormat | null;
  /** The tensor's bytes, in storedFormat's layout, read straight into `into` (exactly their size). */
  readStoredInto?(name: string, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** The storage format whose bytes a safetensors dtype's are, if any. */
export function dtypeFormat(dtype: DType): StorageFormat | null {
  return dtype === "F32" ? "f32" : dtype === "F16" ? "f16" : dtype === "BF16" ? "bf16" : null;
}

const CORRUPT = "the file is truncated, corrupt or not a safetensors file; re-download or re-export it";

export class SafetensorsFile implements WeightSource {
  private closed = false;
  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private readonly tensors: Map<string, TensorInfo>,
    /** The header's `__metadata__` (string → string), empty if absent. */
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens `file` and validates its header. Reads only the header. */
  static async open(file: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (e) {
      throw new WeightFileError(file, `cannot open: ${(e as Error).message}; check the path and permissions`);
    }
    try {
      const { tensors, metadata } = await readHeader(file, fh);
      return new SafetensorsFile(file, fh, tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  names(): string[] { return [...this.tensors.keys()]; }
  has(name: string): boolean { return this.tensors.has(name); }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new WeightFileError(this.file, `no such tensor (the file has ${this.tensors.size}); check the name against names()`, name);
    return t;
  }

  async readTensor(name: string): Promise<RawTensor> {
    const info = this.info(name);
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    return { info, bytes: await readAt(this.fh, this.file, info.offset, info.byteLength, name) };
  }

  async readF32(name: string): Promise<Float32Array> {
    const { info, bytes } = await this.readTensor(name);
    if (!convertibleToF32(info.dtype)) {
      throw new WeightFileError(this.file, `dtype ${info.dtype} cannot be converted to float32; use readTensor for its raw bytes`, name);
    }
    // `bytes` owns its (aligned) buffer, so F32 needs no copy.
    return info.dtype === "F32" ? new Float32Array(bytes.buffer, 0, info.numel) : toFloat32(info.dtype, bytes, info.numel);
  }

  readMxfp4(baseName: string): Promise<{ shape: number[]; data: Float32Array }> {
    return readMxfp4From(this, baseName);
  }

  storedFormat(name: string): StorageFormat | null {
    return dtypeFormat(this.info(name).dtype);
  }

  async readStoredInto(name: string, into: Uint8Array): Promise<void> {
    const info = this.info(name);
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    if (into.byteLength !== info.byteLength) throw new WeightFileError(this.file, `holds ${info.byteLength} bytes, not the ${into.byteLength} asked for`, name);
    await readAtInto(this.fh, this.file, info.offset, into, name);
  }

  /** `into.byteLength` bytes from tensor `name`'s first byte on (it and the tensors stored right after it), straight into `into`. */
  async readSpanInto(name: string, into: Uint8Array): Promise<void> {
    const info = this.info(name);
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    await readAtInto(this.fh, this.file, info.offset, into, name);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/**
 * The size of an open weight file, which must be a regular file: a folder, a device such as
 * /dev/zero or a pipe has no size to check a header against, so it is refused before any read.
 */
export async function regularFileSize(fh: FileHandle, file: string, what: string): Promise<number> {
  const st = await fh.stat();
  if (st.isDirectory()) throw new WeightFileError(file, `is a folder, not ${what}; pass the file itself (or, for a Hugging Face checkpoint, the folder as the model)`);
  if (!st.isFile()) throw new WeightFileError(file, `is not a regular file (a device, pipe or socket), so its size cannot be checked before reading; save the weights to a file and pass that`);
  return st.size;
}

/** Reads exactly `len` bytes at `pos` (sizes are checked against the file size beforehand). */
export async function readAt(fh: FileHandle, file: string, pos: number, len: number, tensor?: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(len);
  await readAtInto(fh, file, pos, bytes, tensor);
  return bytes;
}

/** Reads exactly `into.byteLength` bytes at `pos` into `into` (which may be a view of a model's memory: no copy in between). */
export async function readAtInto(fh: FileHandle, file: string, pos: number, into: Uint8Array, tensor?: string): Promise<void> {
  const bytes = into;
  const len = into.byteLength;
  for (let done = 0; done < len;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(bytes, done, Math.min(len - done, 1 << 30), pos + done));
    } catch (e) {
      throw new WeightFileError(file, `cannot read ${len} bytes at byte ${pos}: ${(e as Error).message}; check that the file is readable and intact`, tensor);
    }
    if (bytesRead === 0) throw new WeightFileError(file, "the file ended early; it changed after it was opened, open it again", tensor);
    done += bytesRead;
  }
}

async function readHeader(file: string, fh: FileHandle) {
  const size = await regularFileSize(fh, file, "a safetensors file");
  const fail = (problem: string, tensor?: string) => new WeightFileError(file, problem, tensor);
  if (size < 8) throw fail(`file has ${size} bytes, fewer than the 8-byte header length prefix; ${CORRUPT}`);
  const claimed = new DataView((await readAt(fh, file, 0, 8)).buffer).getBigUint64(0, true);
  if (claimed > BigInt(size - 8)) {
    throw fail(`header claims ${claimed} bytes but the file has ${size - 8} bytes after the length prefix; ${CORRUPT}`);
  }
  const n = Number(claimed);
  if (n > MAX_HEADER_BYTES) throw fail(`header claims ${n} bytes, more than the ${MAX_HEADER_BYTES}-byte limit; ${CORRUPT}`);
  if (n < 2) throw fail(`header is ${n} bytes, too short for a JSON object; ${CORRUPT}`);

  const raw = await readAt(fh, file, 8, n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    throw fail(`header is not valid UTF-8 JSON (${(e as Error).message}); ${CORRUPT}`);
  }
  if (!isObject(header)) throw fail(`header is not a JSON object; ${CORRUPT}`);

  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === "string")) {
        throw fail(`__metadata__ must map strings to strings; ${CORRUPT}`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isObject(entry)) throw fail(`header entry is not an object; ${CORRUPT}`, name);
    const { dtype, shape, data_offsets: offs } = entry;
    if (!isDType(dtype)) {
      throw fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BITS).join(", ")}); re-export the tensor in a supported dtype`, name);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers; ${CORRUPT}`, name);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
      throw fail(`data_offsets ${JSON.stringify(offs)} is not a pair [begin, end] of non-negative integers; ${CORRUPT}`, name);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) throw fail(`data_offsets [${begin}, ${end}] has begin after end; ${CORRUPT}`, name);
    if (end > dataSize) {
      throw fail(`data_offsets [${begin}, ${end}] reach past the end of the data section (${dataSize} bytes); ${CORRUPT}`, name);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = Number.isSafeInteger(numel) ? byteSize(dtype, numel) : undefined;
    if (bytes !== end - begin) {
      const need = !Number.isSafeInteger(numel) ? `more than 2^53 elements (${numel})` : bytes === undefined ? `a number of bits not divisible by 8 (${numel} x ${DTYPE_BITS[dtype]})` : `${bytes} bytes`;
      throw fail(`shape [${shape}] of ${dtype} needs ${need} but data_offsets [${begin}, ${end}] span ${end - begin}; ${CORRUPT}`, name);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], numel, byteLength: end - begin, file, offset: dataStart + begin });
    ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const [a, b] = [ranges[i - 1]!, ranges[i]!];
    if (b.begin < a.end) {
      throw fail(`data_offsets [${b.begin}, ${b.end}] overlap those of "${a.name}" [${a.begin}, ${a.end}]; ${CORRUPT}`, b.name);
    }
  }
  return { tensors, metadata };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

async function readMxfp4From(src: WeightSource, base: string): Promise<{ shape: number[]; data: Float32Array }> {
  const bn = `${base}_blocks`, sn = `${base}_scales`;
  const [b, s] = [src.info(bn), src.info(sn)]; // each throws if missing
  for (const t of [b, s]) {
    if (t.dtype !== "U8") throw new WeightFileError(t.file, `MXFP4 ${t === b ? "blocks" : "scales"} must be U8, not ${t.dtype}; this is not a GPT-OSS style MXFP4 tensor`, t.name);
  }
  if (b.shape.length < 2 || s.shape.length !== b.shape.length - 1 || s.shape.some((d, i) => d !== b.shape[i])) {
    throw new WeightFileError(s.file, `MXFP4 scales of shape [${s.shape}] do not match blocks "${bn}" of shape [${b.shape}] (expected [${b.shape.slice(0, -1)}]); the checkpoint is inconsistent`, sn);
  }
  const [blocks, scales] = await Promise.all([src.readTensor(bn), src.readTensor(sn)]);
  return { shape: mxfp4Shape(b.shape), data: dequantMxfp4(blocks.bytes, scales.bytes, b.shape) };
}

/** Opens a single safetensors file. */
export function openSafetensors(file: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(file);
}

/** A checkpoint made of one or more safetensors files, read as one. */
export class Checkpoint implements WeightSource {
  constructor(
    /** The path the checkpoint was opened from. */
    readonly source: string,
    readonly shards: readonly SafetensorsFile[],
    private readonly where: Map<string, SafetensorsFile>,
  ) {}

  names(): string[] { return [...this.where.keys()]; }
  has(name: string): boolean { return this.where.has(name); }
  private shard(name: string): SafetensorsFile {
    const s = this.where.get(name);
    if (!s) throw new WeightFileError(this.source, `no such tensor (the checkpoint has ${this.where.size}); check the name against names()`, name);
    return s;
  }
  info(name: string): TensorInfo { return this.shard(name).info(name); }
  async readTensor(name: string): Promise<RawTensor> { return this.shard(name).readTensor(name); }
  async readF32(name: string): Promise<Float32Array> { return this.shard(name).readF32(name); }
  readMxfp4(baseName: string): Promise<{ shape: number[]; data: Float32Array }> { return readMxfp4From(this, baseName); }
  storedFormat(name: string): StorageFormat | null { return this.shard(name).storedFormat(name); }
  readStoredInto(name: string, into: Uint8Array): Promise<void> { return this.shard(name).readStoredInto(name, into); }
  async close(): Promise<void> { await Promise.all(this.shards.map((s) => s.close())); }
}

const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";

/**
 * Opens a checkpoint: a `.safetensors` file, a `*.safetensors.index.json` file, or a directory holding
 * `model.safetensors.index.json` (preferred) or `model.safetensors`. Every shard's header is read and
 * checked to hold the tensors the index assigns to it.
 */
export async function openCheckpoint(pathOrDir: string): Promise<Checkpoint> {
  const st = await fsp.stat(pathOrDir).catch(() => undefined);
  if (!st) throw new WeightFileError(pathOrDir, "no such file or directory; pass a .safetensors file or a Hugging Face model directory");
  let file = pathOrDir;
  if (st.isDirectory()) {
    const entries = await fsp.readdir(pathOrDir);
    const pick = [INDEX, SINGLE].find((f) => entries.includes(f));
    if (!pick) {
      const found = entries.filter((f) => f.endsWith(".safetensors"));
      throw new WeightFileError(pathOrDir, `directory has neither ${SINGLE} nor ${INDEX}${found.length ? ` (it has ${found.join(", ")}; pass one of those files directly)` : "; download the model's safetensors weights into it"}`);
    }
    file = path.join(pathOrDir, pick);
  }
  if (!file.endsWith(".json")) {
    const f = await SafetensorsFile.open(file);
    return new Checkpoint(pathOrDir, [f], new Map(f.names().map((n) => [n, f])));
  }
  return openIndexed(file, pathOrDir);
}

async function openIndexed(indexFile: string, source: string): Promise<Checkpoint> {
  let index: unknown;
  try {
    // An index lists tensor names and shard files: megabytes at most, and read with that cap.
    index = JSON.parse((await readFileCapped(indexFile, 256 * 1024 * 1024)).toString("utf8"));
  } catch (e) {
    throw new WeightFileError(indexFile, `cannot read the index as JSON (${(e as Error).message}); re-download it`);
  }
  const map = isObject(index) ? index.weight_map : undefined;
  if (!isObject(map) || !Object.values(map).every((v) => typeof v === "string")) {
    throw new WeightFileError(indexFile, `index has no "weight_map" object of tensor name → shard file; re-download it`);
  }
  const dir = path.dirname(indexFile);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, string>)) {
    if (path.isAbsolute(shard) || shard.split(/[\\/]/).includes("..")) {
      throw new WeightFileError(indexFile, `weight_map names shard "${shard}" outside the checkpoint directory; fix the index`, name);
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const opened: SafetensorsFile[] = [];
  const where = new Map<string, SafetensorsFile>();
  try {
    for (const [shard, names] of byShard) {
      const shardPath = path.join(dir, shard);
      if (!(await fsp.stat(shardPath).then((s) => s.isFile(), () => false))) {
        throw new WeightFileError(indexFile, `weight_map names shard "${shard}" (for ${names.length} tensors) but ${shardPath} does not exist; download all the shards`, names[0]);
      }
      const f = await SafetensorsFile.open(shardPath);
      opened.push(f);
      for (const n of names) {
        if (!f.has(n)) throw new WeightFileError(shardPath, `the index ${path.basename(indexFile)} places the tensor here but the shard does not contain it; the index and shards are from different versions, re-download them`, n);
        where.set(n, f);
      }
    }
  } catch (e) {
    await Promise.all(opened.map((f) => f.close()));
    throw e;
  }
  return new Checkpoint(source, opened, where);
}
