// WebGPU for Node, which has none of its own: the device runs in a Deno process (driver.ts)
// and this proxy forwards the device seam to it over stdin/stdout (protocol.ts). Launches
// and uploads are one-way and batched; reads, synchronize and dispose wait for the answer.
// Deno comes from MOEC_DENO, the `deno` npm package (a dependency of moec), or the PATH.
import type { Device, DeviceRequest } from "../../runtime/device.js";
import { KERNEL_NAMES, type Kernels } from "../../runtime/kernels/catalogue.js";
import { GROUPED_NAMES, type GroupedKernels } from "../../runtime/kernels/grouped.js";
import { FrameReader, frame, OP, WIRE_KERNELS } from "./protocol.js";
import type { OpenOptions } from "./open.js";
import { WebGpuUnavailableError } from "./open.js";

/** The Deno binary this process would use, or null. */
export async function findDeno(): Promise<string | null> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  const { existsSync } = await import("node:fs");
  if (env["MOEC_DENO"]) return existsSync(env["MOEC_DENO"]) ? env["MOEC_DENO"] : null;
  try {
    const { createRequire } = await import("node:module");
    const { dirname, join } = await import("node:path");
    const req = createRequire(import.meta.url);
    const pkg = dirname(req.resolve("deno/package.json"));
    for (const p of [join(pkg, "deno"), join(pkg, "deno.exe")]) if (existsSync(p)) return p;
  } catch {
    // not installed beside this module
  }
  const { delimiter, join } = await import("node:path");
  for (const dir of (env["PATH"] ?? "").split(delimiter)) if (dir && existsSync(join(dir, "deno"))) return join(dir, "deno");
  return null;
}

export async function remoteWebGpuDevice(req: DeviceRequest, opts: OpenOptions & { driverUrl?: URL } = {}): Promise<Device & { regions: unknown }> {
  const deno = await findDeno();
  if (!deno) throw new WebGpuUnavailableError("WebGPU in Node runs through Deno, and no Deno was found: install moec's dependencies (the `deno` npm package), put deno on the PATH, or set MOEC_DENO");
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const driver = fileURLToPath(opts.driverUrl ?? new URL("./driver.js", import.meta.url));
  const env = { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" } as Record<string, string>;
  env["XDG_RUNTIME_DIR"] ??= mkdtempSync(join(tmpdir(), "moec-xdg-"));
  const child = spawn(deno, ["run", "--quiet", "--no-prompt", "--allow-env", "--allow-read", driver], { stdio: ["pipe", "pipe", "pipe"], env });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited: string | null = null;
  const waiting = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  const fail = (why: string) => {
    exited = why;
    for (const w of waiting.values()) w.reject(new Error(why));
    waiting.clear();
  };
  child.on("exit", (code, signal) => fail(`the WebGPU driver (Deno) exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-5).join(" | ")}` : ""}`));
  child.on("error", (e) => fail(`could not start Deno (${deno}): ${e.message}`));
  child.stdin!.on("error", () => {});
  const frames = new FrameReader();
  child.stdout!.on("data", (chunk: Buffer) => {
    frames.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    for (let f = frames.next(); f; f = frames.next()) {
      const id = new DataView(f.body.buffer, f.body.byteOffset).getUint32(0, true);
      const w = waiting.get(id);
      waiting.delete(id);
      if (!w) continue;
      if (f.op === OP.ERROR) w.reject(new Error(new TextDecoder().decode(f.body.subarray(4))));
      else w.resolve(f.body.subarray(4));
    }
  });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let nextId = 1;
  const sendNow = () => {
    if (pending.length === 0) return;
    child.stdin!.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
  };
  const post = (f: Uint8Array) => {
    if (exited) throw new Error(exited);
    pending.push(f);
    pendingBytes += f.byteLength;
    if (pendingBytes > 1 << 20) sendNow();
  };
  // The driver's pipe keeps Node running only while an answer is awaited (an idle model must not).
  const hold = (on: boolean) => {
    const s = child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (on) s.ref?.();
    else s.unref?.();
  };
  const ask = (op: number, ...parts: Parameters<typeof frame>[1][]): Promise<Uint8Array> => {
    if (exited) return Promise.reject(new Error(exited));
    const id = nextId++;
    const p = new Promise<Uint8Array>((resolve, reject) => waiting.set(id, { resolve, reject })).finally(() => {
      if (waiting.size === 0) hold(false);
    });
    hold(true);
    post(frame(op, { u32: id }, ...parts));
    sendNow();
    return p;
  };
  const { driverUrl: _d, ...options } = opts;
  let info: { name: string; regions: unknown };
  try {
    info = JSON.parse(new TextDecoder().decode(await ask(OP.INIT, new TextEncoder().encode(JSON.stringify({ request: req, options })))));
  } catch (e) {
    child.kill();
    const m = (e as Error).message;
    throw /WebGpuUnavailableError|BindingLimitError/.test(m) ? new WebGpuUnavailableError(m.replace(/^\w+Error: /, "")) : e;
  }
  child.unref();
  hold(false);
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const wire = (k: string) => {
    const i = WIRE_KERNELS.indexOf(k);
    return (...args: number[]) => post(frame(OP.LAUNCH, new Uint8Array([i]), args));
  };
  const launch = Object.fromEntries(KERNEL_NAMES.map((k) => [k, wire(k)])) as unknown as Kernels;
  const grouped = Object.fromEntries(GROUPED_NAMES.map((k) => [k, wire(k)])) as unknown as GroupedKernels;
  const upload = (at: number, data: ArrayBufferView) => post(frame(OP.UPLOAD, { f64: at }, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  return {
    name: `${info.name} (Deno)`,
    regions: info.regions,
    launch,
    grouped,
    upload,
    async write(at, n, fill) {
      const dst = new Uint8Array(n);
      await fill(dst);
      for (let o = 0; o < n; o += 1 << 26) upload(at + o, dst.subarray(o, Math.min(n, o + (1 << 26))));
    },
    async read(at, n) {
      return (await ask(OP.READ, { f64: at }, { f64: n })).slice();
    },
    async synchronize() {
      await ask(OP.SYNC);
    },
    async dispose() {
      if (!exited) await ask(OP.DISPOSE).catch(() => {});
      child.kill();
    },
  };
}
