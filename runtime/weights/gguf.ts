// Lazy, validating reader for GGUF files (the llama.cpp / ggml format), versions 2 and 3.
// Only the header (metadata and tensor infos) is read up front, through a small buffer of
// positioned reads; tensor bytes are read on request. Every count and length in the header is
// checked against the bytes the file really has before anything is allocated for it, so a
// lying header fails fast with a WeightFileError naming the file.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count, the
// metadata (key string, u32 value type, value), the tensor infos (name string, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset into the data section), padding to the alignment
// (metadata `general.alignment`, default 32), then the data section. A string is a u64 byte
// length and UTF-8 bytes; an array is a u32 item type, a u64 count and the items.
// ne[0] is the fastest-varying dimension (the row length), so the row-major shape that
// safetensors would list is ne reversed.
import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { readAt, readAtInto, regularFileSize, WeightFileError, type RawTensor, type TensorInfo, type WeightSource } from "./safetensors.js";
import { FORMATS, STORAGE_FORMATS, type StorageFormat } from "../plan/formats.js";
import { GGML_TYPES, type GgmlType, PLAIN_DTYPE, dequantize } from "./ggml-quants.js";

export { type GgmlType, GGML_TYPES, dequantize, ggmlTypeByName } from "./ggml-quants.js";

export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Largest key or tensor name accepted, in bytes. */
export const MAX_NAME_BYTES = 65_536;
/** Largest string value accepted, in bytes (chat templates and the like are far smaller). */
export const MAX_STRING_BYTES = 256 * 1024 * 1024;
/** ggml tensors have at most 4 dimensions. */
export const MAX_DIMS = 4;

const CORRUPT = "the file is truncated, corrupt or not a GGUF file; re-download or re-convert it";
const HEADER_BYTES = 24; // magic, version, tensor count, metadata count
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // empty name, n_dims 0, type, offset
const CHUNK = 1 << 20;

export type GgufValueType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "string" | "array" | "u64" | "i64" | "f64";
/** Value type codes in file order (GGUF_TYPE_UINT8 = 0 ... GGUF_TYPE_FLOAT64 = 12). */
export const GGUF_VALUE_TYPES: readonly GgufValueType[] = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];
const VALUE_BYTES: Partial<Record<GgufValueType, number>> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 };

/** 64-bit integers are numbers when they are safe integers, bigints otherwise. */
export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | readonly GgufScalar[];

export interface GgufKV {
  readonly key: string;
  readonly type: GgufValueType;
  /** For arrays, the type of the items. */
  readonly itemType?: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** Dimensions as ggml lists them, fastest first: ne[0] is the row length. */
  readonly ne: readonly number[];
  /** Row-major shape (ne reversed), as safetensors and PyTorch list it. */
  readonly shape: readonly number[];
  readonly numel: number;
  /** ne[0] (1 for a 0-d tensor). */
  readonly rowLength: number;
  /** numel / rowLength: every row is a whole number of blocks. */
  readonly rows: number;
  /** Bytes stored in the file. */
  readonly byteLength: number;
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
}

/** Sequential reads of the header through a buffer; `need` must precede each group of reads. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private start = 0;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly fh: FileHandle, private readonly file: string, readonly size: number) {}

  fail(problem: string, tensor?: string): WeightFileError {
    return new WeightFileError(this.file, `${problem}; ${CORRUPT}`, tensor);
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  async need(n: number, what: string, tensor?: string): Promise<void> {
    if (n > this.size - this.pos) {
      throw this.fail(`the header ends early: ${what} at byte ${this.pos} needs ${n} bytes but the file has ${this.size - this.pos} left`, tensor);
    }
    if (this.pos >= this.start && this.pos + n <= this.start + this.buf.length) return;
    const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
    this.buf = await readAt(this.fh, this.file, this.pos, len);
    this.view = new DataView(this.buf.buffer);
    this.start = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.start;
    this.pos += n;
    return o;
  }
  u8(): number { return this.view.getUint8(this.at(1)); }
  i8(): number { return this.view.getInt8(this.at(1)); }
  u16(): number { return this.view.getUint16(this.at(2), true); }
  i16(): number { return this.view.getInt16(this.at(2), true); }
  u32(): number { return this.view.getUint32(this.at(4), true); }
  i32(): number { return this.view.getInt32(this.at(4), true); }
  f32(): number { return this.view.getFloat32(this.at(4), true); }
  f64(): number { return this.view.getFloat64(this.at(8), true); }
  u64(): bigint { return this.view.getBigUint64(this.at(8), true); }
  i64(): bigint { return this.view.getBigInt64(this.at(8), true); }
  bytes(n: number): Uint8Array { const o = this.at(n); return this.buf.subarray(o, o + n); }

  /** A u64-length-prefixed UTF-8 string of at most `max` bytes. */
  async str(max: number, what: string, tensor?: string): Promise<string> {
    await this.need(8, `the length of ${what}`, tensor);
    const len = this.u64();
    if (len > BigInt(max)) throw this.fail(`${what} claims ${len} bytes, more than the ${max}-byte limit`, tensor);
    const n = Number(len);
    await this.need(n, what, tensor);
    return this.decoder.decode(this.bytes(n));
  }
}

const int64 = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function readScalar(c: Cursor, t: GgufValueType): GgufScalar {
  switch (t) {
    case "u8": return c.u8();
    case "i8": return c.i8();
    case "u16": return c.u16();
    case "i16": return c.i16();
    case "u32": return c.u32();
    case "i32": return c.i32();
    case "f32": return c.f32();
    case "bool": return c.u8() !== 0;
    case "u64": return int64(c.u64());
    case "i64": return int64(c.i64());
    case "f64": return c.f64();
    default: throw new Error(`unreachable: ${t}`);
  }
}

function valueType(c: Cursor, code: number, key: string): GgufValueType {
  const t = GGUF_VALUE_TYPES[code];
  if (t === undefined) throw c.fail(`metadata "${key}" has value type ${code}, which is not a GGUF type (0..12)`);
  return t;
}

async function readValue(c: Cursor, key: string): Promise<GgufKV> {
  await c.need(4, `the value type of metadata "${key}"`);
  const type = valueType(c, c.u32(), key);
  if (type === "string") return { key, type, value: await c.str(MAX_STRING_BYTES, `the string value of metadata "${key}"`) };
  if (type !== "array") {
    await c.need(VALUE_BYTES[type]!, `the value of metadata "${key}"`);
    return { key, type, value: readScalar(c, type) };
  }
  await c.need(12, `the array header of metadata "${key}"`);
  const itemType = valueType(c, c.u32(), key);
  const count = c.u64();
  if (itemType === "array") throw c.fail(`metadata "${key}" is an array of arrays, which GGUF readers (ggml's included) do not accept`);
  const itemBytes = itemType === "string" ? 8 : VALUE_BYTES[itemType]!;
  if (count > BigInt(Math.floor(c.remaining / itemBytes))) {
    throw c.fail(`metadata "${key}" claims ${count} ${itemType} items, more than the ${c.remaining} bytes left in the file can hold`);
  }
  const n = Number(count);
  const items: GgufScalar[] = new Array(n);
  if (itemType === "string") {
    for (let i = 0; i < n; i++) items[i] = await c.str(MAX_STRING_BYTES, `item ${i} of metadata "${key}"`);
  } else {
    for (let done = 0; done < n;) {
      const batch = Math.min(n - done, Math.floor(CHUNK / itemBytes));
      await c.need(batch * itemBytes, `the items of metadata "${key}"`);
      for (let i = 0; i < batch; i++) items[done + i] = readScalar(c, itemType);
      done += batch;
    }
  }
  return { key, type, itemType, value: items };
}

interface Parsed {
  version: number;
  metadata: Map<string, GgufKV>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
}

async function parseHeader(file: string, fh: FileHandle): Promise<Parsed> {
  const size = await regularFileSize(fh, file, "a GGUF file");
  const c = new Cursor(fh, file, size);
  if (size < HEADER_BYTES) throw c.fail(`the file has ${size} bytes, fewer than the ${HEADER_BYTES}-byte GGUF header`);
  await c.need(HEADER_BYTES, "the header");
  const magic = c.bytes(4);
  if (String.fromCharCode(...magic) !== "GGUF") {
    const shown = [...magic].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
    throw c.fail(`it starts with "${shown}", not the GGUF magic "GGUF"`);
  }
  const version = c.u32();
  if (version === 1) throw new WeightFileError(file, "GGUF version 1 is not supported (it has 32-bit counts; llama.cpp dropped it too); re-convert the model with a current llama.cpp");
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    if (swapped === 2 || swapped === 3) throw new WeightFileError(file, `this is a big-endian GGUF file (version ${swapped}); moec reads little-endian GGUF only, so convert it without --bigendian`);
    throw new WeightFileError(file, `unsupported GGUF version ${version} (moec reads versions 2 and 3); re-convert the model, or update moec if the format is newer`);
  }
  const nTensors = c.u64();
  const nKv = c.u64();
  const room = size - HEADER_BYTES;
  if (nKv > BigInt(Math.floor(room / MIN_KV_BYTES))) throw c.fail(`the header claims ${nKv} metadata entries, more than the file's ${size} bytes can hold`);
  if (nTensors > BigInt(Math.floor(room / MIN_TENSOR_INFO_BYTES))) throw c.fail(`the header claims ${nTensors} tensors, more than the file's ${size} bytes can hold`);

  const metadata = new Map<string, GgufKV>();
  for (let i = 0; i < Number(nKv); i++) {
    const key = await c.str(MAX_NAME_BYTES, `the key of metadata entry ${i}`);
    if (metadata.has(key)) throw c.fail(`metadata "${key}" appears twice`);
    metadata.set(key, await readValue(c, key));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get("general.alignment");
  if (al !== undefined) {
    if (al.type !== "u32" || typeof al.value !== "number" || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw c.fail(`"general.alignment" must be a u32 power of two, got ${al.type} ${String(al.value)}`);
    }
    alignment = al.value;
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(nTensors); i++) {
    const name = await c.str(MAX_NAME_BYTES, `the name of tensor ${i}`);
    if (names.has(name)) throw c.fail("the tensor appears twice", name);
    names.add(name);
    await c.need(4, "the dimension count", name);
    const nDims = c.u32();
    if (nDims > MAX_DIMS) throw c.fail(`has ${nDims} dimensions; ggml tensors have at most ${MAX_DIMS}`, name);
    await c.need(8 * nDims + 4 + 8, "the dimensions, type and offset", name);
    const ne: number[] = [];
    let numel = 1;
    for (let d = 0; d < nDims; d++) {
      const n = c.u64();
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw c.fail(`dimension ${d} is ${n}, far too large`, name);
      ne.push(Number(n));
      numel *= Number(n);
    }
    const typeId = c.u32();
    const offset = c.u64();
    const type = GGML_TYPES.get(typeId);
    if (!type) throw new WeightFileError(file, `unknown ggml type ${typeId}; the file may need a newer reader (moec knows ${[...GGML_TYPES.values()].map((t) => t.name).join(", ")})`, name);
    if (!Number.isSafeInteger(numel)) throw c.fail(`dimensions [${ne}] hold too many elements`, name);
    const rowLength = ne[0] ?? 1;
    if (rowLength % type.blockSize !== 0) {
      throw c.fail(`rows of ${rowLength} elements are not whole ${type.name} blocks of ${type.blockSize}`, name);
    }
    const rows = rowLength === 0 ? 0 : numel / rowLength;
    const byteLength = rows * (rowLength / type.blockSize) * type.typeSize;
    if (!Number.isSafeInteger(byteLength) || byteLength > size) {
      throw c.fail(`dimensions [${ne}] of ${type.name} need ${byteLength} bytes, more than the whole file (${size})`, name);
    }
    if (offset > BigInt(size)) throw c.fail(`its data offset ${offset} is past the end of the file (${size} bytes)`, name);
    const off = Number(offset);
    if (off % alignment !== 0) throw c.fail(`its data offset ${off} is not a multiple of the alignment ${alignment}`, name);
    tensors.push({ name, type, ne, shape: [...ne].reverse(), numel, rowLength, rows, byteLength, offset: off });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (nTensors > 0n && dataOffset > size) throw c.fail(`the data section would start at byte ${dataOffset}, past the end of the file (${size} bytes)`);
  const placed = tensors.map((t) => ({ ...t, offset: dataOffset + t.offset }));
  for (const t of placed) {
    if (t.offset + t.byteLength > size) {
      throw c.fail(`its ${t.byteLength} bytes of ${t.type.name} [${t.ne}] at data offset ${t.offset - dataOffset} reach byte ${t.offset + t.byteLength}, past the end of the file (${size} bytes)`, t.name);
    }
  }
  const sorted = [...placed].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.offset < a.offset + a.byteLength) throw c.fail(`its data overlaps that of "${a.name}"`, b.name);
  }
  return { version, metadata, tensors: placed, alignment, dataOffset };
}

/**
 * A GGUF file. As a WeightSource it offers the tensors under their GGUF names with row-major
 * shapes (ne reversed). Plain types (F32, F16, BF16, F64, I8..I64) read as they are stored;
 * block-quantised types (Q4_0, Q8_0, Q4_K, ...) are presented as F32: `info` reports dtype F32
 * and the float32 byte length, and `readTensor` returns dequantised bytes (`ggufTensor` and
 * `readRaw` give the stored type, size and bytes).
 */
export class GgufFile implements WeightSource {
  private closed = false;
  private readonly byName: Map<string, GgufTensorInfo>;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    readonly version: number,
    /** Every metadata entry, in file order. */
    readonly metadata: ReadonlyMap<string, GgufKV>,
    /** Every tensor, in file order. */
    readonly tensors: readonly GgufTensorInfo[],
    readonly alignment: number,
    /** Absolute byte offset of the data section. */
    readonly dataOffset: number,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  /** Opens `file` and validates its header. Reads only the header. */
  static async open(file: string): Promise<GgufFile> {
    let fh: FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (e) {
      throw new WeightFileError(file, `cannot open: ${(e as Error).message}; check the path and permissions`);
    }
    try {
      const p = await parseHeader(file, fh);
      return new GgufFile(file, fh, p.version, p.metadata, p.tensors, p.alignment, p.dataOffset);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** A metadata value, or undefined when the key is absent. */
  get(key: string): GgufValue | undefined {
    return this.metadata.get(key)?.value;
  }

  /** The stored facts of a tensor; throws WeightFileError if there is none of that name. */
  ggufTensor(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new WeightFileError(this.file, `no such tensor (the file has ${this.byName.size}); check the name against names()`, name);
    return t;
  }

  names(): string[] { return this.tensors.map((t) => t.name); }
  has(name: string): boolean { return this.byName.has(name); }

  info(name: string): TensorInfo {
    const t = this.ggufTensor(name);
    const plain = PLAIN_DTYPE[t.type.name];
    return {
      name, dtype: plain ?? "F32", shape: [...t.shape], numel: t.numel,
      byteLength: plain ? t.byteLength : t.numel * 4, file: this.file, offset: t.offset,
    };
  }

  /** The tensor's stored bytes. */
  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.ggufTensor(name);
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    return readAt(this.fh, this.file, t.offset, t.byteLength, name);
  }

  async readTensor(name: string): Promise<RawTensor> {
    const info = this.info(name);
    if (PLAIN_DTYPE[this.ggufTensor(name).type.name]) return { info, bytes: await this.readRaw(name) };
    const data = await this.readF32(name);
    return { info, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  /** The whole tensor as float32, dequantised, in row-major order. */
  async readF32(name: string): Promise<Float32Array> {
    const t = this.ggufTensor(name);
    return this.readRowsF32(name, 0, t.rows);
  }

  /**
   * Rows [first, first + count) of the tensor as float32: a row is ne[0] elements, and row r
   * spans every higher dimension flattened (expert e of a [ne0, ne1, n_expert] tensor is rows
   * e*ne1 .. (e+1)*ne1). Reads only those rows' bytes.
   */
  async readRowsF32(name: string, first: number, count: number): Promise<Float32Array> {
    const t = this.ggufTensor(name);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > t.rows) {
      throw new WeightFileError(this.file, `rows [${first}, ${first + count}) are outside the tensor's ${t.rows} rows`, name);
    }
    if (!t.type.supported) {
      throw new WeightFileError(this.file, `ggml type ${t.type.name} cannot be dequantised by moec (it reads ${[...GGML_TYPES.values()].filter((x) => x.supported).map((x) => x.name).join(", ")}); requantise the model with llama-quantize to one of those`, name);
    }
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    const rowBytes = (t.rowLength / t.type.blockSize) * t.type.typeSize;
    const bytes = await readAt(this.fh, this.file, t.offset + first * rowBytes, count * rowBytes, name);
    try {
      return dequantize(t.type, bytes, count * t.rowLength);
    } catch (e) {
      throw new WeightFileError(this.file, (e as Error).message, name);
    }
  }

  storedFormat(name: string): StorageFormat | null {
    return ggmlFormat(this.ggufTensor(name).type.name);
  }

  async readStoredInto(name: string, into: Uint8Array): Promise<void> {
    await this.readStoredRowsInto(name, 0, this.ggufTensor(name).rows, into);
  }

  /** Rows [first, first + count) as stored (storedFormat's layout: ggml's blocks), straight into `into`. */
  async readStoredRowsInto(name: string, first: number, count: number, into: Uint8Array): Promise<void> {
    const t = this.ggufTensor(name);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > t.rows) {
      throw new WeightFileError(this.file, `rows [${first}, ${first + count}) are outside the tensor's ${t.rows} rows`, name);
    }
    if (this.closed) throw new WeightFileError(this.file, "the file was closed; open it again to read", name);
    const rowBytes = (t.rowLength / t.type.blockSize) * t.type.typeSize;
    if (into.byteLength !== count * rowBytes) throw new WeightFileError(this.file, `rows [${first}, ${first + count}) hold ${count * rowBytes} bytes, not the ${into.byteLength} asked for`, name);
    await readAtInto(this.fh, this.file, t.offset + first * rowBytes, into, name);
  }

  async readMxfp4(baseName: string): Promise<{ shape: number[]; data: Float32Array }> {
    throw new WeightFileError(this.file, `GGUF files hold no "${baseName}_blocks"/"_scales" pairs: an MXFP4 tensor is one tensor of ggml type MXFP4, which readF32 dequantises`, baseName);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** Opens a GGUF file and validates its header. */
export function openGguf(file: string): Promise<GgufFile> {
  return GgufFile.open(file);
}

/** Whether the file starts with the GGUF magic (false when it cannot be read). */
export async function isGgufFile(file: string): Promise<boolean> {
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(file, "r");
    const b = new Uint8Array(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && String.fromCharCode(...b) === "GGUF";
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

/** The storage format whose bytes a ggml type's are (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, MXFP4), or null. */
export function ggmlFormat(typeName: string): StorageFormat | null {
  return STORAGE_FORMATS.find((f) => (FORMATS[f] as { ggml?: string }).ggml === typeName) ?? null;
}
