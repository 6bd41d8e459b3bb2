// The Deno side of a Node process's WebGPU device (remote.ts): reads frames (protocol.ts) on
// stdin, runs them on a WebGPU device made with navigator.gpu, answers on stdout. Started as
// `deno run driver.js`; it never reads files or the network.
import type { Kernels } from "../../runtime/kernels/catalogue.js";
import type { Device } from "../../runtime/device.js";
import { FrameReader, frame, OP, WIRE_KERNELS } from "./protocol.js";
import { openWebGpu } from "./open.js";

declare const Deno: { stdin: { readable: ReadableStream<Uint8Array> }; stdout: { writable: WritableStream<Uint8Array> }; exit(code: number): never };

const out = Deno.stdout.writable.getWriter();
const send = (b: Uint8Array) => out.write(b);
const text = new TextEncoder();
let device: Device | null = null;
let failure: string | null = null;

async function handle(op: number, body: Uint8Array): Promise<void> {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (op === OP.LAUNCH) {
    if (failure) return;
    const k = WIRE_KERNELS[body[0]!]!;
    const args: number[] = [];
    for (let i = 1; i + 8 <= body.byteLength; i += 8) args.push(dv.getFloat64(i, true));
    try {
      const table = (k in device!.launch ? device!.launch : device!.grouped!) as unknown as Record<string, (...a: number[]) => void>;
      table[k]!(...args);
    } catch (e) {
      failure = (e as Error).message;
    }
    return;
  }
  if (op === OP.UPLOAD) {
    if (failure) return;
    try {
      device!.upload(dv.getFloat64(0, true), body.subarray(8));
    } catch (e) {
      failure = (e as Error).message;
    }
    return;
  }
  const id = dv.getUint32(0, true);
  try {
    if (failure) throw new Error(failure);
    if (op === OP.INIT) {
      const { request, options } = JSON.parse(new TextDecoder().decode(body.subarray(4)));
      const d = await openWebGpu(request, options);
      device = d;
      await send(frame(OP.INIT, { u32: id }, text.encode(JSON.stringify({ name: d.name, regions: d.regions }))));
    } else if (op === OP.READ) {
      const bytes = await device!.read(dv.getFloat64(4, true), dv.getFloat64(12, true));
      await send(frame(OP.READ, { u32: id }, bytes));
    } else if (op === OP.SYNC) {
      await device!.synchronize();
      await send(frame(OP.SYNC, { u32: id }));
    } else if (op === OP.DISPOSE) {
      await device?.dispose();
      await send(frame(OP.DISPOSE, { u32: id }));
      await out.close();
      Deno.exit(0);
    }
  } catch (e) {
    await send(frame(OP.ERROR, { u32: id }, text.encode(`${(e as Error).name === "Error" ? "" : `${(e as Error).name}: `}${(e as Error).message}`)));
    failure = null;
  }
}

const frames = new FrameReader();
const input = Deno.stdin.readable.getReader();
for (;;) {
  const { value, done } = await input.read();
  if (done) break;
  frames.push(value);
  for (let f = frames.next(); f; f = frames.next()) await handle(f.op, f.body);
}
await (device as Device | null)?.dispose();
export type { Kernels };
