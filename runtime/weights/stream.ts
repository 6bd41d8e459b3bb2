// A weight pack read from a URL as a stream (browsers, and Node's fetch): each tensor's bytes
// go straight from the network into its place in the model's memory, so loading never holds a
// second copy of the weights. The pack is safetensors (an 8-byte header length, a JSON header,
// then raw little-endian data) written in plan order, each weight in its storage format
// (pack-layout.ts), which is the order Model.create asks for the weights; a pack in another
// order gets an error asking to recompile it.

export class WeightStreamError extends Error {}

interface Entry {
  readonly dtype?: string;
  readonly shape?: readonly number[];
  readonly data_offsets?: readonly [number, number];
}

export interface StreamedWeights {
  /** Fills `into` with weight `name`'s bytes (its tensors back to back); call in the pack's data order. */
  read(name: string, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A plan weight and the pack tensors that hold it (runtime/weights/pack-layout.ts): [name, dtype, shape, bytes]. */
export interface ExpectedWeight {
  readonly name: string;
  readonly tensors: readonly (readonly [string, string, readonly number[], number])[];
}

/**
 * Opens a weight pack from a fetch Response. Every weight of `expected` must be in the pack as
 * its tensors say, stored back to back.
 */
export async function streamWeights(source: string, response: Response, expected: readonly ExpectedWeight[]): Promise<StreamedWeights> {
  const bad = (why: string) => new WeightStreamError(`${source}: ${why}; the weight pack is damaged or not from this bundle — recompile it`);
  if (!response.body) throw bad("the response has no body");
  const reader = response.body.getReader();
  const length = Number(response.headers.get("content-length") ?? NaN);
  let chunk = new Uint8Array(0); // bytes received and not consumed yet
  let position = 0; // file offset of chunk[0]

  /** Makes at least `n` unconsumed bytes available (fewer only at the end of the stream). */
  const fill = async (n: number): Promise<void> => {
    while (chunk.length < n) {
      const { done, value } = await reader.read();
      if (done) return;
      if (chunk.length === 0) {
        chunk = value;
        continue;
      }
      const joined = new Uint8Array(chunk.length + value.length);
      joined.set(chunk);
      joined.set(value, chunk.length);
      chunk = joined;
    }
  };
  const take = (n: number): Uint8Array => {
    const out = chunk.subarray(0, n);
    chunk = chunk.subarray(n);
    position += n;
    return out;
  };

  await fill(8);
  if (chunk.length < 8) throw bad("the file is shorter than a safetensors header");
  const headerBytes = Number(new DataView(chunk.buffer, chunk.byteOffset, 8).getBigUint64(0, true));
  take(8);
  if (Number.isFinite(length) && headerBytes > length - 8) throw bad(`the header claims ${headerBytes} bytes but the file has ${length - 8} after the length`);
  await fill(headerBytes);
  if (chunk.length < headerBytes) throw bad(`the file ended inside its ${headerBytes}-byte header`);
  let header: Record<string, Entry>;
  try {
    header = JSON.parse(new TextDecoder().decode(take(headerBytes))) as Record<string, Entry>;
  } catch {
    throw bad("the header is not JSON");
  }
  const dataStart = 8 + headerBytes;
  const spans = new Map<string, [number, number]>();
  for (const w of expected) {
    let first = -1;
    let end = -1;
    for (const [name, dtype, shape, bytes] of w.tensors) {
      const h = header[name];
      if (!h) throw bad(`it has no tensor ${name}`);
      const [start, stop] = h.data_offsets ?? [NaN, NaN];
      if (h.dtype !== dtype || (h.shape ?? []).join(",") !== shape.join(",") || !(stop - start === bytes) || !(start >= 0)) throw bad(`tensor ${name} is not ${dtype} [${shape.join(", ")}] (${bytes} bytes)`);
      if (end >= 0 && start !== end) throw bad(`tensor ${name} does not follow ${w.name}`);
      if (first < 0) first = start;
      end = stop;
    }
    if (Number.isFinite(length) && dataStart + end > length) throw bad(`tensor ${w.tensors[w.tensors.length - 1]![0]} ends at byte ${dataStart + end}, past the file's ${length} bytes`);
    spans.set(w.name, [first, end]);
  }

  return {
    async read(name, into) {
      const [start, end] = spans.get(name)!;
      if (into.byteLength !== end - start) throw bad(`weight ${name} has ${end - start} bytes, not ${into.byteLength}`);
      const at = dataStart + start;
      if (at < position) throw bad(`tensor ${name} comes before data already read (the pack is not in plan order)`);
      // Skip padding or tensors the plan does not use.
      while (position < at) {
        await fill(Math.min(at - position, 1 << 20));
        if (chunk.length === 0) throw bad(`the file ended at byte ${position}, before tensor ${name}`);
        take(Math.min(at - position, chunk.length));
      }
      const dst = into;
      let done = 0;
      while (done < end - start) {
        if (chunk.length === 0) await fill(1);
        if (chunk.length === 0) throw bad(`the file ended at byte ${position}, inside tensor ${name}`);
        const n = Math.min(chunk.length, end - start - done);
        dst.set(take(n), done);
        done += n;
      }
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
