// The generated TextMate grammar, run through the same engine VS Code uses (vscode-textmate
// with the oniguruma WASM): representative lines get the expected scopes, and every keyword,
// number, string and comment token the compiler's lexer finds in the examples is coloured
// as such. Also checks that the committed grammar is what the generator produces now.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseSource } from "../../compiler/syntax/parse.js";
import * as T from "../../compiler/syntax/tokens.js";
import { GRAMMAR_PATH, grammarText } from "../../editors/vscode/scripts/gen-grammar.js";

type TM = typeof import("vscode-textmate");
type Onig = typeof import("vscode-oniguruma");
const require = createRequire(import.meta.url);
const tm = require("vscode-textmate") as TM;
const onig = require("vscode-oniguruma") as Onig;

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLES = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".moe"));

interface Tok {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly scopes: readonly string[];
}

let grammar: import("vscode-textmate").IGrammar;

beforeAll(async () => {
  const wasm = readFileSync(join(ROOT, "node_modules/vscode-oniguruma/release/onig.wasm"));
  await onig.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer);
  const registry = new tm.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (p: string[]) => new onig.OnigScanner(p), createOnigString: (s: string) => new onig.OnigString(s) }),
    loadGrammar: async (scope: string) => (scope === "source.moe" ? tm.parseRawGrammar(readFileSync(GRAMMAR_PATH, "utf8"), GRAMMAR_PATH) : null),
  });
  const g = await registry.loadGrammar("source.moe");
  if (!g) throw new Error("grammar did not load");
  grammar = g;
});

/** Tokenizes a whole text; offsets are into the text (lines split on \n, as the examples are). */
function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let stack = tm.INITIAL;
  let offset = 0;
  for (const line of text.split("\n")) {
    const r = grammar.tokenizeLine(line, stack);
    for (const t of r.tokens) out.push({ start: offset + t.startIndex, end: offset + Math.min(t.endIndex, line.length), text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    stack = r.ruleStack;
    offset += line.length + 1;
  }
  return out;
}

/** The scopes of the token that starts exactly at `needle` (the nth match) in `text`. */
function scopesAt(text: string, needle: string, nth = 0, delta = 0): string[] {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`'${needle}' not found`);
  const t = tokenize(text).find((x) => x.start <= at + delta && at + delta < x.end);
  return t ? [...t.scopes] : [];
}

function has(scopes: readonly string[], prefix: string): boolean {
  return scopes.some((s) => s === prefix || s.startsWith(prefix + "."));
}

describe("the generated grammar", () => {
  it("is up to date with the token definitions and BUILTINS", () => {
    expect(readFileSync(GRAMMAR_PATH, "utf8")).toBe(grammarText());
  });

  it("scopes representative lines", () => {
    const src = [
      "// a line comment",
      "/* a block",
      "   comment */",
      "model Tiny {",
      "  const d = 64, eps = 1e-5, big = 2.5E+3",
      "  expert SwiGLU(x: [T, d], ffn: int = 4) -> [T, d] {",
      '    return linear(silu(linear(x, ffn) @ "w1") * x, d) @ "experts.{e}.w2"',
      "  }",
      "  input tokens: i32[seq]",
      '  h = embed(tokens, 32, d) @ "model.layers.{i}"',
      "  for i in 0..2 { h = h + moe(h, experts = 4 of SwiGLU, router = topk(k = 2, renormalize = true, input = h)) }",
      "  w = if d == 64 then 1 else none",
      '  s = "esc\\"aped"',
      "  output y = h ** 2 - f32_x % 3",
      "}",
    ].join("\n");
    expect(has(scopesAt(src, "// a line"), "comment.line.double-slash.moe")).toBe(true);
    expect(has(scopesAt(src, "/* a block"), "comment.block.moe")).toBe(true);
    expect(has(scopesAt(src, "comment */"), "comment.block.moe")).toBe(true);
    expect(scopesAt(src, "model Tiny")).toContain("storage.type.model.moe");
    expect(scopesAt(src, "Tiny")).toContain("entity.name.type.model.moe");
    expect(scopesAt(src, "const d")).toContain("storage.type.const.moe");
    expect(scopesAt(src, "64,")).toContain("constant.numeric.decimal.moe");
    // 1e-5 is one number, not 1, e and -5.
    const eps = tokenize(src).find((t) => t.text === "1e-5");
    expect(eps?.scopes).toContain("constant.numeric.decimal.moe");
    expect(tokenize(src).find((t) => t.text === "2.5E+3")?.scopes).toContain("constant.numeric.decimal.moe");
    expect(scopesAt(src, "expert SwiGLU")).toContain("storage.type.expert.moe");
    expect(scopesAt(src, "SwiGLU(x")).toContain("entity.name.function.expert.moe");
    expect(scopesAt(src, "x: [T")).toContain("variable.parameter.moe");
    expect(scopesAt(src, "int = 4")).toContain("support.type.moe");
    expect(scopesAt(src, "i32[seq]")).toContain("support.type.moe");
    expect(scopesAt(src, "->")).toContain("keyword.operator.arrow.moe");
    expect(scopesAt(src, "return")).toContain("keyword.control.return.moe");
    expect(scopesAt(src, "linear(silu")).toContain("support.function.builtin.moe");
    expect(scopesAt(src, "silu(")).toContain("support.function.builtin.moe");
    expect(scopesAt(src, "topk(")).toContain("support.function.builtin.record.moe");
    expect(scopesAt(src, "moe(h")).toContain("support.function.builtin.moe");
    // Weight names: the @, the string, and the placeholders in it.
    expect(scopesAt(src, '@ "w1"')).toContain("keyword.operator.weight-name.moe");
    expect(scopesAt(src, '"w1"')).toContain("string.quoted.double.weight-name.moe");
    expect(scopesAt(src, "{e}")).toContain("variable.other.placeholder.moe");
    expect(scopesAt(src, "{i}")).toContain("variable.other.placeholder.moe");
    expect(scopesAt(src, "{i}")).toContain("string.quoted.double.weight-name.moe");
    expect(scopesAt(src, '\\"aped')).toContain("constant.character.escape.moe");
    expect(scopesAt(src, '"esc')).toContain("string.quoted.double.moe");
    expect(scopesAt(src, "for i")).toContain("keyword.control.loop.moe");
    expect(scopesAt(src, "i in 0")).toContain("variable.other.loop.moe");
    expect(scopesAt(src, "..2")).toContain("keyword.operator.range.moe");
    expect(scopesAt(src, "of SwiGLU")).toContain("keyword.operator.of.moe");
    // Keyword arguments inside calls; a keyword used as one (`input = h`) stays a keyword.
    expect(scopesAt(src, "experts = 4")).toContain("variable.parameter.keyword-argument.moe");
    expect(scopesAt(src, "renormalize")).toContain("variable.parameter.keyword-argument.moe");
    expect(scopesAt(src, "true")).toContain("constant.language.boolean.moe");
    expect(scopesAt(src, "input = h")).toContain("storage.type.input.moe");
    expect(scopesAt(src, "h = embed")).not.toContain("variable.parameter.keyword-argument.moe");
    expect(scopesAt(src, "==")).toContain("keyword.operator.comparison.moe");
    expect(scopesAt(src, "if d")).toContain("keyword.control.conditional.moe");
    expect(scopesAt(src, "then")).toContain("keyword.control.conditional.moe");
    expect(scopesAt(src, "none")).toContain("constant.language.none.moe");
    expect(scopesAt(src, "**")).toContain("keyword.operator.arithmetic.moe");
    expect(scopesAt(src, "% 3")).toContain("keyword.operator.arithmetic.moe");
    expect(scopesAt(src, "- f32_x")).toContain("keyword.operator.arithmetic.moe");
    // A number inside a name is part of the name.
    expect(scopesAt(src, "f32_x", 0, 1)).not.toContain("constant.numeric.decimal.moe");
    expect(scopesAt(src, "output y")).toContain("storage.type.output.moe");
    expect(scopesAt(src, "y = h")).toContain("entity.name.variable.output.moe");
  });

  it("an unterminated string stops at the end of its line", () => {
    const src = 'x = "open\ny = 1';
    expect(scopesAt(src, '"open')).toContain("invalid.illegal.unterminated-string.moe");
    expect(scopesAt(src, "1")).toContain("constant.numeric.decimal.moe");
  });

  describe.each(EXAMPLES)("examples/%s", (file) => {
    it("colours every keyword, number, string and comment the lexer finds", () => {
      const text = readFileSync(join(ROOT, "examples", file), "utf8");
      const toks = tokenize(text);
      const parsed = parseSource(file, text);
      const lexed = [
        ...parsed.tokens.map((t) => ({ start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, type: t.tokenType })),
        ...parsed.program.comments.map((c) => ({ start: c.span.start, end: c.span.end, type: T.LineComment })),
      ];
      let checked = 0;
      for (const l of lexed) {
        const kind = l.type === T.NumberLiteral ? "number" : l.type === T.StringLiteral ? "string" : l.type === T.LineComment ? "comment" : l.type.CATEGORIES?.includes(T.KeywordCategory) ? "keyword" : null;
        if (!kind) continue;
        const want =
          kind === "number" ? /^constant\.numeric\./ : kind === "string" ? /^string\.quoted\./ : kind === "comment" ? /^comment\./ : /^(keyword|storage\.type|constant\.language)\./;
        const covering = toks.filter((t) => t.end > l.start && t.start < l.end && t.end > t.start);
        expect(covering.length, `${file}: no TextMate token at ${text.slice(l.start, l.end)}`).toBeGreaterThan(0);
        for (const t of covering) {
          // Inside strings, placeholders and escapes are nested scopes of the string: still a string.
          const ok = t.scopes.some((s) => want.test(s));
          expect(ok, `${file}: '${t.text}' (${kind} '${text.slice(l.start, l.end)}') has scopes ${t.scopes.join(" ")}`).toBe(true);
          expect(t.scopes.length).toBeGreaterThan(1);
        }
        // The TextMate token starts where the lexer's does: the grammar splits the text the same way.
        expect(covering[0]!.start, `${file}: '${text.slice(l.start, l.end)}'`).toBe(l.start);
        checked++;
      }
      expect(checked).toBeGreaterThan(30);
    });

    it("gives every builtin call a support.function scope", () => {
      const text = readFileSync(join(ROOT, "examples", file), "utf8");
      const toks = tokenize(text);
      for (const m of text.matchAll(/\b(linear|rmsnorm|attention|moe|topk|embed|silu|mla|rope|layernorm|gelu|swiglu)\(/g)) {
        const line = text.lastIndexOf("\n", m.index) + 1;
        if (text.slice(line, m.index).includes("//")) continue; // in a comment
        const t = toks.find((x) => x.start === m.index);
        expect(t?.scopes.some((s) => s.startsWith("support.function.builtin")), `${file}: ${m[1]} at ${m.index}`).toBe(true);
      }
    });
  });
});
