// A Device (runtime/device.ts) on WebGPU. The address space lives in GPU buffers, one per
// region (regions.ts); a kernel call resolves its pointers to (buffer, word offset), picks
// its programs (programs.ts), and records one dispatch per program with a uniform block of
// offsets and scalars. Nothing is submitted until the host needs a result: a read or
// synchronize submits every recorded dispatch in one command buffer (a decode step is one
// submit), with uploads made in between ordered as copies from a staging buffer. Pipelines
// and bind groups are cached; staging and read-back buffers are pooled.
/// <reference types="@webgpu/types" />
import type { Device, DeviceRequest } from "../../runtime/device.js";
import { KERNEL_NAMES, type Kernels } from "../../runtime/kernels/catalogue.js";
import { GROUPED_NAMES, type GroupedKernels } from "../../runtime/kernels/grouped.js";
import type { Program } from "../cstyle/dialect.js";
import { isBytePointer, paramsOf, plan as programsFor, source, specOf, uniformBytes, uniformFields, type AnyKernel, type Pattern, patternKey } from "./programs.js";
import { regionOf, regionsFor, type RegionMap } from "./regions.js";

export class DeviceLostError extends Error {
  override name = "DeviceLostError";
}

type Cmd =
  | { kind: "dispatch"; pipeline: GPUComputePipeline; group: GPUBindGroup; uniform: number; x: number; y: number }
  | { kind: "copy"; from: number; buffer: number; offset: number; size: number };

interface Compiled {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

export interface WebGpuDeviceOptions {
  /** Overrides the binding limit (tests cut small models into many regions with it). */
  readonly maxBindingBytes?: number;
  /** Destroy the GPUDevice on dispose (when this device made it). */
  readonly ownsDevice?: boolean;
  /** Time every submit on the GPU (timestamp queries, where the adapter has them): see gpuNanos. */
  readonly profile?: boolean;
}

export async function createWebGpuDevice(gpu: GPUDevice, req: DeviceRequest, opts: WebGpuDeviceOptions = {}): Promise<Device & { readonly regions: RegionMap; readonly dispatches: () => number; readonly splitRuns: () => number; gpuNanos(): Promise<number | null> }> {
  const limit = Math.min(opts.maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) & ~15;
  const map = regionsFor(req, limit);
  const { regions } = map;
  let lost: string | null = null;
  void gpu.lost.then((info) => {
    if (info.reason !== "destroyed") lost = `the GPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ""}); load the model again to retry`;
  });
  // A validation error means a submit did nothing: report the first one at the next call.
  let invalid: string | null = null;
  gpu.addEventListener("uncapturederror", (ev) => {
    invalid ??= (ev as GPUUncapturedErrorEvent).error.message;
  });
  const check = () => {
    if (lost) throw new DeviceLostError(lost);
    if (invalid) {
      const m = invalid;
      invalid = null;
      throw new Error(`WebGPU rejected moec's commands (a bug in moec): ${m}`);
    }
  };
  gpu.pushErrorScope("out-of-memory");
  const buffers = regions.map((r, i) => gpu.createBuffer({ label: `moec region ${i}`, size: Math.ceil((r.end - r.start) / 16) * 16 + 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }));
  const oom = await gpu.popErrorScope();
  if (oom) {
    for (const b of buffers) b.destroy();
    const total = regions.reduce((s, r) => s + r.end - r.start, 0);
    throw new Error(`${req.label} needs ${(total / 2 ** 30).toFixed(2)} GiB of GPU memory and the GPU could not allocate it (${oom.message}); lower maxContext, maxTokens or sequences, or use a GPU with more memory`);
  }

  const align = gpu.limits.minUniformBufferOffsetAlignment;
  const compiled = new Map<string, Compiled>();
  const groups = new Map<string, GPUBindGroup>();
  // Uniform blocks of the recorded dispatches, at dynamic offsets; a full buffer submits early.
  const UNIFORM_CAP = 1 << 22;
  const uniformBuffer = gpu.createBuffer({ label: "moec uniforms", size: UNIFORM_CAP, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  let stagingBuffer: GPUBuffer | null = null;
  let stagingCap = 0;
  let cmds: Cmd[] = [];
  let uniforms = new Uint8Array(1 << 16);
  let uniformTop = 0;
  let staged = new Uint8Array(1 << 16);
  let stagedTop = 0;
  let dispatches = 0;
  const readPool: GPUBuffer[] = [];
  // Profiling: a timestamp at the start of each submit's first compute pass and the end of its last.
  const PAIRS = 2048; // a query set holds at most 4096 queries
  const timing = opts.profile && gpu.features.has("timestamp-query") ? gpu.createQuerySet({ type: "timestamp", count: 2 * PAIRS }) : null;
  let pairs = 0;

  function compile(p: Program, pattern: Pattern): Compiled {
    const key = `${p.name}#${patternKey(pattern)}`;
    let c = compiled.get(key);
    if (c) return c;
    const layout = gpu.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true } },
        ...pattern.writable.map((w, b) => ({ binding: b + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: (w ? "storage" : "read-only-storage") as GPUBufferBindingType } })),
      ],
    });
    const module = gpu.createShaderModule({ label: p.name, code: source(p, pattern) });
    const pipeline = gpu.createComputePipeline({ label: p.name, layout: gpu.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: "main" } });
    c = { pipeline, layout };
    compiled.set(key, c);
    return c;
  }

  /** (region, offset in it): in words, or in bytes for a byte pointer (which may sit at any byte). */
  function resolve(at: number, what: string, bytes = false): [number, number] {
    const r = regionOf(regions, at);
    if (r < 0) throw new RangeError(`${what}: address ${at} is outside the device's memory`);
    if (bytes) return [r, at - regions[r]!.start];
    if ((at - regions[r]!.start) % 4 !== 0) throw new RangeError(`${what}: address ${at} is not 4-byte aligned`);
    return [r, (at - regions[r]!.start) / 4];
  }

  /** Expert weights of the grouped kernels: (pointer, stride in floats) pairs. */
  const EXPERT_WEIGHTS: Partial<Record<AnyKernel, readonly (readonly [string, string])[]>> = {
    moe_matmul: [["w", "w_stride"], ["bias", "bias_stride"]],
    moe_gate_up: [["wg", "w_stride"], ["wu", "w_stride"]],
    moe_down_combine: [["wd", "w_stride"]],
  };
  let splitRuns = 0;

  /**
   * A grouped call whose experts' weights lie in several regions (a stacked tensor cut by
   * regions.ts) becomes one call per run of experts in the same regions, in expert order.
   */
  function launchGrouped(kernel: AnyKernel, args: readonly number[]): void {
    const ws = EXPERT_WEIGHTS[kernel];
    if (!ws) return launchOne(kernel, args);
    const idx = new Map(specOf(kernel).params.map(([n], i) => [n, i]));
    const a = (n: string) => args[idx.get(n)!]!;
    const [e0, e1] = [a("e0"), a("e1")];
    const key = (e: number) => ws.map(([p, st]) => (a(p) === 0 ? -1 : regionOf(regions, a(p) + 4 * (e - e0) * a(st)))).join(",");
    let r0 = e0;
    for (let e = e0 + 1; e <= e1; e++) {
      if (e < e1 && key(e) === key(r0)) continue;
      const run = [...args];
      for (const [p, st] of ws) if (a(p) !== 0) run[idx.get(p)!] = a(p) + 4 * (r0 - e0) * a(st);
      run[idx.get("e0")!] = r0;
      run[idx.get("e1")!] = e;
      if (r0 > e0 && idx.has("accumulate")) run[idx.get("accumulate")!] = 1;
      if (r0 > e0) splitRuns++;
      launchOne(kernel, run);
      r0 = e;
    }
  }

  function launchOne(kernel: AnyKernel, args: readonly number[]): void {
    check();
    const names = specOf(kernel).params.map(([n]) => n);
    const a = (name: string) => args[names.indexOf(name)]!;
    const { pointers, optional, scalars } = paramsOf(kernel);
    const progs = programsFor(kernel, a);
    const unused = (name: string) => progs.every((p) => p.unused?.includes(name));
    const where = pointers.map((name) => ((a(name) === 0 && optional.includes(name)) || unused(name) ? null : resolve(a(name), `${kernel} ${name}`, isBytePointer(kernel, name))));
    const fallback = where.find((w) => w !== null)?.[0] ?? 0;
    const regionOfParam = where.map((w) => (w ? w[0] : fallback));
    for (const p0 of progs) {
      // Four-word reads need 16-byte alignment and a buffer no output of the call is in.
      let p = p0;
      const written = new Set(pointers.flatMap((n, i) => (p0.writes.includes(n) ? [regionOfParam[i]!] : [])));
      if (p.vec4?.some((n) => { const i = pointers.indexOf(n); return where[i] === null || where[i]![1] % 4 !== 0 || written.has(regionOfParam[i]!); })) p = p.fallback!;
      const count = p.grid(a);
      if (count <= 0) continue;
      const bound: number[] = []; // region of each binding
      const vec4: boolean[] = [];
      const slot = pointers.map((n, i) => {
        const r = regionOfParam[i]!;
        if (p.vec4?.includes(n)) return (vec4.push(true), bound.push(r) - 1);
        let b = bound.findIndex((q, j) => q === r && !vec4[j]);
        if (b < 0) b = (vec4.push(false), bound.push(r) - 1);
        return b;
      });
      const writable = bound.map((_, b) => pointers.some((n, i) => slot[i] === b && p.writes.includes(n)));
      const pattern = { slot, writable, vec4 };
      const c = compile(p, pattern);
      // the uniform block: offsets, "is set" flags, scalars, workgroup count
      const bytes = uniformBytes(kernel);
      if (uniformTop + Math.max(256, Math.ceil(bytes / align) * align) > UNIFORM_CAP) flush();
      if (uniformTop + bytes > uniforms.length) {
        const grown = new Uint8Array(uniforms.length * 2);
        grown.set(uniforms);
        uniforms = grown;
      }
      const dv = new DataView(uniforms.buffer, uniformTop, bytes);
      let f = 0;
      for (const w of where) dv.setUint32(4 * f++, w ? w[1] : 0, true);
      for (const n of optional) dv.setInt32(4 * f++, a(n) !== 0 ? 1 : 0, true);
      for (const s of scalars) {
        if (s.type === "f32") dv.setFloat32(4 * f++, a(s.name), true);
        else dv.setInt32(4 * f++, a(s.name), true);
      }
      dv.setUint32(4 * f++, count, true);
      if (f !== uniformFields(kernel).length) throw new Error(`uniform block of ${kernel} out of step`);
      const x = Math.min(count, 65535);
      cmds.push({ kind: "dispatch", pipeline: c.pipeline, group: bindGroup(c, pattern, bound), uniform: uniformTop, x, y: Math.ceil(count / x) });
      uniformTop += Math.ceil(bytes / align) * align;
      dispatches++;
    }
  }

  function bindGroup(c: Compiled, pattern: Pattern, bound: readonly number[]): GPUBindGroup {
    const key = `${patternKey(pattern)}@${bound.join(",")}@${c.pipeline.label}`;
    let g = groups.get(key);
    if (!g) {
      g = gpu.createBindGroup({
        layout: c.layout,
        entries: [{ binding: 0, resource: { buffer: uniformBuffer, offset: 0, size: 256 } }, ...bound.map((r, b) => ({ binding: b + 1, resource: { buffer: buffers[r]! } }))],
      });
      groups.set(key, g);
    }
    return g;
  }

  function flush(): void {
    if (cmds.length === 0) return;
    check();
    gpu.queue.writeBuffer(uniformBuffer, 0, uniforms, 0, uniformTop);
    if (stagedTop > 0) {
      if (!stagingBuffer || stagingCap < stagedTop) {
        stagingBuffer?.destroy();
        stagingCap = 2 ** Math.ceil(Math.log2(Math.max(stagedTop, 1 << 16)));
        stagingBuffer = gpu.createBuffer({ label: "moec staging", size: stagingCap, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      }
      gpu.queue.writeBuffer(stagingBuffer, 0, staged, 0, stagedTop);
    }
    const enc = gpu.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    let passes = 0;
    for (let i = 0; i < cmds.length; i++) if (cmds[i]!.kind === "dispatch" && (i === 0 || cmds[i - 1]!.kind !== "dispatch")) passes++;
    const pair = timing && passes > 0 && pairs < PAIRS ? pairs++ : -1;
    let passNo = 0;
    for (const c of cmds) {
      if (c.kind === "dispatch") {
        if (!pass) {
          const tw: GPUComputePassTimestampWrites | undefined =
            pair >= 0 && (passNo === 0 || passNo === passes - 1)
              ? { querySet: timing!, ...(passNo === 0 ? { beginningOfPassWriteIndex: 2 * pair } : {}), ...(passNo === passes - 1 ? { endOfPassWriteIndex: 2 * pair + 1 } : {}) }
              : undefined;
          pass = enc.beginComputePass(tw ? { timestampWrites: tw } : {});
          passNo++;
        }
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, c.group, [c.uniform]);
        pass.dispatchWorkgroups(c.x, c.y);
      } else {
        pass?.end();
        pass = null;
        enc.copyBufferToBuffer(stagingBuffer!, c.from, buffers[c.buffer]!, c.offset, c.size);
      }
    }
    pass?.end();
    gpu.queue.submit([enc.finish()]);
    cmds = [];
    uniformTop = 0;
    stagedTop = 0;
  }

  /** Calls `each(region, offset in it, start in data, bytes)` for the pieces of [at, at + n). */
  function pieces(at: number, n: number, each: (r: number, offset: number, from: number, bytes: number) => void): void {
    let done = 0;
    while (done < n) {
      const [r, word] = resolve(at + done, "memory access");
      const bytes = Math.min(n - done, regions[r]!.end - (at + done));
      each(r, 4 * word, done, bytes);
      done += bytes;
    }
  }

  function upload(at: number, data: ArrayBufferView): void {
    check();
    let src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // WebGPU copies whole words: a ragged tail (a quantized weight's bytes) is padded with
    // zeros up to the word, which the layout's 16-byte alignment leaves unused.
    if (src.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
      padded.set(src);
      src = padded;
    }
    pieces(at, src.byteLength, (r, offset, from, bytes) => {
      if (cmds.length === 0) return gpu.queue.writeBuffer(buffers[r]!, offset, src as Uint8Array<ArrayBuffer>, from, bytes);
      if (stagedTop + bytes > staged.length) {
        const grown = new Uint8Array(Math.max(staged.length * 2, stagedTop + bytes));
        grown.set(staged.subarray(0, stagedTop));
        staged = grown;
      }
      staged.set(src.subarray(from, from + bytes), stagedTop);
      cmds.push({ kind: "copy", from: stagedTop, buffer: r, offset, size: bytes });
      stagedTop += Math.ceil(bytes / 4) * 4;
    });
  }

  const launch = Object.fromEntries(KERNEL_NAMES.map((k) => [k, (...args: number[]) => launchOne(k, args)])) as unknown as Kernels;
  const grouped = Object.fromEntries(GROUPED_NAMES.map((k) => [k, (...args: number[]) => launchGrouped(k, args)])) as unknown as GroupedKernels;

  return {
    name: "webgpu",
    launch,
    grouped,
    splitRuns: () => splitRuns,
    regions: map,
    dispatches: () => dispatches,
    upload,
    async write(at, n, fill) {
      flush();
      const dst = new Uint8Array(Math.ceil(n / 4) * 4);
      await fill(dst.subarray(0, n));
      upload(at, dst);
    },
    async read(at, n) {
      flush();
      check();
      const out = new Uint8Array(n);
      const size = Math.ceil(n / 4) * 4;
      let rb = readPool.findIndex((b) => b.size >= size);
      const buf = rb >= 0 ? readPool.splice(rb, 1)[0]! : gpu.createBuffer({ label: "moec read", size: Math.max(size, 256), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = gpu.createCommandEncoder();
      pieces(at, size, (r, offset, from, bytes) => enc.copyBufferToBuffer(buffers[r]!, offset, buf, from, bytes));
      gpu.queue.submit([enc.finish()]);
      await buf.mapAsync(GPUMapMode.READ, 0, size);
      check();
      out.set(new Uint8Array(buf.getMappedRange(0, size), 0, n));
      buf.unmap();
      readPool.push(buf);
      if (readPool.length > 8) readPool.shift()!.destroy();
      return out;
    },
    async synchronize() {
      flush();
      await gpu.queue.onSubmittedWorkDone();
      check();
    },
    /** GPU nanoseconds of the submits since the last call (needs `profile` and timestamp-query; else null). */
    async gpuNanos(): Promise<number | null> {
      flush();
      if (!timing) return null;
      const n = pairs;
      pairs = 0;
      if (n === 0) return 0;
      const resolved = gpu.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const back = gpu.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = gpu.createCommandEncoder();
      enc.resolveQuerySet(timing, 0, 2 * n, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, back, 0, 16 * n);
      gpu.queue.submit([enc.finish()]);
      await back.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(back.getMappedRange().slice(0));
      back.unmap();
      resolved.destroy();
      back.destroy();
      let sum = 0n;
      for (let i = 0; i < n; i++) sum += t[2 * i + 1]! - t[2 * i]!;
      return Number(sum);
    },
    async dispose() {
      cmds = [];
      for (const b of [...buffers, ...readPool]) b.destroy();
      uniformBuffer.destroy();
      stagingBuffer?.destroy();
      if (opts.ownsDevice) gpu.destroy();
    },
  };
}
