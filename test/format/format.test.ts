// The .moe formatter (compiler/format) and `moec fmt` (compiler/cli/fmt-command.ts).
//
//  - golden cases: messy inputs with outputs written by hand;
//  - every file in examples/ and test/fixtures/moe/: formatting is idempotent, keeps every
//    comment exactly once and with the same statement, keeps the AST (spans aside) and the
//    graph IR (printGraph) unchanged;
//  - properties (fast-check): generated models with comments at statement boundaries and
//    line ends, and re-spaced / re-indented / line-split versions of the example files; the
//    same invariants. The number of inputs tried is printed at the end;
//  - the command: in-place atomic rewrite, untouched unchanged files, --check, syntax errors.
//
// Reproduce a property run: MOEC_FORMAT_SEED=<seed printed below> npx vitest run test/format
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { format } from "prettier/standalone";
import { afterAll, describe, expect, it } from "vitest";
import { fmtCommand } from "../../compiler/cli/fmt-command.js";
import { UsageError, type Io } from "../../compiler/cli/io.js";
import { formatSource, moePlugin, MoeSyntaxError } from "../../compiler/format/index.js";
import { checkSource, parseSource, printGraph } from "../../compiler/index.js";
import type { Program, Stmt } from "../../compiler/syntax/ast.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CORPUS = [
  ...readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".moe")).map((f) => join(ROOT, "examples", f)),
  ...readdirSync(join(ROOT, "test/fixtures/moe")).filter((f) => f.endsWith(".moe")).map((f) => join(ROOT, "test/fixtures/moe", f)),
].sort();
const SOURCES = new Map(CORPUS.map((f) => [f, readFileSync(f, "utf8")]));

const envSeed = process.env["MOEC_FORMAT_SEED"];
const SEED = envSeed !== undefined && envSeed.trim() !== "" && Number.isFinite(Number(envSeed)) ? Number(envSeed) | 0 : (Math.random() * 0x7fffffff) | 0;
console.log(`format property seed: ${SEED} (replay with MOEC_FORMAT_SEED=${SEED})`);
let seedIndex = 0;
const runs = (numRuns: number) => ({ seed: (SEED + 0x9e3779b1 * ++seedIndex) | 0, numRuns });

const tried = { golden: 0, corpus: 0, generated: 0, generatedCompiled: 0, commented: 0, mutated: 0, mutatedGraphChecked: 0, commentsSeen: 0 };
afterAll(() => {
  console.log(
    `format: ${tried.golden + tried.corpus + tried.generated + tried.commented + tried.mutated} inputs tried (seed ${SEED}): ` +
      `${tried.golden} golden, ${tried.corpus} corpus files, ${tried.generated} generated programs ` +
      `(${tried.generatedCompiled} compiled, graphs compared), ${tried.commented} examples with comments between tokens, ` +
      `${tried.mutated} re-spaced/re-indented/line-split examples ` +
      `(${tried.mutatedGraphChecked} graphs compared); ${tried.commentsSeen} comments checked`,
  );
});

// ---- invariants ----------------------------------------------------------------------------

function parseOk(text: string, what: string): Program {
  const r = parseSource("x.moe", text);
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(`${what} does not parse: ${errors.map((d) => `${d.span?.line}:${d.span?.column} ${d.message}`).join("; ")}\n${text}`);
  return r.program;
}

/** The AST without source positions: what the program means, syntactically. */
function shape(p: Program): string {
  return JSON.stringify(p.models, (k, v: unknown) => (k === "span" || k.endsWith("Span") ? undefined : v));
}

const commentKey = (text: string) => (text.startsWith("//") ? text.trimEnd() : text);

/** Every statement-like range (models, members, nested statements) in preorder. */
function statementRanges(p: Program): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const stmt = (s: Stmt): void => {
    out.push(s.span);
    if (s.kind === "if") {
      s.then.forEach(stmt);
      s.else?.forEach(stmt);
    } else if (s.kind === "for") s.body.forEach(stmt);
  };
  for (const m of p.models) {
    out.push(m.span);
    for (const mem of m.members) {
      if (mem.kind === "stmt") stmt(mem.stmt);
      else {
        out.push(mem.span);
        if (mem.kind === "block" || mem.kind === "expert") mem.body.forEach(stmt);
      }
    }
  }
  return out;
}

/**
 * Which statement a comment belongs to: the innermost statement containing it; else the
 * statement it follows on the same line (an end-of-line comment); else the next statement.
 */
function commentOwners(text: string, p: Program): string[] {
  const ranges = statementRanges(p);
  const lineOf = (o: number) => {
    let n = 0;
    for (let i = text.indexOf("\n"); i >= 0 && i < o; i = text.indexOf("\n", i + 1)) n++;
    return n;
  };
  return p.comments.map((c) => {
    let inner = -1;
    ranges.forEach((r, i) => {
      if (r.start <= c.span.start && c.span.end <= r.end && (inner < 0 || r.start >= ranges[inner]!.start)) inner = i;
    });
    if (inner >= 0) return `${commentKey(c.text)} in #${inner}`;
    let after = -1;
    ranges.forEach((r, i) => {
      if (r.end <= c.span.start && lineOf(r.end) === lineOf(c.span.start) && (after < 0 || r.end > ranges[after]!.end)) after = i;
    });
    if (after >= 0) return `${commentKey(c.text)} after #${after}`;
    const next = ranges.findIndex((r) => r.start >= c.span.end);
    return `${commentKey(c.text)} before #${next}`;
  });
}

interface Checked {
  readonly out: string;
  readonly graphCompared: boolean;
}

/**
 * Formats `input` and checks: the output parses to the same AST; formatting it again changes
 * nothing; every comment appears exactly once and with the same statement; and, when the
 * input compiles (and `graphs` is on), the graph IR is the same.
 */
async function checkFormat(input: string, opts: { graphs?: boolean; expectedGraph?: string } = {}): Promise<Checked> {
  const before = parseOk(input, "the input");
  const out = await formatSource(input);
  const after = parseOk(out, "the formatted output");
  expect(shape(after), "the AST changed").toBe(shape(before));
  expect(await formatSource(out), "formatting is not idempotent").toBe(out);
  const inComments = before.comments.map((c) => commentKey(c.text)).sort();
  const outComments = after.comments.map((c) => commentKey(c.text)).sort();
  expect(outComments, "comments lost or duplicated").toEqual(inComments);
  expect(commentOwners(out, after).sort(), "a comment moved to another statement").toEqual(commentOwners(input, before).sort());
  tried.commentsSeen += before.comments.length;
  let graphCompared = false;
  if (opts.graphs !== false) {
    const g0 = opts.expectedGraph ?? (() => {
      const c = checkSource("x.moe", input);
      return c.graph === null ? null : printGraph(c.graph);
    })();
    if (g0 !== null) {
      const c1 = checkSource("x.moe", out);
      expect(c1.graph, "the formatted program no longer compiles").not.toBeNull();
      expect(printGraph(c1.graph!), "the graph IR changed").toBe(g0);
      graphCompared = true;
    }
  }
  return { out, graphCompared };
}

// ---- golden cases: messy input → output written by hand ---------------------------------------

const GOLDEN: { name: string; input: string; expected: string }[] = [
  {
    name: "spacing, indentation, numbers as written, keyword args and @ names",
    input: [
      "model   M{",
      "const a=1,b=2",
      "    const eps=1e-5,big=1E3 , f = 2.50,g=-1",
      "input   x :f32[ seq,d ]",
      'h=linear( x,d ,bias=true)@"proj"',
      "      output y=h",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  const a = 1, b = 2",
      "  const eps = 1e-5, big = 1E3, f = 2.50, g = -1",
      "  input x: f32[seq, d]",
      '  h = linear(x, d, bias = true) @ "proj"',
      "  output y = h",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "blank lines: runs collapse to one, none at the start or end of a body",
    input: [
      "model M {",
      "",
      "",
      "  const a = 1",
      "",
      "",
      "",
      "  const b = 2",
      "  block B(x: [T, d]) -> [T, d] {",
      "",
      "    y = x",
      "",
      "",
      "    return y",
      "",
      "  }",
      "",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  const a = 1",
      "",
      "  const b = 2",
      "  block B(x: [T, d]) -> [T, d] {",
      "    y = x",
      "",
      "    return y",
      "  }",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "a long call breaks one argument per line; what fits stays on one line",
    input: [
      "model M {",
      "  block D(h: [seq, d]) -> [seq, d] {",
      '    h = h + moe(m, experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}", router = topk(k = top_k, scoring = "softmax", renormalize = true) @ "gate") @ "block_sparse_moe"',
      '    h = h + attention(a, heads, kv_heads,',
      '                      rope = rope(theta = 1e6)) @ "self_attn"',
      "    return h",
      "  }",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  block D(h: [seq, d]) -> [seq, d] {",
      "    h = h + moe(",
      "      m,",
      '      experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}",',
      '      router = topk(k = top_k, scoring = "softmax", renormalize = true) @ "gate"',
      '    ) @ "block_sparse_moe"',
      '    h = h + attention(a, heads, kv_heads, rope = rope(theta = 1e6)) @ "self_attn"',
      "    return h",
      "  }",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "nested breaking: the outer call breaks first, an inner one only when it is still too long",
    input: [
      "model M {",
      '  const pos = rope(theta = 10000, style = "interleaved", scaling = yarn(factor = yarn_factor, original_max = 4096, beta_fast = 32, beta_slow = 1))',
      "  const a = 1, long_name_number_one = some_function(argument_one, argument_two, argument_three, four)",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  const pos = rope(",
      "    theta = 10000,",
      '    style = "interleaved",',
      "    scaling = yarn(factor = yarn_factor, original_max = 4096, beta_fast = 32, beta_slow = 1)",
      "  )",
      "  const a = 1,",
      "    long_name_number_one = some_function(argument_one, argument_two, argument_three, four)",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "long parameter lists and lists break like calls",
    input: [
      "model M {",
      "  block LongParameters(hidden_states: [seq, d], position_ids: [seq], layer_index: int, window: int = 4096) -> [seq, d] {",
      "    return hidden_states",
      "  }",
      "  h = moe(x, experts = [eight_routed_experts of SwiGLU(ffn = 1024), 1 of zero, 1 of identity, 2 of identity_too])",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  block LongParameters(",
      "    hidden_states: [seq, d],",
      "    position_ids: [seq],",
      "    layer_index: int,",
      "    window: int = 4096",
      "  ) -> [seq, d] {",
      "    return hidden_states",
      "  }",
      "  h = moe(",
      "    x,",
      "    experts = [",
      "      eight_routed_experts of SwiGLU(ffn = 1024),",
      "      1 of zero,",
      "      1 of identity,",
      "      2 of identity_too",
      "    ]",
      "  )",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "parentheses: kept where precedence needs them, dropped where it does not",
    input: [
      "model M {",
      "  const a = (1 + 2) * 3, b = 1 + (2 * 3), c = 1 - (2 - 3), e = (1 - 2) - 3",
      "  const f = (-2) ** 2, g = -(2 ** 2), h = 2 ** (3 ** 2), i = (2 ** 3) ** 2, j = 2 ** -1",
      "  const k = 1 + (if a > 1 then 2 else 3), l = (if a > 1 then 2 else 3), m = ((((a))))",
      "  const n = not (a == 1), o = (not true) and false, p = (a < b) == true, q = (i + 1) % 2 == 0",
      "  const r = (a + b) of E, s = -(-a)",
      "  for i in (0)..(n + 1) {",
      '    x = (linear(x, d) @ "a") @ "b"',
      '    y = (x + x) @ "c"',
      "  }",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  const a = (1 + 2) * 3, b = 1 + 2 * 3, c = 1 - (2 - 3), e = 1 - 2 - 3",
      "  const f = (-2) ** 2, g = -2 ** 2, h = 2 ** 3 ** 2, i = (2 ** 3) ** 2, j = 2 ** -1",
      "  const k = 1 + (if a > 1 then 2 else 3), l = if a > 1 then 2 else 3, m = a",
      "  const n = not a == 1, o = not true and false, p = (a < b) == true, q = (i + 1) % 2 == 0",
      "  const r = a + b of E, s = - -a",
      "  for i in 0..n + 1 {",
      '    x = linear(x, d) @ "a" @ "b"',
      '    y = (x + x) @ "c"',
      "  }",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "if / else if / else and for; an else block holding one if stays as written",
    input: [
      "model M {",
      "block B(h: [seq, d], i: int) -> [seq, d] {",
      "if i<1 {h=h} else if i==2 {h=h*2}else{",
      "h = h * 3 }",
      "if i > 4 { h = h } else { if i > 5 { h = h } }",
      "for j in 0..2 { for k in j..3 {",
      "h = h + 1",
      "} }",
      "return h }",
      "}",
    ].join("\n"),
    expected: [
      "model M {",
      "  block B(h: [seq, d], i: int) -> [seq, d] {",
      "    if i < 1 {",
      "      h = h",
      "    } else if i == 2 {",
      "      h = h * 2",
      "    } else {",
      "      h = h * 3",
      "    }",
      "    if i > 4 {",
      "      h = h",
      "    } else {",
      "      if i > 5 {",
      "        h = h",
      "      }",
      "    }",
      "    for j in 0..2 {",
      "      for k in j..3 {",
      "        h = h + 1",
      "      }",
      "    }",
      "    return h",
      "  }",
      "}",
      "",
    ].join("\n"),
  },
  {
    name: "comments: header, own line, end of line, inside calls, after brackets, empty bodies",
    input: [
      "// header",
      "",
      "",
      "// second header",
      "model X // after the name",
      "{ // after the brace",
      "  const a = 1 ,  b = 2   // end of const",
      "  /* before block */ block B(x: [T, d] /* in params */, // eol in params",
      "     y: int = 3 // last param",
      "  ) -> [T, d] // before body",
      "  {",
      "    return x   // ret",
      "    // end of body",
      "  }",
      "  block F(",
      "    // only",
      "  ) { /* empty */ }",
      "  expert G() {",
      "    // nothing yet",
      "  }",
      "",
      "",
      "  // before the input",
      "  input tokens : i32[ seq ] // tok",
      "  if a > 1 { // open if",
      "    h = h",
      "  } // after then",
      "  else { h = h }",
      "  h = f(h, // arg1",
      "     2 /* two */, k = 1",
      "     // own line before the paren",
      "     )",
      "  h = moe( // open call",
      "    h, experts = 2 of E, router = topk(1)) @ \"m\"",
      "  output o = h // out",
      "  // last in model",
      "}",
      "",
      "// after model",
    ].join("\n"),
    expected: [
      "// header",
      "",
      "// second header",
      "model X { // after the name",
      "  // after the brace",
      "  const a = 1, b = 2 // end of const",
      "  /* before block */ block B(",
      "    x: [T, d] /* in params */, // eol in params",
      "    y: int = 3 // last param",
      "  ) -> [T, d] { // before body",
      "    return x // ret",
      "    // end of body",
      "  }",
      "  block F(",
      "    // only",
      "  ) { /* empty */ }",
      "  expert G() {",
      "    // nothing yet",
      "  }",
      "",
      "  // before the input",
      "  input tokens: i32[seq] // tok",
      "  if a > 1 { // open if",
      "    h = h",
      "  } // after then",
      "  else {",
      "    h = h",
      "  }",
      "  h = f(",
      "    h, // arg1",
      "    2 /* two */,",
      "    k = 1",
      "    // own line before the paren",
      "  )",
      "  h = moe( // open call",
      "    h,",
      "    experts = 2 of E,",
      "    router = topk(1)",
      '  ) @ "m"',
      "  output o = h // out",
      "  // last in model",
      "}",
      "",
      "// after model",
      "",
    ].join("\n"),
  },
  {
    name: "multi-line block comments are kept verbatim; a comment-only file",
    input: ["model M {", "    /* one", "       two */", "  const a = 1", "}", "/* tail */ "].join("\n"),
    expected: ["model M {", "  /* one", "       two */", "  const a = 1", "}", "/* tail */", ""].join("\n"),
  },
  {
    name: "empty types (they parse, the checker rejects them) are kept",
    input: "model M {\n  block B(x:, y: int, z: = 3) -> {\n    return x\n  }\n  input t: /* c */\n  output o = t\n}\n",
    expected: "model M {\n  block B(x:, y: int, z: = 3) -> {\n    return x\n  }\n  input t: /* c */\n  output o = t\n}\n",
  },
  {
    // Found by the comments-between-tokens property on examples/granite-4.0-h-tiny.moe: the second
    // comment was printed on a line of its own, which the next run read as a comment before `*`.
    name: "a line comment after a closing paren that already ends a line comment's line",
    input: "model M {\n  h = h + (y + m // inner\n) // after the paren\n * s\n}\n",
    expected: "model M {\n  h = h + (y + m) // inner\n    * // after the paren\n    s\n}\n",
  },
  {
    name: "a file with no model, only comments",
    input: "  // just a note\n\n/* and another */\n",
    expected: "// just a note\n/* and another */\n",
  },
];

describe("golden cases", () => {
  for (const g of GOLDEN) {
    it(g.name, async () => {
      tried.golden++;
      expect(await formatSource(g.input)).toBe(g.expected);
      await checkFormat(g.input, { graphs: false });
    });
  }

  it("keeps CRLF line endings and a byte-order mark", async () => {
    tried.golden++;
    const out = await formatSource("\uFEFFmodel M {\r\n  const a=1\r\n}\r\n");
    expect(out).toBe("\uFEFFmodel M {\r\n  const a = 1\r\n}\r\n");
  });

  it("lines fit in 100 columns where they can be broken", async () => {
    for (const f of CORPUS) {
      const out = await formatSource(SOURCES.get(f)!, f);
      for (const l of out.split("\n")) if (!/^\s*\/\//.test(l)) expect(l.length, `${f}: ${l}`).toBeLessThanOrEqual(100);
    }
  });
});

describe("errors", () => {
  it("refuses a file with syntax errors: MoeSyntaxError with the parser's diagnostics, nothing formatted", async () => {
    const bad = "model M {\n  const a = \n  h = f(x,, y)\n}\n";
    const err = await formatSource(bad, "bad.moe").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MoeSyntaxError);
    const e = err as MoeSyntaxError;
    expect(e.file).toBe("bad.moe");
    expect(e.diagnostics.length).toBeGreaterThan(0);
    expect(e.diagnostics.every((d) => d.code.startsWith("MOE1"))).toBe(true);
    expect(e.message).toMatch(/^Cannot format bad\.moe: \d+ syntax errors?\./);
    expect(e.message).toContain("bad.moe:3:");
  });

  it("refuses unterminated strings and comments and stray characters", async () => {
    for (const bad of ['model M { h = f("x) }', "model M { /* open", "model M { # }"]) {
      await expect(formatSource(bad)).rejects.toBeInstanceOf(MoeSyntaxError);
    }
  });

  it("the plugin works with prettier directly, with its default width", async () => {
    const f = CORPUS.find((x) => x.endsWith("deepseek-v3.moe"))!;
    const text = SOURCES.get(f)!;
    expect(await format(text, { parser: "moe", plugins: [moePlugin] })).toBe(await formatSource(text));
  });
});

// ---- the corpus: examples/ and test/fixtures/moe/ ----------------------------------------------

describe("examples and fixtures", () => {
  for (const f of CORPUS) {
    it(`${f.slice(ROOT.length + 1)}: idempotent, comments kept, same AST and graph`, async () => {
      tried.corpus++;
      const r = await checkFormat(SOURCES.get(f)!);
      expect(r.graphCompared).toBe(true);
    });
  }
});

// ---- properties ------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), driven by a fast-check integer so runs replay. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const choose = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);

/** Constant arithmetic over earlier constants (d = 8, heads = 2). */
const arith = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    fc.oneof(fc.integer({ min: 0, max: 99 }).map(String), pick("d", "heads", "1e-5", "2.5", "1E3", "0.125")),
    fc.tuple(tie("e"), pick("+", "-", "*"), tie("e")).map(([a, o, b]) => `${a} ${o} ${b}`),
    fc.tuple(tie("e"), pick("/", "%"), fc.integer({ min: 1, max: 9 })).map(([a, o, b]) => `${a} ${o} ${b}`),
    fc.tuple(tie("e"), fc.integer({ min: 0, max: 3 })).map(([a, n]) => `${a} ** ${n}`),
    tie("e").map((a) => `-${a}`),
    tie("e").map((a) => `(${a})`),
    fc.tuple(tie("e"), pick("<", "==", ">=", "!="), tie("e"), tie("e"), tie("e")).map(([a, c, b, x, y]) => `(if ${a} ${c} ${b} then ${x} else ${y})`),
    fc.tuple(pick("min", "max"), tie("e"), tie("e")).map(([f, a, b]) => `${f}(${a}, ${b})`),
  ),
})).e;

/** `@ "§"` marks a weight name; each is made unique afterwards. */
const W = '@ "§"';

/** Statements over `h: [seq, d]` inside the block (loop variable `i`); each is a list of lines, nested lines indented by two spaces. */
const blockStmts = fc.letrec<{ list: string[][]; stmt: string[] }>((tie) => ({
  list: fc.array(tie("stmt"), { minLength: 1, maxLength: 4 }),
  stmt: fc.oneof(
    { depthSize: "small", maxDepth: 2 },
    fc.tuple(pick("", ", 1", ", heads"), pick("rope()", "rope(theta = 10000)", "rope(theta = 1e6)")).map(([kv, rope]) => [
      `h = h + attention(rmsnorm(h, eps) ${W}, heads${kv}, rope = ${rope}) ${W}`,
    ]),
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), fc.boolean()).map(([n, k, f, shared, split]) => {
      const args = [`rmsnorm(h, eps) ${W}`, `experts = ${n} of E(f = ${f}) @ "experts.{e}"`, `router = topk(k = ${Math.min(k, n)}, scoring = "softmax", renormalize = true) ${W}`];
      if (shared) args.push(`shared = E(f = ${f}) @ "shared_expert"`, "shared_gate = true");
      return split ? [`h = h + moe(${args[0]},`, ...args.slice(1, -1).map((a) => `        ${a},`), `        ${args.at(-1)}) ${W}`] : [`h = h + moe(${args.join(", ")}) ${W}`];
    }),
    fc.tuple(fc.integer({ min: 1, max: 16 }), pick("silu", "gelu", "relu")).map(([f, act]) => [`m = linear(h, ${f}) ${W}`, `h = h + linear(${act}(m), d) ${W}`]),
    pick(["h = h * 0.5"], ["h = h * 2 + h / 4"], ["h = -h + (h - h) * c0"], ["h = layernorm(h, eps) " + W]),
    fc.tuple(pick("i % 2 == 0", "i < 1", "i >= 2 and c0 > 0", "not (i == 1)", "c1 != c0"), tie("list"), fc.option(tie("list"), { nil: null })).map(([c, a, b]) => [
      `if ${c} {`,
      ...a.flat().map((l) => "  " + l),
      ...(b === null ? ["}"] : ["} else {", ...b.flat().map((l) => "  " + l), "}"]),
    ]),
    fc.tuple(pick("i == 0", "i == 1"), tie("list"), tie("list")).map(([c, a, b]) => [`if ${c} {`, ...a.flat().map((l) => "  " + l), "} else if i == 2 {", ...b.flat().map((l) => "  " + l), "}"]),
    fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 }), tie("list")).map(([a, b, body]) => [`for j in ${a}..${a} + ${b} {`, ...body.flat().map((l) => "  " + l), "}"]),
    pick(["window = if i % 2 == 0 then 4 else none", `h = h + attention(h, heads, window = window) ${W}`]),
  ),
})).list;

interface GenProgram {
  readonly lines: string[];
}

const programArb = fc
  .record({ c0: arith, c1: arith, layers: fc.integer({ min: 1, max: 3 }), body: blockStmts, act: pick("silu", "relu", "gelu"), topLevelIf: fc.boolean() })
  .map(({ c0, c1, layers, body, act, topLevelIf }): GenProgram => {
    const lines = [
      "model G {",
      "  const d = 8, heads = 2, vocab = 16",
      `  const eps = 1e-5, c0 = ${c0}, c1 = ${c1}`,
      "",
      "  expert E(x: [T, d], f: int) -> [T, d] {",
      `    return linear(${act}(linear(x, f) ${W}), d) ${W}`,
      "  }",
      "",
      "  block B(h: [seq, d], i: int) -> [seq, d] {",
      ...body.flat().map((l) => "    " + l),
      "    return h",
      "  }",
      "",
      "  input tokens: i32[seq]",
      `  h = embed(tokens, vocab, d) ${W}`,
      `  for i in 0..${layers} {`,
      '    h = B(h, i) @ "layers.{i}"',
      "  }",
      ...(topLevelIf ? ["  if c0 > 3 {", "    h = h * 2", "  }"] : []),
      `  output logits = linear(rmsnorm(h, eps) ${W}, vocab) @ "lm_head"`,
      "}",
    ];
    let n = 0;
    return { lines: lines.map((l) => l.replace(/§/g, () => `w${n++}`)) };
  });

const COMMENT_WORDS = ["note", "TODO: check", "why: see SPEC §7", "a, b = (c)", "{ } [ ]", '"quoted"', "x * y / z"];

/** Inserts comments between lines (own line) and at line ends, numbered so each is unique. */
function withComments(lines: readonly string[], r: () => number, density: number): string {
  const out: string[] = [];
  let n = 0;
  const comment = () => {
    const word = choose(r, COMMENT_WORDS);
    return r() < 0.7 ? `// c${n++} ${word}` : `/* c${n++} ${word} */`;
  };
  for (const l of lines) {
    if (r() < density) out.push(" ".repeat(Math.floor(r() * 8)) + comment());
    out.push(r() < density ? `${l}${" ".repeat(1 + Math.floor(r() * 3))}${comment()}` : l);
  }
  if (r() < density) out.push(comment());
  return out.join("\n") + "\n";
}

/**
 * Rewrites the whitespace between tokens and comments: re-spacing, re-indenting, splitting
 * lines. Never glues two tokens. With `keepCommentGaps`, the whitespace next to a comment
 * stays as it was (so an end-of-line comment stays one).
 */
function reflow(text: string, r: () => number, rate: number, keepCommentGaps = false): string {
  const parsed = parseSource("x.moe", text);
  const items = [
    ...parsed.tokens.map((t) => ({ start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, line: false, comment: false })),
    ...parsed.program.comments.map((c) => ({ start: c.span.start, end: c.span.end, line: c.text.startsWith("//"), comment: true })),
  ].sort((a, b) => a.start - b.start);
  let out = text.slice(0, items[0]?.start ?? 0);
  items.forEach((it, i) => {
    out += text.slice(it.start, it.end);
    const next = items[i + 1];
    const gap = text.slice(it.end, next?.start ?? text.length);
    if (next === undefined || r() >= rate || (keepCommentGaps && (it.comment || next.comment))) {
      out += gap;
      return;
    }
    let ws = choose(r, gap === "" ? ["", "", " ", "\n", "\n   "] : [" ", "  ", "\t", "\n", "\n\n", "\n      ", "\n\n\n  ", " \n "]);
    if (it.line && !ws.includes("\n")) ws += "\n"; // a line comment needs its line end
    out += ws;
  });
  return out;
}

/** Inserts comments between tokens: block comments inline or spanning lines, line comments (with their line end). */
function commentsBetweenTokens(text: string, r: () => number, rate: number): string {
  const tokens = parseSource("x.moe", text).tokens;
  let out = "";
  let last = 0;
  let n = 0;
  for (const t of tokens) {
    out += text.slice(last, t.startOffset);
    if (r() < rate) {
      const k = r();
      out += k < 0.35 ? ` /* t${n++} */ ` : k < 0.45 ? `\n/* t${n++}\n   spans lines */\n` : k < 0.5 ? `/**/` : ` // t${n++}${k < 0.55 ? "   " : ""}\n`;
    }
    out += t.image;
    last = (t.endOffset ?? t.startOffset) + 1;
  }
  return out + text.slice(last) + (r() < rate ? `// t${n++} at the end` : "");
}

const dropBlankLines = (s: string) => s.replace(/\n(?:[ \t]*\n)+/g, "\n");

describe("properties", () => {
  it("generated models with comments: idempotent, comments kept with their statements, same AST and graph", async () => {
    await fc.assert(
      fc.asyncProperty(programArb, fc.integer(), fc.double({ min: 0, max: 0.6, noNaN: true }), fc.boolean(), async (p, seed, density, respace) => {
        tried.generated++;
        const r = rng(seed);
        let text = withComments(p.lines, r, density);
        if (respace) text = reflow(text, r, 0.3);
        const res = await checkFormat(text);
        if (res.graphCompared) tried.generatedCompiled++;
      }),
      runs(400),
    );
    // The generator is meant to produce valid models; most must compile for the graph check to mean something.
    expect(tried.generatedCompiled).toBeGreaterThan(tried.generated * 0.6);
  });

  it("comments between any two tokens of the examples: idempotent, kept exactly once with their statements, same AST", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CORPUS), fc.integer(), fc.double({ min: 0.02, max: 0.6, noNaN: true }), async (f, seed, rate) => {
        tried.commented++;
        await checkFormat(commentsBetweenTokens(SOURCES.get(f)!, rng(seed), rate), { graphs: false });
      }),
      runs(300),
    );
  });

  it("re-spaced, re-indented and line-split examples: idempotent, comments kept, same AST and graph", async () => {
    const graphs = new Map<string, string>();
    for (const f of CORPUS) {
      const c = checkSource(f, SOURCES.get(f)!);
      graphs.set(f, printGraph(c.graph!));
    }
    const heavy = (f: string) => f.endsWith("deepseek-v3.moe") || f.endsWith("mixtral-8x7b.moe");
    let i = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CORPUS), fc.integer(), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.boolean(), async (f, seed, rate, keepCommentGaps) => {
        tried.mutated++;
        const text = reflow(SOURCES.get(f)!, rng(seed), rate, keepCommentGaps);
        // Graphs of the two largest models are compared on every 8th run only (each takes ~0.1 s to build).
        const graphs_ = !heavy(f) || i++ % 8 === 0;
        const res = await checkFormat(text, graphs_ ? { expectedGraph: graphs.get(f)! } : { graphs: false });
        if (res.graphCompared) tried.mutatedGraphChecked++;
        // Whatever the input's layout, the formatted text is that of the original file, up to
        // blank lines (kept where the input has them) and comments that moved on or off a line.
        if (keepCommentGaps) expect(dropBlankLines(res.out)).toBe(dropBlankLines(await formatSource(SOURCES.get(f)!)));
      }),
      runs(200),
    );
  });
});

// ---- moec fmt ------------------------------------------------------------------------------------

function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, color: false, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe("moec fmt", () => {
  const MESSY = "model M {\n    const a=1\n  input x: f32[seq, d]\n  output y = linear(x, d)\n}\n";
  const PRETTY = "model M {\n  const a = 1\n  input x: f32[seq, d]\n  output y = linear(x, d)\n}\n";
  const BROKEN = "model M {\n  const a = (1\n}\n";

  function tmp(): string {
    return mkdtempSync(join(tmpdir(), "moec-fmt-"));
  }

  it("rewrites changed files in place, leaves formatted files untouched, leaves no temporary files", async () => {
    const dir = tmp();
    try {
      const messy = join(dir, "messy.moe");
      const pretty = join(dir, "pretty.moe");
      writeFileSync(messy, MESSY);
      writeFileSync(pretty, PRETTY);
      const before = statSync(pretty);
      await new Promise((r) => setTimeout(r, 20));
      const io = captureIo();
      expect(await fmtCommand.run(io, [messy, pretty], {})).toBe(0);
      expect(readFileSync(messy, "utf8")).toBe(PRETTY);
      const after = statSync(pretty);
      expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
      expect(io.stdout).toEqual([`${messy}: formatted`]);
      expect(readdirSync(dir).sort()).toEqual(["messy.moe", "pretty.moe"]);
      // A second run changes nothing.
      const io2 = captureIo();
      expect(await fmtCommand.run(io2, [messy], {})).toBe(0);
      expect(io2.stdout).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--check writes nothing, lists the files that would change and exits 1", async () => {
    const dir = tmp();
    try {
      const messy = join(dir, "messy.moe");
      const pretty = join(dir, "pretty.moe");
      writeFileSync(messy, MESSY);
      writeFileSync(pretty, PRETTY);
      const io = captureIo();
      expect(await fmtCommand.run(io, [messy, pretty], { check: true })).toBe(1);
      expect(readFileSync(messy, "utf8")).toBe(MESSY);
      expect(io.stdout).toEqual([`${messy}: would be reformatted`]);
      expect(io.stderr.join("\n")).toContain("1 file would be reformatted");
      const io2 = captureIo();
      expect(await fmtCommand.run(io2, [pretty], { check: true })).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a file with syntax errors is reported with diagnostics and left alone; the others are still formatted", async () => {
    const dir = tmp();
    try {
      const broken = join(dir, "broken.moe");
      const messy = join(dir, "messy.moe");
      writeFileSync(broken, BROKEN);
      writeFileSync(messy, MESSY);
      const io = captureIo();
      expect(await fmtCommand.run(io, [broken, messy], {})).toBe(1);
      expect(readFileSync(broken, "utf8")).toBe(BROKEN);
      expect(readFileSync(messy, "utf8")).toBe(PRETTY);
      const err = io.stderr.join("\n");
      expect(err).toMatch(/error\[?MOE1004\]?|MOE1004/);
      expect(err).toContain(`${broken}:3:`);
      expect(err).toContain("1 file not formatted because of errors");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a missing file is MOE6001; no files is a usage error", async () => {
    const io = captureIo();
    expect(await fmtCommand.run(io, [join(tmpdir(), "no-such-moec-file.moe")], {})).toBe(1);
    expect(io.stderr.join("\n")).toContain("MOE6001");
    await expect(fmtCommand.run(captureIo(), [], {})).rejects.toBeInstanceOf(UsageError);
  });

  it("keeps CRLF line endings when rewriting", async () => {
    const dir = tmp();
    try {
      const f = join(dir, "crlf.moe");
      writeFileSync(f, MESSY.replace(/\n/g, "\r\n"));
      expect(await fmtCommand.run(captureIo(), [f], {})).toBe(0);
      expect(readFileSync(f, "utf8")).toBe(PRETTY.replace(/\n/g, "\r\n"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
