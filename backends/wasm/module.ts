// The one file of the WASM backend that imports binaryen (as AssemblyScript keeps its
// toolchain binding in one module). Everything else builds kernels through the small typed
// API below: value types, locals, loads and stores of f32/f64/v128, the SIMD128 operations
// the kernels use (relaxed madd included), loop and block helpers, and function creation
// into a module that imports its memory as `env.memory`.
//
// Pointers have their own value type, "ptr": i32 in a 32-bit memory, i64 in a 64-bit one
// (Memory64, for models over 4 GiB). Kernels do pointer arithmetic through `m.ptr`, which
// widens i32 offsets as needed, so one kernel source builds both. Exported functions take
// pointers as i32 in the 32-bit build and as f64 in the 64-bit build (exact up to 2^53), so
// JavaScript calls both builds with plain numbers.
import { KERNELS, type KernelName, type ParamRole } from "../../runtime/kernels/catalogue.js";
import { FUSED_KERNELS, type FusedName } from "../../runtime/kernels/fused.js";
import binaryen from "binaryen";
import { MAX_MEMORY64, WASM_PAGE } from "../../runtime/memory.js";

/** A binaryen expression reference (an index into binaryen's arena). */
export type Expr = number;
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "ptr";
export type ResultType = ValType | "none";

/** binaryen's C entry points that binaryen.js does not wrap with a typed helper. */
interface BinaryenRaw {
  _BinaryenSIMDTernary(module: number, op: number, a: Expr, b: Expr, c: Expr): Expr;
  _BinaryenRelaxedMaddVecF32x4(): number;
  _BinaryenRelaxedNmaddVecF32x4(): number;
  _BinaryenRelaxedDotI8x16I7x16AddSToVecI32x4(): number;
  _BinaryenBinary(module: number, op: number, a: Expr, b: Expr): Expr;
  _BinaryenRelaxedDotI8x16I7x16SToVecI16x8(): number;
}
const raw = binaryen as unknown as BinaryenRaw;

function typeOf(t: ResultType, memory64: boolean): binaryen.Type {
  switch (t) {
    case "ptr":
      return memory64 ? binaryen.i64 : binaryen.i32;
    case "i32":
      return binaryen.i32;
    case "i64":
      return binaryen.i64;
    case "f32":
      return binaryen.f32;
    case "f64":
      return binaryen.f64;
    case "v128":
      return binaryen.v128;
    case "none":
      return binaryen.none;
  }
}

/** A function parameter or local variable. */
export class Local {
  constructor(
    private readonly mod: binaryen.Module,
    readonly index: number,
    readonly type: ValType,
    private readonly btype: binaryen.Type,
  ) {}
  get(): Expr {
    return this.mod.local.get(this.index, this.btype);
  }
  set(value: Expr): Expr {
    return this.mod.local.set(this.index, value);
  }
  tee(value: Expr): Expr {
    return this.mod.local.tee(this.index, value, this.btype);
  }
}

export interface ModuleOptions {
  /** Enable the relaxed-SIMD feature (needed for `f32x4.relaxedMadd`). */
  readonly relaxedSimd: boolean;
  /** Import `env.memory` as a shared memory (threads feature on). */
  readonly sharedMemory: boolean;
  /** Import `env.memory` as a 64-bit memory (Memory64): "ptr" is i64. */
  readonly memory64?: boolean;
}

/** The shared-memory maximum a 64-bit build declares: the engines' limit (runtime/memory.ts). */
const MEMORY64_MAX_PAGES = MAX_MEMORY64 / WASM_PAGE;

/** Byte mask of an i8x16.shuffle that picks f32 lanes 0..7 of (a, b). */
function laneMask(lanes: readonly number[]): number[] {
  if (lanes.length !== 4) throw new Error("shuffle32 takes 4 lanes");
  const bytes: number[] = [];
  for (const l of lanes) {
    if (!(l >= 0 && l < 8)) throw new Error(`shuffle32: lane ${l} out of range`);
    for (let b = 0; b < 4; b++) bytes.push(l * 4 + b);
  }
  return bytes;
}

function f32Lanes(m: binaryen.Module, vals: readonly number[]): Expr {
  if (vals.length !== 4) throw new Error("f32x4 constant takes 4 lanes");
  return m.v128.const(Array.from(new Uint8Array(new Float32Array(vals).buffer)));
}

/** One function under construction: its parameters and the locals it declares. */
export class FunctionBuilder {
  private readonly vars: ValType[] = [];
  private readonly byName = new Map<string, Local>();
  /** The parameters as the kernels use them (pointers already widened in a 64-bit build). */
  readonly params: readonly Local[];
  /** The parameters as declared (pointers are f64 in a 64-bit build), for forwarding calls. */
  private readonly abi: readonly Local[];
  /** Widens f64 pointer parameters into their i64 locals (64-bit builds only). */
  private readonly prologue: Expr[] = [];

  constructor(
    private readonly km: KernelModule,
    readonly name: string,
    private readonly paramDecls: readonly (readonly [string, ValType])[],
    private readonly result: ResultType,
    /** An internal function (never exported): pointers stay i64 in a 64-bit build. */
    private readonly internal = false,
  ) {
    this.abi = paramDecls.map(([, t], i) => new Local(km.raw, i, t, km.type(this.abiType(t))));
    this.params = paramDecls.map(([n, t], i) => {
      let l = this.abi[i]!;
      if (t === "ptr" && km.memory64 && !internal) {
        l = this.local("ptr");
        this.prologue.push(l.set(km.raw.i64.trunc_u_sat.f64(this.abi[i]!.get())));
      }
      this.byName.set(n, l);
      return l;
    });
  }

  private abiType(t: ValType): ValType {
    return t === "ptr" && this.km.memory64 && !this.internal ? "f64" : t;
  }

  /** The parameter called `name`. */
  param(name: string): Local {
    const l = this.byName.get(name);
    if (!l) throw new Error(`${this.name}: no parameter ${name}`);
    return l;
  }

  /** The parameters exactly as this function received them (to forward to a function of the same ABI). */
  abiArgs(): Expr[] {
    return this.abi.map((l) => l.get());
  }

  /** A fresh local variable. */
  local(type: ValType): Local {
    const l = new Local(this.km.raw, this.paramDecls.length + this.vars.length, type, this.km.type(type));
    this.vars.push(type);
    return l;
  }

  /** Adds the function to the module (and exports it under `exportName` when given). */
  finish(body: readonly Expr[], exportName?: string): void {
    const m = this.km.raw;
    const params = binaryen.createType(this.paramDecls.map(([, t]) => this.km.type(this.abiType(t))));
    const all = [...this.prologue, ...body];
    const bodyExpr = all.length === 1 ? all[0]! : m.block(null, all, this.km.type(this.result));
    m.addFunction(this.name, params, this.km.type(this.result), this.vars.map((t) => this.km.type(t)), bodyExpr);
    if (exportName !== undefined) m.addFunctionExport(this.name, exportName);
  }
}

/** A WASM module of SIMD kernels importing `env.memory`. */
export class KernelModule {
  /** The binaryen module; only this file may touch it. */
  readonly raw: binaryen.Module;
  readonly relaxedSimd: boolean;
  readonly sharedMemory: boolean;
  readonly memory64: boolean;
  private labelCount = 0;

  constructor(opts: ModuleOptions) {
    this.relaxedSimd = opts.relaxedSimd;
    this.sharedMemory = opts.sharedMemory;
    this.memory64 = opts.memory64 ?? false;
    const m = new binaryen.Module();
    this.raw = m;
    const F = binaryen.Features;
    let features = F.MutableGlobals | F.NontrappingFPToInt | F.SignExt | F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt;
    if (opts.relaxedSimd) features |= F.RelaxedSIMD;
    if (opts.sharedMemory) features |= F.Atomics;
    if (this.memory64) features |= F.Memory64;
    m.setFeatures(features);
    // An imported memory: one page minimum; a shared memory must declare a maximum (the
    // whole 32-bit space, or the engines' 64-bit limit), an unshared one declares none so
    // any JS memory satisfies it.
    const max = opts.sharedMemory ? (this.memory64 ? MEMORY64_MAX_PAGES : 65536) : -1;
    m.setMemory(1, max, null, [], opts.sharedMemory, this.memory64, "mem");
    m.addMemoryImport("mem", "env", "memory", opts.sharedMemory);
  }

  /** The binaryen type of a value type ("ptr" depends on the memory). */
  type(t: ResultType): binaryen.Type {
    return typeOf(t, this.memory64);
  }

  /** A label unique within the module. */
  label(prefix: string): string {
    return `${prefix}${this.labelCount++}`;
  }

  func(name: string, params: readonly (readonly [string, ValType])[], result: ResultType = "none"): FunctionBuilder {
    return new FunctionBuilder(this, name, params, result);
  }

  /** A function only other functions of the module call: its pointers are `ptr` (i64 in a 64-bit build), not the exports' f64. */
  internal(name: string, params: readonly (readonly [string, ValType])[], result: ResultType = "none"): FunctionBuilder {
    return new FunctionBuilder(this, name, params, result, true);
  }

  /** A pointer as an exported kernel takes it: itself in a 32-bit build, an f64 in a 64-bit one. */
  abiPtr(p: Expr): Expr {
    return this.memory64 ? this.raw.f64.convert_u.i64(p) : p;
  }

  /** A kernel of the catalogue, with its parameters as the catalogue lists them; finish it with `finish(body, name)`. */
  kernel(name: KernelName | FusedName): FunctionBuilder {
    const spec = name in FUSED_KERNELS ? FUSED_KERNELS[name as FusedName] : KERNELS[name as KernelName];
    return this.func(name, spec.params.map(([n, role]): [string, ValType] => [n, wasmType(role)]));
  }

  // ---- control flow -------------------------------------------------------------------

  block(children: readonly Expr[], label: string | null = null, result: ResultType = "none"): Expr {
    return this.raw.block(label, [...children], this.type(result));
  }
  /** A block whose value is its last child. */
  valueBlock(children: readonly Expr[], result: ValType): Expr {
    return this.raw.block(null, [...children], this.type(result));
  }
  loop(label: string, body: Expr): Expr {
    return this.raw.loop(label, body);
  }
  br(label: string, condition?: Expr): Expr {
    return this.raw.br(label, condition);
  }
  if(cond: Expr, then: Expr | readonly Expr[], otherwise?: Expr | readonly Expr[]): Expr {
    const seq = (e: Expr | readonly Expr[]) => (typeof e === "number" ? e : this.block(e));
    return otherwise === undefined ? this.raw.if(cond, seq(then)) : this.raw.if(cond, seq(then), seq(otherwise));
  }
  /** `cond ? a : b` as a value (both arms evaluated only as the chosen one: an `if`). */
  ifValue(cond: Expr, a: Expr, b: Expr): Expr {
    return this.raw.if(cond, a, b);
  }
  select(cond: Expr, ifTrue: Expr, ifFalse: Expr): Expr {
    return this.raw.select(cond, ifTrue, ifFalse);
  }
  /** Traps (a code path the dispatcher never takes for valid arguments). */
  unreachable(): Expr {
    return this.raw.unreachable();
  }
  return(value?: Expr): Expr {
    return this.raw.return(value);
  }
  drop(value: Expr): Expr {
    return this.raw.drop(value);
  }
  nop(): Expr {
    return this.raw.nop();
  }
  call(name: string, args: readonly Expr[], result: ResultType = "none"): Expr {
    return this.raw.call(name, [...args], this.type(result));
  }

  /**
   * `for (i = from; i < limit; i += step) body` as a rotated loop (test once before, then at
   * the bottom). `limit` is called twice for two copies of its expression; keep it pure.
   */
  for(i: Local, from: Expr, limit: () => Expr, step: number | (() => Expr), body: readonly Expr[]): Expr {
    const L = this.label("for");
    const inc = typeof step === "number" ? this.i32.const(step) : step();
    return this.block([
      i.set(from),
      this.if(this.i32.lt_s(i.get(), limit()), this.loop(L, this.block([...body, i.set(this.i32.add(i.get(), inc)), this.br(L, this.i32.lt_s(i.get(), limit()))]))),
    ]);
  }

  /** `while (cond) body` as a rotated loop; `cond` is called twice. */
  while(cond: () => Expr, body: readonly Expr[]): Expr {
    const L = this.label("while");
    return this.if(cond(), this.loop(L, this.block([...body, this.br(L, cond())])));
  }

  // ---- pointers -------------------------------------------------------------------------

  /** An expression widened to the pointer type (i32 offsets are unsigned: below 4 GiB). */
  private asPtr(e: Expr): Expr {
    if (this.memory64 && binaryen.getExpressionType(e) === binaryen.i32) return this.raw.i64.extend_u(e);
    return e;
  }

  /**
   * Pointer arithmetic: `add(p, off, ...)` sums a pointer and byte offsets (i32 expressions,
   * each non-negative). `isSet(p)` is the i32 condition "p is not the null pointer".
   */
  get ptr() {
    const m = this.raw;
    const p = (e: Expr) => this.asPtr(e);
    return {
      add: (a: Expr, ...offsets: Expr[]) => offsets.reduce<Expr>((acc, o) => (this.memory64 ? m.i64.add(acc, p(o)) : m.i32.add(acc, p(o))), p(a)),
      /** p − off, wrapping: only for a base that is offset back by an amount added again before any access. */
      sub: (a: Expr, off: Expr) => (this.memory64 ? m.i64.sub(p(a), p(off)) : m.i32.sub(a, off)),
      isSet: (a: Expr) => (this.memory64 ? m.i64.ne(a, m.i64.const(0)) : a),
    };
  }

  // ---- scalar operations ----------------------------------------------------------------

  get i32() {
    const m = this.raw;
    return {
      const: (v: number) => m.i32.const(v | 0),
      load: (ptr: Expr, offset = 0) => m.i32.load(offset, 4, ptr),
      load8_u: (ptr: Expr, offset = 0) => m.i32.load8_u(offset, 1, ptr),
      load8_s: (ptr: Expr, offset = 0) => m.i32.load8_s(offset, 1, ptr),
      load16_u: (ptr: Expr, offset = 0) => m.i32.load16_u(offset, 1, ptr),
      store: (ptr: Expr, value: Expr, offset = 0) => m.i32.store(offset, 4, ptr, value),
      store8: (ptr: Expr, value: Expr, offset = 0) => m.i32.store8(offset, 1, ptr, value),
      add: (a: Expr, b: Expr) => m.i32.add(a, b),
      sub: (a: Expr, b: Expr) => m.i32.sub(a, b),
      mul: (a: Expr, b: Expr) => m.i32.mul(a, b),
      div_s: (a: Expr, b: Expr) => m.i32.div_s(a, b),
      div_u: (a: Expr, b: Expr) => m.i32.div_u(a, b),
      rem_u: (a: Expr, b: Expr) => m.i32.rem_u(a, b),
      xor: (a: Expr, b: Expr) => m.i32.xor(a, b),
      and: (a: Expr, b: Expr) => m.i32.and(a, b),
      or: (a: Expr, b: Expr) => m.i32.or(a, b),
      shl: (a: Expr, b: Expr) => m.i32.shl(a, b),
      shr_s: (a: Expr, b: Expr) => m.i32.shr_s(a, b),
      shr_u: (a: Expr, b: Expr) => m.i32.shr_u(a, b),
      eq: (a: Expr, b: Expr) => m.i32.eq(a, b),
      ne: (a: Expr, b: Expr) => m.i32.ne(a, b),
      eqz: (a: Expr) => m.i32.eqz(a),
      lt_s: (a: Expr, b: Expr) => m.i32.lt_s(a, b),
      le_s: (a: Expr, b: Expr) => m.i32.le_s(a, b),
      gt_s: (a: Expr, b: Expr) => m.i32.gt_s(a, b),
      ge_s: (a: Expr, b: Expr) => m.i32.ge_s(a, b),
      lt_u: (a: Expr, b: Expr) => m.i32.lt_u(a, b),
      gt_u: (a: Expr, b: Expr) => m.i32.gt_u(a, b),
      ge_u: (a: Expr, b: Expr) => m.i32.ge_u(a, b),
      /** min/max of signed values via select (inputs are evaluated once each). */
      min_s: (a: Local, b: Local) => m.select(m.i32.lt_s(a.get(), b.get()), a.get(), b.get()),
      max_s: (a: Local, b: Local) => m.select(m.i32.gt_s(a.get(), b.get()), a.get(), b.get()),
      reinterpret_f32: (a: Expr) => m.i32.reinterpret(a),
      trunc_sat_f32_s: (a: Expr) => m.i32.trunc_s_sat.f32(a),
      trunc_sat_f64_s: (a: Expr) => m.i32.trunc_s_sat.f64(a),
      wrap_i64: (a: Expr) => m.i32.wrap(a),
    };
  }

  /** The few i64 operations scalar f64 code needs (bit patterns: exp's 2^k). */
  get i64() {
    const m = this.raw;
    return {
      const: (v: number) => m.i64.const(BigInt(v)),
      shl: (a: Expr, b: Expr) => m.i64.shl(a, b),
      shr_u: (a: Expr, b: Expr) => m.i64.shr_u(a, b),
      extend_u_i32: (a: Expr) => m.i64.extend_u(a),
      reinterpret_f64: (a: Expr) => m.i64.reinterpret(a),
    };
  }

  get f32() {
    const m = this.raw;
    return {
      const: (v: number) => m.f32.const(v),
      load: (ptr: Expr, offset = 0) => m.f32.load(offset, 4, ptr),
      store: (ptr: Expr, value: Expr, offset = 0) => m.f32.store(offset, 4, ptr, value),
      add: (a: Expr, b: Expr) => m.f32.add(a, b),
      sub: (a: Expr, b: Expr) => m.f32.sub(a, b),
      mul: (a: Expr, b: Expr) => m.f32.mul(a, b),
      div: (a: Expr, b: Expr) => m.f32.div(a, b),
      min: (a: Expr, b: Expr) => m.f32.min(a, b),
      max: (a: Expr, b: Expr) => m.f32.max(a, b),
      neg: (a: Expr) => m.f32.neg(a),
      abs: (a: Expr) => m.f32.abs(a),
      sqrt: (a: Expr) => m.f32.sqrt(a),
      /** Round to the nearest integer, ties to even. */
      nearest: (a: Expr) => m.f32.nearest(a),
      gt: (a: Expr, b: Expr) => m.f32.gt(a, b),
      lt: (a: Expr, b: Expr) => m.f32.lt(a, b),
      ge: (a: Expr, b: Expr) => m.f32.ge(a, b),
      ne: (a: Expr, b: Expr) => m.f32.ne(a, b),
      demote: (a: Expr) => m.f32.demote(a),
      convert_i32_s: (a: Expr) => m.f32.convert_s.i32(a),
      reinterpret_i32: (a: Expr) => m.f32.reinterpret(a),
    };
  }

  get f64() {
    const m = this.raw;
    return {
      const: (v: number) => m.f64.const(v),
      load: (ptr: Expr, offset = 0) => m.f64.load(offset, 8, ptr),
      store: (ptr: Expr, value: Expr, offset = 0) => m.f64.store(offset, 8, ptr, value),
      add: (a: Expr, b: Expr) => m.f64.add(a, b),
      sub: (a: Expr, b: Expr) => m.f64.sub(a, b),
      mul: (a: Expr, b: Expr) => m.f64.mul(a, b),
      div: (a: Expr, b: Expr) => m.f64.div(a, b),
      sqrt: (a: Expr) => m.f64.sqrt(a),
      neg: (a: Expr) => m.f64.neg(a),
      abs: (a: Expr) => m.f64.abs(a),
      /** min/max as WASM defines them: NaN if either is NaN, −0 < +0 (as Math.min/max). */
      min: (a: Expr, b: Expr) => m.f64.min(a, b),
      max: (a: Expr, b: Expr) => m.f64.max(a, b),
      eq: (a: Expr, b: Expr) => m.f64.eq(a, b),
      ne: (a: Expr, b: Expr) => m.f64.ne(a, b),
      lt: (a: Expr, b: Expr) => m.f64.lt(a, b),
      gt: (a: Expr, b: Expr) => m.f64.gt(a, b),
      le: (a: Expr, b: Expr) => m.f64.le(a, b),
      ge: (a: Expr, b: Expr) => m.f64.ge(a, b),
      promote: (a: Expr) => m.f64.promote(a),
      convert_i32_s: (a: Expr) => m.f64.convert_s.i32(a),
      reinterpret_i64: (a: Expr) => m.f64.reinterpret(a),
    };
  }

  // ---- SIMD -----------------------------------------------------------------------------

  get v128() {
    const m = this.raw;
    return {
      load: (ptr: Expr, offset = 0) => m.v128.load(offset, 4, ptr),
      store: (ptr: Expr, value: Expr, offset = 0) => m.v128.store(offset, 4, ptr, value),
      /** Loads one f32 and splats it to all four lanes. */
      load32Splat: (ptr: Expr, offset = 0) => m.v128.load32_splat(offset, 4, ptr),
      /** Loads two f32 and splats the pair to both halves. */
      load64Splat: (ptr: Expr, offset = 0) => m.v128.load64_splat(offset, 4, ptr),
      /** Loads one f32 into lane 0, the other lanes zero. */
      load32Zero: (ptr: Expr, offset = 0) => m.v128.load32_zero(offset, 4, ptr),
      /** Loads two f32 into lanes 0-1, the other lanes zero. */
      load64Zero: (ptr: Expr, offset = 0) => m.v128.load64_zero(offset, 4, ptr),
      load32Lane: (ptr: Expr, vec: Expr, lane: number, offset = 0) => m.v128.load32_lane(offset, 4, lane, ptr, vec),
      load64Lane: (ptr: Expr, vec: Expr, lane: number, offset = 0) => m.v128.load64_lane(offset, 4, lane, ptr, vec),
      store32Lane: (ptr: Expr, vec: Expr, lane: number, offset = 0) => m.v128.store32_lane(offset, 4, lane, ptr, vec),
      store64Lane: (ptr: Expr, vec: Expr, lane: number, offset = 0) => m.v128.store64_lane(offset, 4, lane, ptr, vec),
      const: (bytes: readonly number[]) => m.v128.const(bytes),
      zero: () => m.v128.const(new Array<number>(16).fill(0)),
      and: (a: Expr, b: Expr) => m.v128.and(a, b),
      or: (a: Expr, b: Expr) => m.v128.or(a, b),
      xor: (a: Expr, b: Expr) => m.v128.xor(a, b),
      andnot: (a: Expr, b: Expr) => m.v128.andnot(a, b),
      /** Bits of `a` where `mask` is 1, of `b` where it is 0. */
      bitselect: (a: Expr, b: Expr, mask: Expr) => m.v128.bitselect(a, b, mask),
      /** Picks four f32 lanes from (a lanes 0-3, b lanes 4-7). */
      shuffle32: (a: Expr, b: Expr, lanes: readonly number[]) => m.i8x16.shuffle(a, b, laneMask(lanes)),
    };
  }

  get f32x4() {
    const m = this.raw;
    return {
      splat: (v: Expr) => m.f32x4.splat(v),
      /** A v128 constant with `v` in every lane. */
      const: (v: number) => f32Lanes(m, [v, v, v, v]),
      /** A v128 constant with the four given lanes. */
      lanes: (vals: readonly number[]) => f32Lanes(m, vals),
      extractLane: (v: Expr, lane: number) => m.f32x4.extract_lane(v, lane),
      replaceLane: (v: Expr, lane: number, x: Expr) => m.f32x4.replace_lane(v, lane, x),
      add: (a: Expr, b: Expr) => m.f32x4.add(a, b),
      sub: (a: Expr, b: Expr) => m.f32x4.sub(a, b),
      mul: (a: Expr, b: Expr) => m.f32x4.mul(a, b),
      div: (a: Expr, b: Expr) => m.f32x4.div(a, b),
      min: (a: Expr, b: Expr) => m.f32x4.min(a, b),
      max: (a: Expr, b: Expr) => m.f32x4.max(a, b),
      pmin: (a: Expr, b: Expr) => m.f32x4.pmin(a, b),
      pmax: (a: Expr, b: Expr) => m.f32x4.pmax(a, b),
      abs: (a: Expr) => m.f32x4.abs(a),
      neg: (a: Expr) => m.f32x4.neg(a),
      sqrt: (a: Expr) => m.f32x4.sqrt(a),
      nearest: (a: Expr) => m.f32x4.nearest(a),
      floor: (a: Expr) => m.f32x4.floor(a),
      eq: (a: Expr, b: Expr) => m.f32x4.eq(a, b),
      lt: (a: Expr, b: Expr) => m.f32x4.lt(a, b),
      le: (a: Expr, b: Expr) => m.f32x4.le(a, b),
      gt: (a: Expr, b: Expr) => m.f32x4.gt(a, b),
      ge: (a: Expr, b: Expr) => m.f32x4.ge(a, b),
      convert_i32x4_s: (a: Expr) => m.f32x4.convert_i32x4_s(a),
      /** a·b + c, rounded twice (plain SIMD128). */
      mulAdd: (a: Expr, b: Expr, c: Expr) => m.f32x4.add(m.f32x4.mul(a, b), c),
      /** a·b + c, fused or not at the engine's choice (relaxed SIMD; module built with relaxedSimd). */
      relaxedMadd: (a: Expr, b: Expr, c: Expr) => {
        if (!this.relaxedSimd) throw new Error("relaxedMadd in a module built without relaxed SIMD");
        return raw._BinaryenSIMDTernary(m.ptr, raw._BinaryenRelaxedMaddVecF32x4(), a, b, c);
      },
    };
  }

  get i32x4() {
    const m = this.raw;
    return {
      splat: (v: Expr) => m.i32x4.splat(v),
      const: (v: number) => m.i32x4.splat(m.i32.const(v | 0)),
      /** A v128 constant with the four given i32 lanes. */
      lanes: (vals: readonly number[]) => m.v128.const(Array.from(new Uint8Array(new Int32Array(vals).buffer))),
      extractLane: (v: Expr, lane: number) => m.i32x4.extract_lane(v, lane),
      replaceLane: (v: Expr, lane: number, x: Expr) => m.i32x4.replace_lane(v, lane, x),
      add: (a: Expr, b: Expr) => m.i32x4.add(a, b),
      sub: (a: Expr, b: Expr) => m.i32x4.sub(a, b),
      mul: (a: Expr, b: Expr) => m.i32x4.mul(a, b),
      shl: (a: Expr, bits: number) => m.i32x4.shl(a, m.i32.const(bits)),
      shr_u: (a: Expr, bits: number) => m.i32x4.shr_u(a, m.i32.const(bits)),
      eq: (a: Expr, b: Expr) => m.i32x4.eq(a, b),
      gt_s: (a: Expr, b: Expr) => m.i32x4.gt_s(a, b),
      trunc_sat_f32x4_s: (a: Expr) => m.i32x4.trunc_sat_f32x4_s(a),
      /** Pairwise products of i16 lanes summed into i32 lanes. */
      dot_i16x8_s: (a: Expr, b: Expr) => m.i32x4.dot_i16x8_s(a, b),
      extend_low_i16x8_s: (a: Expr) => m.i32x4.extend_low_i16x8_s(a),
      extend_high_i16x8_s: (a: Expr) => m.i32x4.extend_high_i16x8_s(a),
      extend_low_i16x8_u: (a: Expr) => m.i32x4.extend_low_i16x8_u(a),
      extend_high_i16x8_u: (a: Expr) => m.i32x4.extend_high_i16x8_u(a),
      extadd_pairwise_i16x8_s: (a: Expr) => m.i32x4.extadd_pairwise_i16x8_s(a),
      /**
       * c + the sums of four i8 products per lane, a signed and b in 0..127 (relaxed SIMD; the
       * result is the same on every engine only while every lane of b is below 128).
       */
      relaxedDotI8x16I7x16Add: (a: Expr, b: Expr, c: Expr) => {
        if (!this.relaxedSimd) throw new Error("relaxed dot in a module built without relaxed SIMD");
        return raw._BinaryenSIMDTernary(m.ptr, raw._BinaryenRelaxedDotI8x16I7x16AddSToVecI32x4(), a, b, c);
      },
    };
  }

  get i16x8() {
    const m = this.raw;
    return {
      splat: (v: Expr) => m.i16x8.splat(v),
      add: (a: Expr, b: Expr) => m.i16x8.add(a, b),
      mul: (a: Expr, b: Expr) => m.i16x8.mul(a, b),
      extend_low_i8x16_s: (a: Expr) => m.i16x8.extend_low_i8x16_s(a),
      extend_high_i8x16_s: (a: Expr) => m.i16x8.extend_high_i8x16_s(a),
      extend_low_i8x16_u: (a: Expr) => m.i16x8.extend_low_i8x16_u(a),
      extend_high_i8x16_u: (a: Expr) => m.i16x8.extend_high_i8x16_u(a),
      extadd_pairwise_i8x16_s: (a: Expr) => m.i16x8.extadd_pairwise_i8x16_s(a),
      shr_u: (a: Expr, bits: number) => m.i16x8.shr_u(a, m.i32.const(bits)),
      narrow_i32x4_s: (a: Expr, b: Expr) => m.i16x8.narrow_i32x4_s(a, b),
      /**
       * The sums of adjacent pairs of i8 products, a signed and b in 0..127, in i16 lanes (relaxed
       * SIMD; x86's pmaddubsw alone). Exact, the same on every engine, while b < 128 (|sum| ≤ 32258).
       */
      relaxedDotI8x16I7x16: (a: Expr, b: Expr) => {
        if (!this.relaxedSimd) throw new Error("relaxed dot in a module built without relaxed SIMD");
        return raw._BinaryenBinary(m.ptr, raw._BinaryenRelaxedDotI8x16I7x16SToVecI16x8(), a, b);
      },
    };
  }

  get i8x16() {
    const m = this.raw;
    return {
      splat: (v: Expr) => m.i8x16.splat(v),
      /** A v128 constant with `v` in every byte. */
      const: (v: number) => m.v128.const(new Array<number>(16).fill(v & 0xff)),
      /** A v128 constant with the sixteen given bytes. */
      lanes: (vals: readonly number[]) => m.v128.const(vals.map((v) => v & 0xff)),
      add: (a: Expr, b: Expr) => m.i8x16.add(a, b),
      sub: (a: Expr, b: Expr) => m.i8x16.sub(a, b),
      abs: (a: Expr) => m.i8x16.abs(a),
      min_u: (a: Expr, b: Expr) => m.i8x16.min_u(a, b),
      /** All ones in the lanes where a < b (signed): one instruction where a shift right by 7 is several on x86. */
      lt_s: (a: Expr, b: Expr) => m.i8x16.lt_s(a, b),
      shl: (a: Expr, bits: number) => m.i8x16.shl(a, m.i32.const(bits)),
      shr_s: (a: Expr, bits: number) => m.i8x16.shr_s(a, m.i32.const(bits)),
      shr_u: (a: Expr, bits: number) => m.i8x16.shr_u(a, m.i32.const(bits)),
      narrow_i16x8_s: (a: Expr, b: Expr) => m.i8x16.narrow_i16x8_s(a, b),
      /** Bytes of `table` picked by the bytes of `idx` (0 where an index is ≥ 16). */
      swizzle: (table: Expr, idx: Expr) => m.i8x16.swizzle(table, idx),
      /** Bytes 0..31 of (a, b) picked by `lanes` (16 indices). */
      shuffle: (a: Expr, b: Expr, lanes: readonly number[]) => m.i8x16.shuffle(a, b, [...lanes]),
    };
  }

  get f64x2() {
    const m = this.raw;
    return {
      splat: (v: Expr) => m.f64x2.splat(v),
      extractLane: (v: Expr, lane: number) => m.f64x2.extract_lane(v, lane),
      add: (a: Expr, b: Expr) => m.f64x2.add(a, b),
      sub: (a: Expr, b: Expr) => m.f64x2.sub(a, b),
      mul: (a: Expr, b: Expr) => m.f64x2.mul(a, b),
      /** f32 lanes 0-1 widened to f64. */
      promoteLow: (a: Expr) => m.f64x2.promote_low_f32x4(a),
    };
  }

  get memory() {
    const m = this.raw;
    return {
      copy: (dest: Expr, src: Expr, bytes: Expr) => m.memory.copy(this.asPtr(dest), this.asPtr(src), this.asPtr(bytes), "mem", "mem"),
      fill: (dest: Expr, byte: Expr, bytes: Expr) => m.memory.fill(this.asPtr(dest), byte, this.asPtr(bytes), "mem"),
    };
  }

  // ---- output ---------------------------------------------------------------------------

  validate(): boolean {
    return this.raw.validate() === 1;
  }
  /** Runs binaryen's default pipeline at the given optimize and shrink levels. */
  optimize(optimizeLevel = 3, shrinkLevel = 0): void {
    const prevO = binaryen.getOptimizeLevel();
    const prevS = binaryen.getShrinkLevel();
    binaryen.setOptimizeLevel(optimizeLevel);
    binaryen.setShrinkLevel(shrinkLevel);
    try {
      this.raw.optimize();
    } finally {
      binaryen.setOptimizeLevel(prevO);
      binaryen.setShrinkLevel(prevS);
    }
  }
  emitBinary(): Uint8Array {
    return this.raw.emitBinary();
  }
  emitText(): string {
    return this.raw.emitText();
  }
  dispose(): void {
    this.raw.dispose();
  }
}

/** The WASM value type of a catalogue parameter: pointers are `ptr` (i32 or i64 by build). */
export function wasmType(role: ParamRole): ValType {
  if (role === "f32" || role === "f64") return role;
  if (role === "i32" || role === "bool" || role.startsWith("enum ")) return "i32";
  return "ptr";
}
