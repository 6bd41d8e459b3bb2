// Robustness fuzzing: no input may crash, hang or confuse the compiler. Every input goes
// through checkSource and must come back normally, quickly, with well-formed diagnostics
// (a catalogue code, a message, a span or null), never an internal error (MOE5001/MOE5002),
// and, whenever a graph comes back, a graph that verifies, prints and runs the pipeline.
//
// Generators: (a) random unicode / binary strings, (b) token soups of the language's
// vocabulary, (c) mutations of the real examples/*.moe, (d) grammar-directed programs that
// look valid. Inputs are checked on a worker thread that is terminated when an input hangs,
// so a hang fails its property instead of stalling the suite. Fixed pathological inputs
// (10 MB files, deep nesting, huge loops, ...) run in a child process with a time limit.
// A failing input is also written to $TMPDIR/moec-fuzz-<seed>-<generator>.moe.
//
// Reproduce a run: MOEC_FUZZ_SEED=<seed printed below> npx vitest run test/fuzz
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { allCodes, type Diagnostic } from "../../compiler/index.js";
import { MAX_SYNTAX_ERRORS } from "../../compiler/syntax/parse.js";

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLES_DIR = join(ROOT, "examples");

// ---- seed and bookkeeping --------------------------------------------------------------

const envSeed = process.env["MOEC_FUZZ_SEED"];
const SEED = envSeed !== undefined && envSeed.trim() !== "" && Number.isFinite(Number(envSeed)) ? Number(envSeed) | 0 : (Math.random() * 0x7fffffff) | 0;
console.log(`fuzz seed: ${SEED} (replay with MOEC_FUZZ_SEED=${SEED})`);

interface Tally {
  tried: number;
  crashes: number;
  failures: number;
}
const tallies = new Map<string, Tally>();
function tally(name: string): Tally {
  let t = tallies.get(name);
  if (!t) tallies.set(name, (t = { tried: 0, crashes: 0, failures: 0 }));
  return t;
}
let compiledOk = 0;
let grammarTried = 0;

afterAll(() => {
  let tried = 0;
  let crashes = 0;
  let failures = 0;
  const rows: string[] = [];
  for (const [name, t] of tallies) {
    tried += t.tried;
    crashes += t.crashes;
    failures += t.failures;
    rows.push(`  ${name.padEnd(34)} ${String(t.tried).padStart(6)} tried  ${t.crashes} crashes  ${t.failures} other failures`);
  }
  console.log(
    [
      `fuzz: ${tried} inputs tried, ${crashes} crashes, ${failures} other failures (seed ${SEED})`,
      "  (crashes: checkSource threw, reported MOE5001/MOE5002, or its process died; other failures: a broken invariant, a time limit, a graph that does not verify)",
      ...rows,
      `  grammar-directed programs that compiled without errors: ${compiledOk} of ${grammarTried}`,
    ].join("\n"),
  );
});

/** Per-property seeds derived from the printed seed and the property's name, so each replays alone too (-t). */
function seedFor(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193);
  return (SEED ^ h) | 0;
}
const runs = (name: string, numRuns: number) => ({ seed: seedFor(name), numRuns });

// ---- the invariants every result must satisfy --------------------------------------------

const CODES = new Set<string>(allCodes());
const INTERNAL = new Set(["MOE5001", "MOE5002"]);
/**
 * Bound for checkSource on one fuzz input. Generous: elaborating up to the node budget
 * (MAX_NODES) legitimately takes a few seconds, but nothing a fuzzer writes should take longer.
 */
const SMALL_INPUT_MS = 6000;
/** After this long without an answer the input is a hang: the checking thread is terminated. */
const HANG_MS = 10_000;

/** What the checking thread reports for one input (see CHECKER below). */
interface Report {
  readonly threw: string | null;
  /** Time spent in checkSource alone. */
  readonly ms: number;
  readonly diagnostics: readonly Diagnostic[];
  readonly formatError: string | null;
  /** Null when checkSource returned no graph. */
  readonly graph: null | {
    readonly name: string;
    readonly verify: readonly string[] | { readonly threw: string };
    readonly printed: string | { readonly threw: string };
    readonly pipeline: readonly string[] | { readonly threw: string };
    readonly stats: { readonly totalParams: number; readonly activeParams: number } | null;
  };
}

function spanProblems(d: Diagnostic, textLength: number): string[] {
  const s = d.span;
  if (s === null) return [];
  if (typeof s !== "object") return [`${d.code}: span is ${typeof s}, not an object or null`];
  const p: string[] = [];
  for (const k of ["start", "end", "line", "column"] as const) {
    if (!Number.isSafeInteger(s[k])) p.push(`${d.code}: span.${k} is ${String(s[k])}`);
  }
  if (typeof s.file !== "string") p.push(`${d.code}: span.file is ${typeof s.file}`);
  if (p.length > 0) return p;
  if (s.line < 1 || s.column < 1) p.push(`${d.code}: span line/column ${s.line}:${s.column} is not 1-based`);
  if (s.start < 0 || s.end < s.start) p.push(`${d.code}: span ${s.start}..${s.end} is not a range`);
  if (s.start > textLength) p.push(`${d.code}: span starts at ${s.start}, past the end of the text (${textLength})`);
  return p;
}

function threw<T>(x: T | { readonly threw: string }): x is { readonly threw: string } {
  return typeof x === "object" && x !== null && "threw" in x;
}

/** Everything wrong with one report; empty when the result is fine. */
function problemsOf(text: string, r: Report): string[] {
  const p: string[] = [];
  if (r.threw !== null) return [`checkSource threw: ${r.threw}`];
  if (!Array.isArray(r.diagnostics)) return [`diagnostics is ${typeof r.diagnostics}, not an array`];
  for (const d of r.diagnostics) {
    if (!CODES.has(d.code)) p.push(`diagnostic code ${String(d.code)} is not in allCodes()`);
    if (INTERNAL.has(d.code)) p.push(`internal compiler error ${d.code}: ${d.message}`);
    if (d.severity !== "error" && d.severity !== "warning") p.push(`${d.code}: severity ${String(d.severity)}`);
    if (typeof d.message !== "string" || d.message.trim() === "") p.push(`${d.code}: empty message`);
    else {
      if (d.message.includes("[object Object]")) p.push(`${d.code}: message prints an object: ${d.message}`);
      if (/\bundefined\b/.test(d.message) && !text.includes("undefined")) p.push(`${d.code}: message says 'undefined': ${d.message}`);
    }
    if (d.hint !== null && typeof d.hint !== "string") p.push(`${d.code}: hint is ${typeof d.hint}`);
    p.push(...spanProblems(d, text.length));
  }
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  if (r.graph !== null && errors > 0) p.push(`a graph came back together with ${errors} errors`);
  if (r.graph === null && errors === 0) p.push("no graph came back, but there is no error diagnostic saying why");
  // The CLI formats every diagnostic with its source line; that must not throw either.
  if (r.formatError !== null) p.push(`formatDiagnostics threw: ${r.formatError}`);
  const g = r.graph;
  if (g !== null) {
    // A graph the checker accepted must verify, print, survive the pipeline, and have sane stats.
    if (threw(g.verify)) p.push(`verifyGraph threw: ${g.verify.threw}`);
    else if (g.verify.length > 0) p.push(`checked graph fails verifyGraph: ${g.verify.slice(0, 5).join(" | ")}`);
    if (threw(g.printed)) p.push(`printGraph threw: ${g.printed.threw}`);
    else if (!g.printed.startsWith(`graph ${g.name} {`)) p.push(`printGraph returned ${JSON.stringify(g.printed.slice(0, 80))}`);
    if (threw(g.pipeline)) p.push(`runPipeline/modelStats threw: ${g.pipeline.threw}`);
    else if (g.pipeline.length > 0) p.push(`pipeline verification failed: ${g.pipeline.slice(0, 3).join(" | ")}`);
    for (const k of ["totalParams", "activeParams"] as const) {
      const v = g.stats?.[k];
      if (g.stats !== null && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) p.push(`modelStats ${k} is ${v}`);
    }
  }
  if (r.ms > SMALL_INPUT_MS) p.push(`checkSource took ${r.ms.toFixed(0)} ms (limit ${SMALL_INPUT_MS} ms) on a ${text.length}-char input`);
  return p;
}

/**
 * Resolves `./x.js` imports of the TypeScript sources to `./x.ts` and compiles them with
 * node's own TypeScript support, so a plain node thread or process can run the sources.
 */
const TS_HOOKS = `
const { registerHooks, stripTypeScriptTypes } = await import("node:module");
const { readFileSync, existsSync } = await import("node:fs");
const { fileURLToPath } = await import("node:url");
process.emitWarning = () => {};
registerHooks({
  resolve(spec, ctx, next) {
    if ((spec.startsWith("./") || spec.startsWith("../")) && spec.endsWith(".js") && ctx.parentURL && ctx.parentURL.endsWith(".ts")) {
      const ts = new URL(spec.slice(0, -3) + ".ts", ctx.parentURL);
      if (existsSync(fileURLToPath(ts))) return next(ts.href, ctx);
    }
    return next(spec, ctx);
  },
  load(url, ctx, next) {
    if (url.startsWith("file:") && url.endsWith(".ts")) {
      const source = stripTypeScriptTypes(readFileSync(fileURLToPath(url), "utf8"), { mode: "transform" });
      return { format: "module", source, shortCircuit: true };
    }
    return next(url, ctx);
  },
});
`;

/** The checking thread: runs checkSource and everything the CLI does with its result, for each message. */
const CHECKER = `${TS_HOOKS}
const { workerData, parentPort } = await import("node:worker_threads");
const flag = new Int32Array(workerData.sab);
const port = workerData.port;
const done = (msg) => {
  try { port.postMessage(msg); } catch (e) { port.postMessage({ threw: "the result could not be sent back: " + String(e), ms: 0, diagnostics: [], formatError: null, graph: null }); }
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};
const err = (e) => String((e && e.stack) || e).split("\\n").slice(0, 8).join("\\n");
let lib;
try { lib = await import(workerData.entry); } catch (e) { done({ startError: err(e) }); }
if (lib) {
  parentPort.on("message", ({ file, text }) => {
    const out = { threw: null, ms: 0, diagnostics: [], formatError: null, graph: null };
    try {
      const t0 = performance.now();
      let r = null;
      try { r = lib.checkSource(file, text); } catch (e) { out.threw = err(e); }
      out.ms = performance.now() - t0;
      if (r) {
        out.diagnostics = r.diagnostics;
        try {
          const s = lib.formatDiagnostics(r.diagnostics, { sources: new Map([[file, text]]), color: false });
          if (typeof s !== "string") out.formatError = "returned " + typeof s;
        } catch (e) { out.formatError = err(e); }
        if (r.graph) {
          const g = { name: r.graph.name, verify: [], printed: "", pipeline: [], stats: null };
          try { g.verify = lib.verifyGraph(r.graph).map((d) => d.message); } catch (e) { g.verify = { threw: err(e) }; }
          try { const s = lib.printGraph(r.graph); g.printed = typeof s === "string" ? s.slice(0, 300) : { threw: "returned " + typeof s }; } catch (e) { g.printed = { threw: err(e) }; }
          try {
            const piped = lib.runPipeline(r.graph, { verify: true });
            g.pipeline = piped.diagnostics.map((d) => d.message);
            const s = lib.modelStats(piped.graph);
            g.stats = { totalParams: s.totalParams, activeParams: s.activeParams };
          } catch (e) { g.pipeline = { threw: err(e) }; }
          out.graph = g;
        }
      }
    } catch (e) { out.threw = "the checking harness failed: " + err(e); }
    done(out);
  });
  done({ ready: true });
}
`;

/**
 * Checks inputs on a worker thread and waits for each answer synchronously, so fast-check's
 * properties stay synchronous and an input that never finishes is caught: after HANG_MS the
 * thread is terminated (a fresh one starts for the next input) and the input is a failure.
 */
class Checker {
  private worker: Worker | null = null;
  private flag = new Int32Array(new SharedArrayBuffer(4));
  private port: MessagePort | null = null;

  private start(): void {
    const { port1, port2 } = new MessageChannel();
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    this.port = port1;
    this.worker = new Worker(CHECKER, {
      eval: true,
      workerData: { entry: pathToFileURL(join(ROOT, "compiler/index.ts")).href, sab: this.flag.buffer, port: port2 },
      transferList: [port2],
      // About the main thread's stack, so deep-recursion behaviour matches the CLI's.
      resourceLimits: { stackSizeMb: 1.2 },
    });
    this.worker.unref();
    if (Atomics.wait(this.flag, 0, 0, 60_000) === "timed-out") throw new Error("the checking thread did not start within 60 s");
    const hello = receiveMessageOnPort(port1)?.message as { ready?: boolean; startError?: string } | undefined;
    if (!hello?.ready) throw new Error(`the checking thread could not load the compiler: ${hello?.startError ?? "no answer"}`);
  }

  /** The report for `text`, or "hang" when no answer came within `limitMs`. */
  check(file: string, text: string, limitMs = HANG_MS): Report | "hang" {
    if (this.worker === null) this.start();
    Atomics.store(this.flag, 0, 0);
    this.worker!.postMessage({ file, text });
    if (Atomics.wait(this.flag, 0, 0, limitMs) === "timed-out") {
      void this.worker!.terminate();
      this.worker = null;
      return "hang";
    }
    return receiveMessageOnPort(this.port!)!.message as Report;
  }

  stop(): void {
    void this.worker?.terminate();
    this.worker = null;
  }
}

const checker = new Checker();
afterAll(() => checker.stop());

function preview(text: string, max = 1500): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length} chars)`;
}

/** Writes a failing input where a person can run `moec check` on it; returns the path. */
function saveFailure(generator: string, text: string): string {
  const path = join(tmpdir(), `moec-fuzz-${SEED}-${generator.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "")}.moe`);
  try {
    writeFileSync(path, text);
    return path;
  } catch {
    return "(could not be saved)";
  }
}

/**
 * Generators whose property already met a hang. Shrinking a hang would cost HANG_MS per try,
 * so later inputs of that generator pass untested and fast-check reports the first hang as is.
 */
const hung = new Set<string>();

/** Checks one input and throws (failing the property) on any broken invariant. */
function fuzzOne(generator: string, text: string): Report {
  const t = tally(generator);
  const empty: Report = { threw: null, ms: 0, diagnostics: [], formatError: null, graph: null };
  if (hung.has(generator)) return empty;
  t.tried++;
  const r = checker.check("fuzz.moe", text);
  if (r === "hang") {
    hung.add(generator);
    t.failures++;
    throw new Error(`checkSource did not finish within ${HANG_MS} ms (a hang); the checking thread was terminated\ninput (saved to ${saveFailure(generator, text)}): ${preview(text)}`);
  }
  const p = problemsOf(text, r);
  if (p.length > 0) {
    // checkSource throwing, or an internal compiler error it caught, is a crash.
    if (r.threw !== null || r.diagnostics.some((d) => INTERNAL.has(d.code))) t.crashes++;
    else t.failures++;
    throw new Error(`${p.join("\n")}\ninput (saved to ${saveFailure(generator, text)}): ${preview(text)}`);
  }
  return r;
}

// ---- the language's vocabulary -----------------------------------------------------------

const KEYWORDS = ["model", "const", "block", "expert", "input", "output", "return", "if", "then", "else", "for", "in", "of", "and", "or", "not", "true", "false", "none"];
const OPS = [
  "linear", "embed", "rmsnorm", "layernorm", "attention", "mla", "moe", "topk", "expert_choice", "sigmoid_gate", "rope", "silu", "gelu", "relu",
  "sigmoid", "tanh", "swiglu", "zero", "identity", "yarn", "llama3", "linear_scaling", "dynamic_scaling", "longrope", "floor", "ceil", "min", "max", "sqrt", "log",
];
const PUNCT = ["(", ")", "[", "]", "{", "}", ",", ":", "=", "@", "..", "->", "+", "-", "*", "/", "%", "**", "==", "!=", "<", ">", "<=", ">=", ".", "!"];
const NAMES = ["x", "h", "d", "T", "seq", "tokens", "vocab", "heads", "eps", "ffn", "E", "B", "M", "SwiGLU", "Decoder", "i", "e", "f32", "i32", "bf16", "int", "float", "bool", "string", "k", "scoring", "renormalize", "experts", "router", "shared", "theta", "dim", "bias", "out", "groups"];
const NUMBERS = ["0", "1", "2", "7", "8", "64", "4096", "0.5", "1e-5", "1e6", "2.0", "1e400", "00", "007", "1.5e-3", "9007199254740991", "9007199254740993", "99999999999999999999", "123456789012345678901234567890"];
const STRINGS = ['"w1"', '"experts.{e}"', '"layers.{i}"', '"{"', '"}"', '"{}"', '"{e}{e}"', '"{ i }"', '"a\\"b"', '""', '"softmax"', '"sigmoid"', '"halves"', '"abc', '"\\', '"\\n\\t"'];
const COMMENTS = ["// note\n", "/* c */", "/* unterminated", "*/", "//", "/**/"];
const SEPARATORS = [" ", " ", " ", "\n", "", "\t", "\r\n", "  "];
const SPECIAL_CHARS = ["\u0000", "\r", "\n", "\t", "\u000b", "\u000c", "\u001b", "\u007f", "\u0085", "\u00a0", "\u2028", "\u2029", "\ufeff", "\ud800", "\udfff", "\u0301", "é", "😀", "\u200b", "\ufffd", '"', "\\", "{", "}", "/*", "*/", "//", "@", ".."];

const identifier = fc.oneof(
  { arbitrary: fc.constantFrom(...NAMES), weight: 3 },
  { arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/), weight: 1 },
);
const vocabToken = fc.oneof(
  { arbitrary: fc.constantFrom(...KEYWORDS), weight: 4 },
  { arbitrary: fc.constantFrom(...OPS), weight: 3 },
  { arbitrary: fc.constantFrom(...PUNCT), weight: 6 },
  { arbitrary: fc.oneof(fc.constantFrom(...NUMBERS), fc.nat().map(String)), weight: 2 },
  { arbitrary: fc.constantFrom(...STRINGS), weight: 1 },
  { arbitrary: identifier, weight: 3 },
  { arbitrary: fc.constantFrom(...COMMENTS), weight: 1 },
);
const tokenSoup = (maxLength: number) =>
  fc.array(fc.tuple(vocabToken, fc.constantFrom(...SEPARATORS)), { maxLength }).map((ts) => ts.map(([t, s]) => t + s).join(""));

/** Puts text where the checker gets to see it: inside a model that already has an input and a tensor. */
const inModel = (body: string) => `model M {\n  const d = 8\n  input tokens: i32[seq]\n  h = embed(tokens, 10, d)\n${body}\n  output o = linear(h, 10)\n}\n`;

// ---- (a) random strings ------------------------------------------------------------------

describe("fuzz (a): random strings", () => {
  it("graphemes of any script", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (s) => void fuzzOne("a: grapheme strings", s)), runs("a: grapheme strings", 400));
  });

  it("binary code points, NUL and control characters", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => void fuzzOne("a: binary strings", s)), runs("a: binary strings", 400));
  });

  it("control characters, surrogates and the language's own delimiters", () => {
    const unit = fc.oneof(fc.constantFrom(...SPECIAL_CHARS), fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), fc.constantFrom(...PUNCT, ...KEYWORDS));
    fc.assert(fc.property(fc.string({ unit, maxLength: 200 }), (s) => void fuzzOne("a: control/delimiter strings", s)), runs("a: control/delimiter strings", 400));
  });

  it("random strings inside a model body", () => {
    const arb = fc.oneof(fc.string({ unit: "binary", maxLength: 120 }), fc.string({ unit: "grapheme", maxLength: 120 }));
    fc.assert(fc.property(arb, (s) => void fuzzOne("a: strings in a model", inModel(s))), runs("a: strings in a model", 300));
  });
});

// ---- (b) token soups ---------------------------------------------------------------------

describe("fuzz (b): token soups of the language's vocabulary", () => {
  it("bare soups", () => {
    fc.assert(fc.property(tokenSoup(200), (s) => void fuzzOne("b: token soup", s)), runs("b: token soup", 500));
  });

  it("soups after a model header", () => {
    fc.assert(fc.property(identifier, tokenSoup(150), (name, s) => void fuzzOne("b: soup in 'model X {'", `model ${name} {\n${s}`)), runs("b: soup in 'model X {'", 400));
  });

  it("soups inside a model that has an input and a tensor (reaches the checker)", () => {
    fc.assert(fc.property(tokenSoup(60), (s) => void fuzzOne("b: soup in a model body", inModel(s))), runs("b: soup in a model body", 700));
  });

  it("soups of statement-shaped lines", () => {
    const line = fc.tuple(identifier, tokenSoup(12)).map(([n, s]) => `  ${n} = ${s}`);
    fc.assert(fc.property(fc.array(line, { maxLength: 8 }), (ls) => void fuzzOne("b: statement-shaped soup", inModel(ls.join("\n")))), runs("b: statement-shaped soup", 400));
  });
});

// ---- (c) mutations of the real examples --------------------------------------------------

const examples = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith(".moe"))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(EXAMPLES_DIR, f), "utf8") }));

const TOKEN_RE = /\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|->|\.\.|==|!=|<=|>=|\*\*|\s+|[\s\S]/g;
const tokenize = (text: string): string[] => text.match(TOKEN_RE) ?? [];
const isSpace = (t: string) => /^\s+$/.test(t);

type Mutation =
  | { readonly kind: "delete"; readonly at: number; readonly len: number }
  | { readonly kind: "duplicate"; readonly at: number; readonly len: number }
  | { readonly kind: "swap"; readonly at: number; readonly other: number }
  | { readonly kind: "move"; readonly at: number; readonly len: number; readonly to: number }
  | { readonly kind: "replace"; readonly at: number; readonly with: string }
  | { readonly kind: "number"; readonly at: number; readonly with: string }
  | { readonly kind: "insertChars"; readonly at: number; readonly chars: string }
  | { readonly kind: "truncate"; readonly at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant("move" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 10 }), to: fc.nat() }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), with: vocabToken }),
  fc.record({ kind: fc.constant("number" as const), at: fc.nat(), with: fc.oneof(fc.constantFrom(...NUMBERS, "-1", "0 - 3", "3.5", "(1 / 0)"), fc.nat().map(String)) }),
  fc.record({ kind: fc.constant("insertChars" as const), at: fc.nat(), chars: fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 4 }), fc.constantFrom(...SPECIAL_CHARS)) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

/** Applies mutations in order; token positions index the non-whitespace tokens, modulo their count. */
function mutate(text: string, muts: readonly Mutation[]): string {
  let toks = tokenize(text);
  for (const m of muts) {
    const solid = toks.map((t, i) => (isSpace(t) ? -1 : i)).filter((i) => i >= 0);
    if (m.kind === "insertChars" || m.kind === "truncate") {
      const s = toks.join("");
      const at = s.length === 0 ? 0 : m.at % (s.length + 1);
      toks = tokenize(m.kind === "truncate" ? s.slice(0, at) : s.slice(0, at) + m.chars + s.slice(at));
      continue;
    }
    if (solid.length === 0) continue;
    const pick = (n: number) => solid[n % solid.length]!;
    switch (m.kind) {
      case "delete": {
        const i = pick(m.at);
        toks.splice(i, Math.min(m.len, toks.length - i));
        break;
      }
      case "duplicate": {
        const i = pick(m.at);
        toks.splice(i, 0, ...toks.slice(i, i + m.len));
        break;
      }
      case "swap": {
        const i = pick(m.at);
        const j = pick(m.other);
        [toks[i], toks[j]] = [toks[j]!, toks[i]!];
        break;
      }
      case "move": {
        const i = pick(m.at);
        const slice = toks.splice(i, m.len);
        const rest = toks.map((t, k) => (isSpace(t) ? -1 : k)).filter((k) => k >= 0);
        const to = rest.length === 0 ? 0 : rest[m.to % rest.length]!;
        toks.splice(to, 0, " ", ...slice, " ");
        break;
      }
      case "replace":
        toks[pick(m.at)] = m.with;
        break;
      case "number": {
        const nums = solid.filter((i) => /^\d/.test(toks[i]!));
        if (nums.length > 0) toks[nums[m.at % nums.length]!] = m.with;
        break;
      }
    }
  }
  return toks.join("");
}

describe("fuzz (c): mutations of the real examples", () => {
  it("finds the examples, and each one compiles cleanly before mutation", () => {
    expect(examples.length).toBeGreaterThan(0);
    for (const ex of examples) {
      const r = fuzzOne("c: unmutated examples", ex.text);
      expect(r.graph, `${ex.name}: ${r.diagnostics.map((d) => d.message).join("; ")}`).not.toBeNull();
    }
  });

  it("deleted, duplicated, swapped, moved and replaced tokens, inserted characters, truncation", () => {
    const arb = fc.record({ file: fc.nat(), muts: fc.array(mutationArb, { minLength: 1, maxLength: 6 }) });
    fc.assert(
      fc.property(arb, ({ file, muts }) => {
        const ex = examples[file % examples.length]!;
        void fuzzOne("c: mutated examples", mutate(ex.text, muts));
      }),
      runs("c: mutated examples", 900),
    );
  });

  it("single-token edits of the examples (small, often still valid, reaches deep into the checker)", () => {
    const arb = fc.record({ file: fc.nat(), mut: fc.oneof(mutationArb.filter((m) => m.kind === "replace" || m.kind === "number" || m.kind === "swap" || m.kind === "delete")) });
    fc.assert(
      fc.property(arb, ({ file, mut }) => {
        const ex = examples[file % examples.length]!;
        void fuzzOne("c: single-token example edits", mutate(ex.text, [mut]));
      }),
      runs("c: single-token example edits", 600),
    );
  });
});

// ---- (d) grammar-directed, valid-looking programs ----------------------------------------

const pick = <T,>(...xs: T[]) => fc.constantFrom(...xs);
const weightName = fc.option(pick("a", "b", "w", "proj", "mlp", "norm", "self_attn", "layers.{i}", "blk"), { nil: null, freq: 2 });
const at = (name: string | null) => (name === null ? "" : ` @ "${name}"`);

/** Compile-time arithmetic over the model's constants. */
const constExpr = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", maxDepth: 4, withCrossShrink: true },
    fc.oneof(fc.integer({ min: 0, max: 64 }).map(String), pick("d", "heads", "vocab", "2.0", "0.5", "1e-5", "1")),
    fc.tuple(tie("e"), pick("+", "-", "*", "/", "%", "**"), tie("e")).map(([a, o, b]) => `${a} ${o} ${b}`),
    tie("e").map((a) => `-${a}`),
    tie("e").map((a) => `(${a})`),
    fc.tuple(tie("e"), pick("<", ">", "==", "!=", "<=", ">="), tie("e"), tie("e"), tie("e")).map(([a, c, b, x, y]) => `(if ${a} ${c} ${b} then ${x} else ${y})`),
    fc.tuple(pick("min", "max"), tie("e"), tie("e")).map(([f, a, b]) => `${f}(${a}, ${b})`),
    fc.tuple(pick("floor", "ceil"), tie("e")).map(([f, a]) => `${f}(${a})`),
  ),
})).e;

const condExpr = fc.oneof(
  pick("true", "false", "not false", "d == 8", "heads < 4 and d > 2", "c0 > 3", "c1 <= c0 or true"),
  fc.tuple(pick("c0", "c1", "d"), pick("<", ">", "==", "!="), fc.integer({ min: 0, max: 16 })).map(([a, o, b]) => `${a} ${o} ${b}`),
);

const act = pick("silu", "relu", "gelu", "sigmoid", "tanh");
const ffnWidth = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 32 }).map(String), weight: 4 }, { arbitrary: pick("d", "2 * d", "c0", "ffn"), weight: 1 });

const ropeArg = fc.option(pick("rope()", "rope(theta = 1e6)", "rope(theta = 10000, dim = 2)", 'rope(style = "interleaved")', "rope(scaling = linear_scaling(factor = 2))", "rope(scaling = yarn(factor = 4, original_max = 4096))"), { nil: null });
const attentionCall = (x: fc.Arbitrary<string>) =>
  fc
    .record({
      x,
      heads: pick("heads", "1", "2", "4"),
      kv: fc.option(pick("1", "2", "heads"), { nil: null }),
      headDim: fc.option(pick("2", "4", "8"), { nil: null, freq: 3 }),
      rope: ropeArg,
      extra: fc.subarray(["window = 4", 'qk_norm = "head"', "bias = true", "sinks = true", "causal = false", "softcap = 30.0"], { maxLength: 2 }),
      name: weightName,
    })
    .map((a) => {
      const args = [a.x, a.heads, ...(a.kv ? [a.kv] : []), ...(a.headDim ? [`head_dim = ${a.headDim}`] : []), ...(a.rope ? [`rope = ${a.rope}`] : []), ...a.extra];
      return `attention(${args.join(", ")})${at(a.name)}`;
    });

const routerArb = fc.oneof(
  fc
    .record({
      k: fc.integer({ min: 0, max: 5 }),
      scoring: fc.option(pick('"softmax"', '"sigmoid"', '"softmax_topk"', '"sparsemixer"'), { nil: null }),
      renorm: fc.option(fc.boolean(), { nil: null }),
      groups: fc.option(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 1, max: 4 }), { nil: null })), { nil: null, freq: 3 }),
      extra: fc.subarray(["bias = true", "selection_bias = true", "capacity_factor = 1.25", "scale = 2.5", "jitter_eps = 0.0"], { maxLength: 2 }),
      positional: fc.boolean(),
    })
    .map((r) => {
      const args = [r.positional ? String(r.k) : `k = ${r.k}`];
      if (r.scoring) args.push(`scoring = ${r.scoring}`);
      if (r.renorm !== null) args.push(`renormalize = ${r.renorm}`);
      if (r.groups) args.push(`groups = ${r.groups[0]}`, ...(r.groups[1] !== null ? [`topk_groups = ${r.groups[1]}`] : []));
      return `topk(${[...args, ...r.extra].join(", ")})`;
    }),
  pick("expert_choice(1.5)", "expert_choice(capacity_factor = 2.0, scoring = \"sigmoid\")", "expert_choice(0.5, bias = true)"),
);

const moeCall = (x: fc.Arbitrary<string>) =>
  fc
    .record({
      x,
      n: fc.integer({ min: 1, max: 8 }),
      f: ffnWidth,
      extraExperts: fc.subarray(["1 of zero", "1 of identity", "2 of zero"], { maxLength: 2 }),
      router: routerArb,
      routerName: fc.option(pick("gate", "router"), { nil: null }),
      expertName: fc.option(pick("experts.{e}", "experts.e{e}", "experts"), { nil: null, freq: 3 }),
      shared: fc.option(fc.tuple(ffnWidth, pick("none", "true", "sigmoid_gate()", 'sigmoid_gate() @ "shared_expert_gate"', "false")), { nil: null }),
      name: weightName,
    })
    .map((m) => {
      const routed = `${m.n} of E(f = ${m.f})${m.expertName === null ? "" : ` @ "${m.expertName}"`}`;
      const experts = m.extraExperts.length > 0 ? `[${[routed, ...m.extraExperts].join(", ")}]` : routed;
      const args = [m.x, `experts = ${experts}`, `router = ${m.router}${at(m.routerName)}`];
      if (m.shared) args.push(`shared = E(f = ${m.shared[0]}) @ "shared_expert"`, ...(m.shared[1] === "none" ? [] : [`shared_gate = ${m.shared[1]}`]));
      return `moe(${args.join(",\n      ")})${at(m.name)}`;
    });

/** Width-preserving tensor expressions over `leaf` (a [.., d] tensor). */
function tensorExpr(leaf: string, opts: { moe: boolean; block: boolean }) {
  return fc.letrec<{ t: string }>((tie) => {
    const alts: fc.Arbitrary<string>[] = [
      fc.constant(leaf),
      fc.tuple(tie("t"), pick("", ", eps", ", 1e-6", ", eps = 1e-5")).map(([x, e]) => `rmsnorm(${x}${e})`),
      tie("t").map((x) => `layernorm(${x}, eps)`),
      fc.tuple(act, tie("t")).map(([f, x]) => `${f}(${x})`),
      fc.tuple(tie("t"), pick("+", "-", "*"), tie("t")).map(([a, o, b]) => `${a} ${o} ${b}`),
      fc.tuple(tie("t"), pick("* 0.5", "* 2", "/ 4", "* c0")).map(([a, s]) => `${a} ${s}`),
      tie("t").map((x) => `-${x}`),
      tie("t").map((x) => `(${x})`),
      fc.tuple(tie("t"), ffnWidth, act, weightName, weightName).map(([x, f, a, n1, n2]) => `linear(${a}(linear(${x}, ${f})${at(n1)}), d)${at(n2)}`),
      fc.tuple(tie("t"), ffnWidth, weightName).map(([x, f, n]) => `linear(swiglu(linear(${x}, 2 * ${f})), d)${at(n)}`),
      fc.tuple(tie("t"), weightName).map(([x, n]) => `linear(${x}, d, bias = true)${at(n)}`),
      attentionCall(tie("t")),
      fc.tuple(condExpr, tie("t"), tie("t")).map(([c, a, b]) => `(if ${c} then ${a} else ${b})`),
    ];
    if (opts.moe) alts.push(moeCall(tie("t")));
    if (opts.block) alts.push(fc.tuple(tie("t"), weightName).map(([x, n]) => `B(${x})${at(n)}`));
    return { t: fc.oneof({ depthSize: "small", maxDepth: 3, withCrossShrink: true }, ...alts) };
  }).t;
}

/** Statements that assign `target`, with loops and conditionals; loops are short so nesting stays cheap. */
function statements(target: string, expr: fc.Arbitrary<string>, indent: string) {
  return fc.letrec<{ stmts: string[]; stmt: string }>((tie) => ({
    stmts: fc.array(tie("stmt"), { minLength: 1, maxLength: 3 }),
    stmt: fc.oneof(
      { depthSize: "small", maxDepth: 2, withCrossShrink: true },
      expr.map((e) => `${target} = ${e}`),
      expr.map((e) => `tmp = ${e}\n${target} = tmp`),
      fc.tuple(pick("i", "j", "layer"), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), tie("stmts")).map(
        ([v, a, b, body]) => `for ${v} in ${a}..${b} {\n${body.map((s) => "  " + s.replace(/\n/g, "\n  ")).join("\n")}\n}`,
      ),
      fc.tuple(condExpr, tie("stmts"), fc.option(tie("stmts"), { nil: null })).map(
        ([c, a, b]) => `if ${c} {\n${a.map((s) => "  " + s.replace(/\n/g, "\n  ")).join("\n")}\n}${b === null ? "" : ` else {\n${b.map((s) => "  " + s.replace(/\n/g, "\n  ")).join("\n")}\n}`}`,
      ),
    ),
  })).stmts.map((ss) => ss.map((s) => indent + s.replace(/\n/g, "\n" + indent)).join("\n"));
}

const expertBody = fc.oneof(
  fc.tuple(act, pick("w1", "gate_proj", "w"), pick("w3", "up_proj", "w"), pick("w2", "down_proj", "w")).map(
    ([a, g, u, dn]) => `    g = linear(x, f) @ "${g}"\n    u = linear(x, f) @ "${u}"\n    return linear(${a}(g) * u, d) @ "${dn}"`,
  ),
  tensorExpr("x", { moe: false, block: false }).map((e) => `    return ${e}`),
  // (Names with their own '{e}' are left out here: that bug has its own regression test below.)
  fc.tuple(act, pick("wi", "fc1", "dense.wi")).map(([a, n]) => `    return linear(${a}(linear(x, f) @ "${n}"), d) @ "wo"`),
);

const programArb = fc
  .record({
    d: pick(4, 8, 16),
    heads: pick(1, 2, 4),
    vocab: pick(10, 50, 32),
    c0: constExpr,
    c1: constExpr,
    ffn: fc.integer({ min: 1, max: 24 }),
    expert: expertBody,
    block: fc.option(statements("x", tensorExpr("x", { moe: true, block: false }), "    "), { nil: null }),
    input: pick("tokens", "tokens", "features", "batched"),
    body: statements("h", tensorExpr("h", { moe: true, block: true }), "  "),
    outputName: weightName,
  })
  .map((p) =>
    [
      "model G {",
      `  const d = ${p.d}, heads = ${p.heads}, vocab = ${p.vocab}`,
      `  const eps = 1e-5, ffn = ${p.ffn}`,
      `  const c0 = ${p.c0}, c1 = ${p.c1}`,
      "",
      "  expert E(x: [T, d], f: int) -> [T, d] {",
      p.expert,
      "  }",
      ...(p.block === null ? [] : ["", "  block B(x: [seq, d]) -> [seq, d] {", p.block, "    return x", "  }"]),
      "",
      ...(p.input === "tokens"
        ? ["  input tokens: i32[seq]", '  h = embed(tokens, vocab, d) @ "embed"']
        : p.input === "features"
          ? ["  input features: f32[seq, d]", "  h = features"]
          : ["  input features: bf16[batch, seq, d]", "  h = features"]),
      p.body,
      `  output logits = linear(rmsnorm(h, eps), vocab)${at(p.outputName ?? "lm_head")}`,
      "}",
      "",
    ].join("\n"),
  );

describe("fuzz (d): grammar-directed programs", () => {
  it("valid-looking models: no crash; when there are no errors the graph verifies and prints", () => {
    fc.assert(
      fc.property(programArb, (text) => {
        grammarTried++;
        const r = fuzzOne("d: grammar-directed programs", text);
        if (r.graph !== null) {
          compiledOk++;
          // fuzzOne already checked verifyGraph/printGraph/pipeline; these say it once more, plainly.
          expect(r.graph.verify).toEqual([]);
          expect(r.graph.printed).toMatch(/^graph G \{/);
        }
      }),
      runs("d: grammar-directed programs", 500),
    );
  });

  it("the generator is useful: a fair share of its programs compile without errors", () => {
    // Sampled afresh (not reusing the property's count) so this holds even if the property above failed early.
    let ok = 0;
    const sample = fc.sample(programArb, { seed: seedFor("d: generator usefulness"), numRuns: 150 });
    for (const text of sample) {
      grammarTried++;
      const r = fuzzOne("d: grammar-directed programs", text);
      if (r.graph !== null) {
        ok++;
        compiledOk++;
      }
    }
    expect(ok, `${ok} of ${sample.length} generated programs compiled`).toBeGreaterThanOrEqual(sample.length * 0.1);
  });
});

// ---- regressions: programs the checker accepts must give graphs that verify ---------------

describe("accepted programs give graphs that verify (found by fuzzing)", () => {
  const cases: [string, string][] = [
    ["attention with head_dim = 0", inModel("  h = attention(h, 2, head_dim = 0)")],
    ["attention with a negative head_dim", inModel("  h = attention(h, 2, head_dim = 0 - 4)")],
    ["attention whose projections exceed 2^53", inModel("  h = attention(h, 4000000000, head_dim = 4000000000)")],
    ["mla whose projections exceed 2^53", inModel("  h = mla(h, 4000000000, kv_lora_rank = 4, qk_nope_dim = 4000000000, qk_rope_dim = 2, v_dim = 4)")],
    ["an input with a zero-width feature dim fed to linear", "model M {\n  input x: f32[seq, 0]\n  output o = linear(x, 10)\n}\n"],
    ["an input with a zero-width feature dim fed to rmsnorm", "model M {\n  input x: f32[seq, 0]\n  output o = rmsnorm(x)\n}\n"],
    ["'{e}' in a weight name outside any expert", inModel('  h = linear(h, 8) @ "a.{e}"')],
    ["one weight name for two shapes inside an expert", inModel('  expert E(x: [T, d]) -> [T, d] {\n    return linear(silu(linear(x, 16) @ "w"), d) @ "w"\n  }\n  h = moe(h, experts = 4 of E, router = topk(2))')],
    ["'{e}' twice in an expert's weight name", inModel('  expert E(x: [T, d]) -> [T, d] {\n    return linear(x, d) @ "{e}.{e}"\n  }\n  h = moe(h, experts = 2 of E, router = topk(2))')],
    ["two moe layers with one name and different expert counts", inModel('  expert E(x: [T, d]) -> [T, d] {\n    return linear(x, d)\n  }\n  h = moe(h, experts = 4 of E, router = topk(2)) @ "m"\n  h = moe(h, experts = 6 of E, router = topk(2)) @ "m"')],
    ["an expert count whose total exceeds 2^53", inModel("  h = moe(h, experts = [9007199254740991 of zero, 9007199254740991 of zero], router = topk(1))")],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      void fuzzOne("regressions: accepted ⇒ verifies", text);
    });
  }
});

describe("other regressions found by fuzzing", () => {
  // An expert body is elaborated into its own subgraph, but a model-level tensor name used in
  // it still holds a node id of the *outer* graph. Found by swapping 'x' and 'h' in the example.
  const expertUsing = (body: string) => inModel(`  expert E(x: [T, d]) -> [T, d] {\n${body}\n  }\n  h = moe(h, experts = 2 of E, router = topk(1))`);

  it("an expert body that uses a model-level tensor does not crash the checker (MOE5002)", () => {
    void fuzzOne("regressions: other", expertUsing("    return linear(h, d)"));
  });

  it("an expert body that uses a model-level tensor is rejected, not silently bound to one of its own nodes", () => {
    // In the expert's subgraph, outer 'h' (node %1) aliases the expert's own node %1 (y): y + y.
    const r = fuzzOne("regressions: other", expertUsing("    y = linear(x, d)\n    return y + h"));
    expect(r.graph, "the checker accepted an expert body that reads the model-level tensor 'h'").toBeNull();
  });

  it("a model-level i32 tensor used in an expert is not reported as f32 (it is the wrong node)", () => {
    const r = fuzzOne("regressions: other", expertUsing("    return x + embed(tokens, 10, d)"));
    expect(r.diagnostics.map((d) => d.message).join("\n")).not.toMatch(/expected integer token ids but got f32/);
  });

  it("2,500 lines with the same simple syntax error get syntax errors, not MOE1007 'nested too deeply' at 1:1", () => {
    // Nothing here is nested, but error recovery recurses once per bad line until the stack overflows,
    // and parseSource reports the RangeError as MOE1007 at line 1, dropping every real syntax error.
    const r = fuzzOne("regressions: other", `model M {\n${"h = linear(h, , ) )\n".repeat(2_500)}}\n`);
    expect(r.diagnostics.map((d) => d.code)).not.toContain("MOE1007");
    expect(r.diagnostics[0]?.code).toBe("MOE1004");
  });
});

// ---- fixed pathological inputs, each in its own process with a time limit -----------------

/** Runs checkSource on stdin in the child, then reports what came back as JSON. */
const CHILD = `
const lib = await import(process.env.MOEC_FUZZ_ENTRY);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const text = Buffer.concat(chunks).toString(process.env.MOEC_FUZZ_ENCODING || "utf8");
const t0 = performance.now();
let r = null, threw = null;
try { r = lib.checkSource("big.moe", text); } catch (e) { threw = String(e && e.stack || e); }
const ms = performance.now() - t0;
let graphProblems = [];
if (r && r.graph) {
  try { graphProblems = lib.verifyGraph(r.graph).map((d) => d.message); lib.printGraph(r.graph); } catch (e) { graphProblems.push("verify/print threw " + String(e && e.stack || e)); }
}
let formatted = null;
if (r) { try { lib.formatDiagnostics(r.diagnostics, { sources: new Map([["big.moe", text]]) }); formatted = true; } catch (e) { formatted = String(e && e.stack || e); } }
process.stdout.write(JSON.stringify({ ms, threw, length: text.length, graph: !!(r && r.graph), count: r ? r.diagnostics.length : 0,
  diagnostics: r ? r.diagnostics.slice(0, 300) : [], graphProblems, formatted }));
`;

interface ChildResult {
  ms: number;
  threw: string | null;
  length: number;
  graph: boolean;
  count: number;
  diagnostics: Diagnostic[];
  graphProblems: string[];
  formatted: true | string | null;
}

/**
 * Checks `input` in a fresh node process running the TypeScript sources. Returns the
 * child's report, after asserting it finished within `limitMs` (checkSource's own time)
 * and did not crash. A hang is killed at the limit plus start-up time.
 */
function isolated(generator: string, input: string | Buffer, limitMs: number, encoding: BufferEncoding = "utf8"): ChildResult {
  const t = tally(generator);
  t.tried++;
  const startupMs = 3000;
  const t0 = Date.now();
  const res = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", TS_HOOKS + CHILD],
    {
      input,
      cwd: ROOT,
      env: { ...process.env, MOEC_FUZZ_ENTRY: pathToFileURL(join(ROOT, "compiler/index.ts")).href, MOEC_FUZZ_ENCODING: encoding, NODE_OPTIONS: "" },
      timeout: limitMs + startupMs,
      maxBuffer: 256 * 1024 * 1024,
      killSignal: "SIGKILL",
    },
  );
  const wall = Date.now() - t0;
  if (res.error && (res.error as NodeJS.ErrnoException).code === "ETIMEDOUT") {
    t.failures++;
    throw new Error(`did not finish: killed after ${wall} ms (limit ${limitMs} ms for checkSource plus ${startupMs} ms to start) — a hang or a pathological slowdown`);
  }
  if (res.status !== 0) {
    t.crashes++;
    throw new Error(`the checking process died (status ${res.status}, signal ${res.signal}):\n${res.stderr.toString().slice(-3000)}`);
  }
  const out = JSON.parse(res.stdout.toString()) as ChildResult;
  const p: string[] = [];
  if (out.threw !== null) p.push(`checkSource threw: ${out.threw}`);
  if (out.ms > limitMs) p.push(`checkSource took ${out.ms.toFixed(0)} ms (limit ${limitMs} ms)`);
  if (out.formatted !== true && out.formatted !== null) p.push(`formatDiagnostics threw: ${out.formatted}`);
  p.push(...out.graphProblems.map((g) => `checked graph fails verification: ${g}`));
  for (const d of out.diagnostics) {
    if (!CODES.has(d.code)) p.push(`diagnostic code ${d.code} is not in allCodes()`);
    if (INTERNAL.has(d.code)) p.push(`internal compiler error ${d.code}: ${d.message}`);
    if (typeof d.message !== "string" || d.message === "") p.push(`${d.code}: empty message`);
    p.push(...spanProblems(d, out.length));
  }
  const errors = out.diagnostics.filter((d) => d.severity === "error").length;
  if (out.threw === null && !out.graph && errors === 0) p.push("no graph and no error diagnostic");
  if (out.graph && errors > 0) p.push("a graph came back together with errors");
  if (p.length > 0) {
    if (out.threw !== null) t.crashes++;
    else t.failures++;
    throw new Error(p.join("\n"));
  }
  return out;
}

/** A small deterministic generator (xorshift32) for the big fixed inputs, seeded from SEED. */
function xorshift(seed: number) {
  let s = seed | 0 || 0x2545f491;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

const TEN_MB = 10 * 1024 * 1024;
const header = "model Big {\n  const d = 8, eps = 1e-5\n  input tokens: i32[seq]\n  h = embed(tokens, 16, d)\n";
const footer = "  output logits = linear(h, 16)\n}\n";
const codesOf = (r: ChildResult) => r.diagnostics.map((d) => d.code);

describe("fixed pathological inputs (each in a child process with a time limit)", () => {
  it("10 MB of one valid line repeated: a graph or diagnostics within 20 s", { timeout: 60_000 }, () => {
    const line = "  x = h\n";
    const text = header + line.repeat(Math.ceil((TEN_MB - header.length - footer.length) / line.length)) + footer;
    const r = isolated("fixed inputs", text, 20_000);
    expect(r.graph || r.count > 0).toBe(true);
  });

  it("10 MB of valid lines that each add a node: stops at a budget within 20 s", { timeout: 60_000 }, () => {
    const line = '  h = rmsnorm(h, eps) @ "norm"\n';
    const text = header + line.repeat(Math.ceil((TEN_MB - header.length) / line.length)) + footer;
    const r = isolated("fixed inputs", text, 20_000);
    // 3 million tokens: over the parser's token budget (MOE1012), which comes before elaboration's node budget (MOE3014; loops reach that).
    expect(codesOf(r)).toContain("MOE1012");
  });

  it("10 MB of random bytes: diagnostics within 20 s, capped", { timeout: 60_000 }, () => {
    const rnd = xorshift(SEED);
    const bytes = Buffer.alloc(TEN_MB);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rnd() & 0xff;
    const r = isolated("fixed inputs", bytes, 20_000, "latin1");
    expect(r.graph).toBe(false);
    expect(r.count).toBeLessThanOrEqual(MAX_SYNTAX_ERRORS + 1);
  });

  it("10 MB of syntax garbage inside a model body: diagnostics within 20 s, capped, no false MOE1007", { timeout: 60_000 }, () => {
    // Each line is one or more syntax errors and nothing is nested; error recovery must neither take
    // minutes nor overflow the stack (which the parser would misreport as MOE1007 at 1:1).
    const rnd = xorshift(SEED ^ 0x5bd1e995);
    const junk = ["x = = ) foo ( 1 2 ,", "h = linear(h, , ) )", "= ] [ , @ ->", "const = 1 2 3", "return @ @", "x = 1 2", "input : [", "output = )"];
    const parts: string[] = ["model M {\n"];
    let size = parts[0]!.length;
    while (size < TEN_MB) {
      const l = junk[rnd() % junk.length]! + "\n";
      parts.push(l);
      size += l.length;
    }
    const r = isolated("fixed inputs", parts.join(""), 20_000);
    expect(r.graph).toBe(false);
    expect(r.count).toBeLessThanOrEqual(MAX_SYNTAX_ERRORS + 1);
    expect(codesOf(r)).not.toContain("MOE1007");
  });

  it("100,000 nested parentheses: MOE1007", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + `  const c = ${"(".repeat(100_000)}1${")".repeat(100_000)}\n` + footer, 10_000);
    expect(codesOf(r)).toContain("MOE1007");
  });

  it("100,000 nested brackets and braces: MOE1007", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + `  const c = ${"[".repeat(50_000)}${"]".repeat(50_000)}\n  if true ${"{ if true ".repeat(50_000)}${"}".repeat(50_000)}\n` + footer, 10_000);
    expect(codesOf(r)).toContain("MOE1007");
  });

  it("100,000 '-' prefixes: MOE1007", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + `  const c = ${"-".repeat(100_000)}1\n` + footer, 10_000);
    expect(codesOf(r)).toContain("MOE1007");
  });

  it("100,000 'not' prefixes and 100,000 '**' in a row", { timeout: 30_000 }, () => {
    isolated("fixed inputs", header + `  const b = ${"not ".repeat(100_000)}true\n  const p = ${Array(100_000).fill("1").join(" ** ")}\n` + footer, 10_000);
  });

  it("a + a + ... + a with 200,000 terms inside a const", { timeout: 30_000 }, () => {
    isolated("fixed inputs", header + `  const a = 1\n  const c = ${Array(200_000).fill("a").join(" + ")}\n` + footer, 10_000);
  });

  it("h + h + ... + h with 200,000 tensor terms, and 100,000 chained weight names", { timeout: 30_000 }, () => {
    isolated("fixed inputs", header + `  h = ${Array(200_000).fill("h").join(" + ")}\n  h = rmsnorm(h)${' @ "n"'.repeat(100_000)}\n` + footer, 10_000);
  });

  it("a 50,000-deep 'if c then ... else if ...' chain in a const", { timeout: 30_000 }, () => {
    let chain = "";
    for (let i = 0; i < 50_000; i++) chain += `if c == ${i} then ${i} else `;
    isolated("fixed inputs", header + `  const c = 3\n  const z = ${chain}0\n` + footer, 10_000);
  });

  it("a 50,000-deep 'if c { } else if c { } ...' statement chain", { timeout: 30_000 }, () => {
    let chain = "  if c == 0 { h = h }";
    for (let i = 1; i < 50_000; i++) chain += ` else if c == ${i} { h = h }`;
    isolated("fixed inputs", header + `  const c = 3\n${chain}\n` + footer, 10_000);
  });

  it("a 20,000-long chain of block calls (B0 calls B1 calls ...)", { timeout: 30_000 }, () => {
    const n = 20_000;
    const blocks: string[] = [];
    for (let i = 0; i < n; i++) blocks.push(`  block B${i}(x: [seq, d]) -> [seq, d] { return ${i + 1 < n ? `B${i + 1}(x)` : "x"} }`);
    isolated("fixed inputs", header + blocks.join("\n") + "\n  h = B0(h)\n" + footer, 10_000);
  });

  it("Mixtral with 8,000 layers (48,000 nodes, well inside MAX_LOOP and MAX_NODES) checks within 5 s", { timeout: 30_000 }, () => {
    // 32 layers take milliseconds; elaboration must stay about linear in the layer count.
    const mixtral = examples.find((e) => e.name === "mixtral-8x7b.moe")!.text;
    expect(mixtral).toContain("for i in 0..layers");
    const r = isolated("fixed inputs", mixtral.replace("for i in 0..layers", "for i in 0..8000"), 5_000);
    expect(r.graph).toBe(true);
  });

  it("for i in 0..100000000 {} errors quickly with MOE3012", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + "  for i in 0..100000000 {}\n" + footer, 2_000);
    expect(codesOf(r)).toContain("MOE3012");
  });

  it("nested loops of 100,000 × 100,000 iterations must not hang", { timeout: 30_000 }, () => {
    // Each loop is within MAX_LOOP, but together they run 10^10 iterations of elaboration.
    isolated("fixed inputs", header + "  for i in 0..100000 {\n    for j in 0..100000 {\n      y = i\n    }\n  }\n" + footer, 3_000);
  });

  it("a block with a 100,000-iteration loop called 100,000 times must not hang", { timeout: 30_000 }, () => {
    isolated(
      "fixed inputs",
      header + "  block B(x: [seq, d]) -> [seq, d] {\n    for i in 0..100000 { y = i }\n    return x\n  }\n  for j in 0..100000 {\n    h = B(h)\n  }\n" + footer,
      3_000,
    );
  });

  it("a file with 10,000 syntax errors: output capped at MAX_SYNTAX_ERRORS", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + "  x = = )\n".repeat(10_000) + footer, 10_000);
    expect(r.count).toBeGreaterThan(0);
    expect(r.count).toBeLessThanOrEqual(MAX_SYNTAX_ERRORS + 1);
    expect(codesOf(r)).not.toContain("MOE1007");
  });

  it("15,000 unexpected characters and 5,000 unterminated strings: capped", { timeout: 30_000 }, () => {
    const r = isolated("fixed inputs", header + "  x = h ¤ § \u0000\n  s = \"abc\n".repeat(5_000) + footer, 10_000);
    expect(r.count).toBeGreaterThan(0);
    expect(r.count).toBeLessThanOrEqual(MAX_SYNTAX_ERRORS + 1);
  });

  it("empty file, whitespace only, a lone BOM, a lone 'model'", { timeout: 30_000 }, () => {
    for (const text of ["", "   \n\t\r\n", "\ufeff", "model", "model M", "model M {", "model M { }", "}"]) {
      void fuzzOne("fixed inputs", text);
    }
  });
});
