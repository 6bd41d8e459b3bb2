// A minimal protobuf encoder for the ONNX messages the benchmark needs (ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), written against
// onnx/onnx.proto3. Only encoding: varints, fixed32 floats and length-delimited fields.
// Messages are built bottom-up as byte arrays, so a message is its fields concatenated.

export type Bytes = Uint8Array;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n)); // negative int64s are ten-byte two's complement
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function tag(field: number, wire: number): number[] {
  return varint((field << 3) | wire);
}

export function concat(parts: readonly Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();

/** Field encoders: each returns the encoded field (tag + payload). */
export const f = {
  int(field: number, n: number | bigint): Bytes {
    return Uint8Array.from([...tag(field, WIRE_VARINT), ...varint(n)]);
  },
  float(field: number, x: number): Bytes {
    const b = new Uint8Array(5 + 4);
    const t = tag(field, WIRE_FIXED32);
    b.set(t);
    new DataView(b.buffer).setFloat32(t.length, x, true);
    return b.subarray(0, t.length + 4);
  },
  bytes(field: number, payload: Bytes): Bytes {
    const head = Uint8Array.from([...tag(field, WIRE_LEN), ...varint(payload.length)]);
    return concat([head, payload]);
  },
  string(field: number, s: string): Bytes {
    return f.bytes(field, utf8.encode(s));
  },
  message(field: number, fields: readonly Bytes[]): Bytes {
    return f.bytes(field, concat(fields));
  },
  packedInts(field: number, ns: readonly number[]): Bytes {
    return f.bytes(field, Uint8Array.from(ns.flatMap((n) => varint(n))));
  },
};

// onnx.proto3 enums used here.
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7 } as const;
export const AttrType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  FLOATS: 6,
  INTS: 7,
} as const;

export type AttrValue = { f: number } | { i: number } | { s: string } | { ints: readonly number[] };

/** AttributeProto: name=1, f=2, i=3, s=4, ints=8, type=20. */
export function attribute(name: string, v: AttrValue): Bytes {
  const parts = [f.string(1, name)];
  if ("f" in v) parts.push(f.float(2, v.f), f.int(20, AttrType.FLOAT));
  else if ("i" in v) parts.push(f.int(3, v.i), f.int(20, AttrType.INT));
  else if ("s" in v) parts.push(f.string(4, v.s), f.int(20, AttrType.STRING));
  else parts.push(f.packedInts(8, v.ints), f.int(20, AttrType.INTS));
  return concat(parts);
}

/** NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7. An empty input name is an omitted optional input. */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  opts: {
    name?: string;
    domain?: string;
    attrs?: Record<string, AttrValue>;
  } = {},
): Bytes {
  const parts: Bytes[] = [];
  for (const i of inputs) parts.push(f.string(1, i));
  for (const o of outputs) parts.push(f.string(2, o));
  if (opts.name) parts.push(f.string(3, opts.name));
  parts.push(f.string(4, opType));
  for (const [k, v] of Object.entries(opts.attrs ?? {})) parts.push(f.bytes(5, attribute(k, v)));
  if (opts.domain) parts.push(f.string(7, opts.domain));
  return concat(parts);
}

/** Where an initializer's bytes live: inline raw_data, or a range of an external file. */
export type TensorData = { raw: Bytes } | { external: { location: string; offset: number; length: number } };

/**
 * TensorProto: dims=1, data_type=2, name=8, raw_data=9, external_data=13 (StringStringEntryProto
 * key=1 value=2), data_location=14 (EXTERNAL = 1). raw_data is little-endian.
 */
export function tensor(name: string, dims: readonly number[], dataType: number, data: TensorData): Bytes {
  const parts = [f.packedInts(1, dims), f.int(2, dataType), f.string(8, name)];
  if ("raw" in data) parts.push(f.bytes(9, data.raw));
  else {
    const entry = (k: string, v: string) => f.message(13, [f.string(1, k), f.string(2, v)]);
    const e = data.external;
    parts.push(entry("location", e.location), entry("offset", String(e.offset)), entry("length", String(e.length)), f.int(14, 1));
  }
  return concat(parts);
}

/**
 * ValueInfoProto: name=1, type=2 → TypeProto.tensor_type=1 → { elem_type=1, shape=2 →
 * TensorShapeProto.dim=1 → { dim_value=1 | dim_param=2 } }.
 */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Bytes {
  const dimMsgs = dims.map((d) => f.message(1, [typeof d === "number" ? f.int(1, d) : f.string(2, d)]));
  const shape = f.message(2, dimMsgs);
  const tensorType = f.message(1, [f.int(1, elemType), shape]);
  return concat([f.string(1, name), f.message(2, [tensorType])]);
}

/** GraphProto: node=1, name=2, initializer=5, input=11, output=12. */
export function graph(name: string, nodes: readonly Bytes[], initializers: readonly Bytes[], inputs: readonly Bytes[], outputs: readonly Bytes[]): Bytes {
  return concat([
    ...nodes.map((n) => f.bytes(1, n)),
    f.string(2, name),
    ...initializers.map((t) => f.bytes(5, t)),
    ...inputs.map((i) => f.bytes(11, i)),
    ...outputs.map((o) => f.bytes(12, o)),
  ]);
}

/** ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (OperatorSetIdProto domain=1 version=2). */
export function model(g: Bytes, opsets: readonly { domain: string; version: number }[], irVersion = 8): Bytes {
  return concat([
    f.int(1, irVersion),
    f.string(2, "moec-bench"),
    f.bytes(7, g),
    ...opsets.map((o) => f.message(8, [f.string(1, o.domain), f.int(2, o.version)])),
  ]);
}
