// Typed, strict access to a Hugging Face config.json. Every problem is an ImportError whose
// message names the file and the key, so `moec import` never guesses and never drops a
// setting silently.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class ImportError extends Error {
  override name = "ImportError";
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/**
 * One config object (the top level, or a nested dict such as `rope_parameters`). `path` is
 * the prefix used in messages ("" at the top level, "rope_parameters." inside it).
 */
export class ConfigReader {
  constructor(
    readonly source: string,
    readonly family: string,
    readonly obj: JsonObject,
    readonly path = "",
  ) {}

  /** An error about one key: `<file>: "<key>" ...`. */
  fail(key: string, problem: string): never {
    throw new ImportError(`${this.source}: "${this.path}${key}" ${problem}`);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key);
  }

  /** Present and not null. */
  given(key: string): boolean {
    return this.has(key) && this.obj[key] !== null;
  }

  raw(key: string): Json | undefined {
    return this.has(key) ? this.obj[key] : undefined;
  }

  private need(key: string, dflt: Json | undefined): Json {
    const v = this.given(key) ? this.obj[key]! : dflt;
    if (v === undefined || v === null) this.fail(key, `is required for model_type "${this.family}" but is ${this.has(key) ? "null" : "missing"}`);
    return v;
  }

  int(key: string, dflt?: number): number {
    const v = this.need(key, dflt);
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this.fail(key, `must be an integer, got ${show(v)}`);
    return v;
  }

  positiveInt(key: string, dflt?: number): number {
    const v = this.int(key, dflt);
    if (v <= 0) this.fail(key, `must be positive, got ${v}`);
    return v;
  }

  /** An int, or null when the key is absent or null (and there is no default). */
  optInt(key: string, dflt: number | null = null): number | null {
    if (!this.given(key)) return dflt;
    return this.int(key);
  }

  num(key: string, dflt?: number): number {
    const v = this.need(key, dflt);
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, `must be a number, got ${show(v)}`);
    return v;
  }

  optNum(key: string, dflt: number | null = null): number | null {
    if (!this.given(key)) return dflt;
    return this.num(key);
  }

  bool(key: string, dflt?: boolean): boolean {
    const v = this.need(key, dflt);
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  str(key: string, dflt?: string): string {
    const v = this.need(key, dflt);
    if (typeof v !== "string") this.fail(key, `must be a string, got ${show(v)}`);
    return v;
  }

  /** A string that must be one of `allowed`; the message lists what is supported. */
  oneOf<T extends string>(key: string, allowed: readonly T[], dflt?: T, why = ""): T {
    const v = this.str(key, dflt);
    if (!(allowed as readonly string[]).includes(v)) {
      this.fail(key, `is ${show(v)}, which moec import does not support for model_type "${this.family}" (supported: ${allowed.map((a) => `"${a}"`).join(", ")})${why ? `; ${why}` : ""}`);
    }
    return v as T;
  }

  intList(key: string, dflt?: number[]): number[] {
    const v = this.need(key, dflt ?? null);
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isSafeInteger(x))) this.fail(key, `must be a list of integers, got ${show(v)}`);
    return v as number[];
  }

  numList(key: string): number[] {
    const v = this.need(key, undefined);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) this.fail(key, `must be a non-empty list of numbers, got ${show(v)}`);
    return v as number[];
  }

  strList(key: string): string[] {
    const v = this.need(key, undefined);
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) this.fail(key, `must be a list of strings, got ${show(v)}`);
    return v as string[];
  }

  /** A nested object (for example `rope_parameters`), or null when absent or null. */
  object(key: string): ConfigReader | null {
    if (!this.given(key)) return null;
    const v = this.obj[key];
    if (!isObject(v)) this.fail(key, `must be an object, got ${show(v)}`);
    return new ConfigReader(this.source, this.family, v, `${this.path}${key}.`);
  }

  /**
   * A value that has two spellings (`num_experts` / `num_local_experts`): returns the name of
   * the one given, and fails when both are given with different values.
   */
  alias(keys: readonly string[]): string | null {
    const present = keys.filter((k) => this.given(k));
    if (present.length === 0) return null;
    for (const k of present.slice(1)) {
      if (JSON.stringify(this.obj[k]) !== JSON.stringify(this.obj[present[0]!])) {
        this.fail(k, `is ${show(this.obj[k])} but "${this.path}${present[0]}", another name for the same setting, is ${show(this.obj[present[0]!])}`);
      }
    }
    return present[0]!;
  }

  /** Fails on every key that is neither understood nor known to be irrelevant to inference. */
  rejectUnknown(known: ReadonlySet<string>, what: string): void {
    const unknown = Object.keys(this.obj).filter((k) => !known.has(k));
    if (unknown.length === 0) return;
    const list = unknown.map((k) => `"${this.path}${k}"`).join(", ");
    throw new ImportError(
      `${this.source}: unknown ${unknown.length === 1 ? "key" : "keys"} ${list} for ${what}. ` +
        `moec import does not know how ${unknown.length === 1 ? "it affects" : "they affect"} the model, so it will not guess; ` +
        `remove ${unknown.length === 1 ? "it" : "them"} if ${unknown.length === 1 ? "it does" : "they do"} not change inference, or report the config.`,
    );
  }
}
