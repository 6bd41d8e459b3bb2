// Generates the TextMate grammar (syntaxes/moe.tmLanguage.json) from the compiler's own
// vocabulary, so the editor colours exactly the language the lexer accepts:
//   - keywords, operators, and the number, string and comment patterns come from the token
//     definitions in compiler/syntax/tokens.ts (their regular expressions are used as they are);
//   - built-in op and record names come from BUILTINS (compiler/sema/builtins.ts), dtypes
//     from DTYPES (compiler/ir/types.ts).
// Only the choice of TextMate scope per token is written here.
//
// Run: npm run gen:grammar (bundles this file with esbuild and runs it). The test in
// test/editor/grammar.test.ts checks that the committed grammar is up to date.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { TokenType } from "chevrotain";
import { DTYPES } from "../../../compiler/ir/types.js";
import { BUILTIN_EXPERTS, BUILTINS } from "../../../compiler/sema/builtins.js";
import * as T from "../../../compiler/syntax/tokens.js";

/** Scalar parameter types (compiler/sema/elaborate.ts keeps them private). */
const SCALAR_TYPES = ["int", "float", "bool", "string"];

type Rule = Record<string, unknown>;

function source(t: TokenType): string {
  const p = t.PATTERN;
  if (!(p instanceof RegExp)) throw new Error(`token ${t.name} has no regular expression`);
  return p.source;
}

function word(t: TokenType): string {
  const s = source(t);
  if (!/^[a-z]+$/.test(s)) throw new Error(`keyword ${t.name} is not a plain word: /${s}/`);
  return s;
}

/** TextMate scope of each keyword, by what it does; a new keyword falls back to keyword.other. */
const KEYWORD_SCOPES: Record<string, string> = {
  model: "storage.type.model",
  const: "storage.type.const",
  block: "storage.type.block",
  expert: "storage.type.expert",
  input: "storage.type.input",
  output: "storage.type.output",
  return: "keyword.control.return",
  if: "keyword.control.conditional",
  then: "keyword.control.conditional",
  else: "keyword.control.conditional",
  for: "keyword.control.loop",
  in: "keyword.control.loop",
  of: "keyword.operator.of",
  and: "keyword.operator.logical",
  or: "keyword.operator.logical",
  not: "keyword.operator.logical",
  true: "constant.language.boolean",
  false: "constant.language.boolean",
  none: "constant.language.none",
};

/** Scopes of the operator and punctuation tokens, by token name; a new operator falls back to keyword.operator. */
const OPERATOR_SCOPES: Record<string, string> = {
  Arrow: "keyword.operator.arrow",
  DotDot: "keyword.operator.range",
  EqEq: "keyword.operator.comparison",
  NotEq: "keyword.operator.comparison",
  LessEq: "keyword.operator.comparison",
  GreaterEq: "keyword.operator.comparison",
  Less: "keyword.operator.comparison",
  Greater: "keyword.operator.comparison",
  Equals: "keyword.operator.assignment",
  Plus: "keyword.operator.arithmetic",
  Minus: "keyword.operator.arithmetic",
  StarStar: "keyword.operator.arithmetic",
  Star: "keyword.operator.arithmetic",
  Slash: "keyword.operator.arithmetic",
  Percent: "keyword.operator.arithmetic",
  At: "keyword.operator.weight-name",
  Colon: "punctuation.separator.colon",
  Comma: "punctuation.separator.comma",
  Dot: "punctuation.accessor.dot",
  LParen: "punctuation.section.parens.begin",
  RParen: "punctuation.section.parens.end",
  LBracket: "punctuation.section.brackets.begin",
  RBracket: "punctuation.section.brackets.end",
  LBrace: "punctuation.section.braces.begin",
  RBrace: "punctuation.section.braces.end",
};

const NOT_OPERATORS = new Set<TokenType>([
  T.WhiteSpace, T.BlockComment, T.UnterminatedBlockComment, T.LineComment, T.NumberLiteral, T.StringLiteral, T.UnterminatedString, T.KeywordCategory, T.Identifier, ...T.keywords,
]);

const alt = (words: readonly string[]) => [...words].sort((a, b) => b.length - a.length || a.localeCompare(b)).join("|");

export function generateGrammar(): Rule {
  const ident = source(T.Identifier);
  const keywords = T.keywords.map(word);
  const kw = (t: TokenType) => word(t);
  const notKeyword = `(?!(?:${alt(keywords)})\\b)`;

  // Strings: the lexer's own pattern; inside it, escapes and {name} placeholders.
  const str = source(T.StringLiteral);
  if (!str.startsWith('"') || !str.endsWith('"')) throw new Error(`strings are expected to be delimited by '"': /${str}/`);
  const stringInside = [
    { match: "\\\\.", name: "constant.character.escape.moe" },
    { match: `\\{${ident}\\}`, name: "variable.other.placeholder.moe" },
    { match: "\\{[^}\"]*\\}?", name: "invalid.illegal.placeholder.moe" },
  ];

  // Block comments span lines, which one TextMate `match` cannot: use the token's delimiters.
  const block = source(T.BlockComment);
  if (!block.startsWith("\\/\\*") || !block.endsWith("\\/")) throw new Error(`block comments are expected to be /* ... */: /${block}/`);

  const keywordRules = T.keywords.map((t) => ({ match: `\\b${kw(t)}\\b`, name: `${KEYWORD_SCOPES[kw(t)] ?? "keyword.other"}.moe` }));
  // One rule per scope keeps the grammar short; the order of allTokens (longest first) is kept within each.
  const operatorRules: Rule[] = [];
  for (const t of T.allTokens) {
    if (NOT_OPERATORS.has(t) || !(t.PATTERN instanceof RegExp)) continue;
    operatorRules.push({ match: source(t), name: `${OPERATOR_SCOPES[t.name] ?? "keyword.operator"}.moe` });
  }

  const ops = [...BUILTINS].filter(([, b]) => b.kind !== "record").map(([n]) => n);
  const records = [...BUILTINS].filter(([, b]) => b.kind === "record").map(([n]) => n);

  return {
    $schema: "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
    name: "MoE",
    scopeName: "source.moe",
    fileTypes: ["moe"],
    comment: "GENERATED by editors/vscode/scripts/gen-grammar.ts from compiler/syntax/tokens.ts and BUILTINS. Do not edit; run npm run gen:grammar.",
    patterns: [
      { include: "#comments" },
      { include: "#declarations" },
      { include: "#weight-names" },
      { include: "#strings" },
      { include: "#numbers" },
      { include: "#keywords" },
      { include: "#types" },
      { include: "#builtins" },
      { include: "#calls" },
      { include: "#arguments" },
      { include: "#operators" },
    ],
    repository: {
      comments: {
        patterns: [
          { begin: "/\\*", end: "\\*/", name: "comment.block.moe", beginCaptures: { 0: { name: "punctuation.definition.comment.begin.moe" } }, endCaptures: { 0: { name: "punctuation.definition.comment.end.moe" } } },
          { match: source(T.LineComment), name: "comment.line.double-slash.moe" },
        ],
      },
      declarations: {
        patterns: [
          {
            match: `\\b(${kw(T.Model)})\\s+(${ident})`,
            captures: { 1: { name: `${KEYWORD_SCOPES["model"]}.moe` }, 2: { name: "entity.name.type.model.moe" } },
          },
          {
            // block Name(params) and expert Name(params): parameter names, then the usual expressions.
            begin: `\\b(${kw(T.Block)}|${kw(T.Expert)})\\s+(${ident})\\s*(\\()`,
            beginCaptures: { 1: { name: "storage.type.$1.moe" }, 2: { name: "entity.name.function.$1.moe" }, 3: { name: "punctuation.section.parens.begin.moe" } },
            end: "\\)",
            endCaptures: { 0: { name: "punctuation.section.parens.end.moe" } },
            patterns: [{ include: "#comments" }, { match: `\\b${notKeyword}(${ident})\\s*(?=:)`, captures: { 1: { name: "variable.parameter.moe" } } }, { include: "$self" }],
          },
          {
            match: `\\b(${kw(T.Input)})\\s+(${ident})`,
            captures: { 1: { name: `${KEYWORD_SCOPES["input"]}.moe` }, 2: { name: "entity.name.variable.input.moe" } },
          },
          {
            match: `\\b(${kw(T.Output)})\\s+(${ident})`,
            captures: { 1: { name: `${KEYWORD_SCOPES["output"]}.moe` }, 2: { name: "entity.name.variable.output.moe" } },
          },
          {
            match: `\\b(${kw(T.Const)})\\s+(${ident})`,
            captures: { 1: { name: `${KEYWORD_SCOPES["const"]}.moe` }, 2: { name: "variable.other.constant.moe" } },
          },
          {
            match: `\\b(${kw(T.For)})\\s+(${ident})\\s+(${kw(T.In)})\\b`,
            captures: { 1: { name: `${KEYWORD_SCOPES["for"]}.moe` }, 2: { name: "variable.other.loop.moe" }, 3: { name: `${KEYWORD_SCOPES["in"]}.moe` } },
          },
        ],
      },
      "weight-names": {
        // `@ "model.layers.{i}"`: the name a call's weights bind to.
        match: `(${source(T.At)})\\s*(${str})`,
        captures: {
          1: { name: `${OPERATOR_SCOPES["At"]}.moe` },
          2: { name: "string.quoted.double.weight-name.moe", patterns: stringInside },
        },
      },
      strings: {
        patterns: [
          { match: str, name: "string.quoted.double.moe", captures: { 0: { patterns: stringInside } } },
          { match: source(T.UnterminatedString), name: "string.quoted.double.moe invalid.illegal.unterminated-string.moe" },
        ],
      },
      numbers: {
        // Not inside a name (`f32`, `x_1`): the lexer reads those as one identifier.
        match: `(?<![A-Za-z0-9_])${source(T.NumberLiteral)}`,
        name: "constant.numeric.decimal.moe",
      },
      keywords: { patterns: keywordRules },
      types: {
        match: `\\b(?:${alt([...DTYPES, ...SCALAR_TYPES])})\\b`,
        name: "support.type.moe",
      },
      builtins: {
        patterns: [
          { match: `\\b(?:${alt(ops)})\\b(?=\\s*\\()`, name: "support.function.builtin.moe" },
          { match: `\\b(?:${alt(records)})\\b(?=\\s*\\()`, name: "support.function.builtin.record.moe" },
          { match: `\\b(?:${alt(BUILTIN_EXPERTS)})\\b`, name: "support.constant.expert.moe" },
        ],
      },
      calls: {
        match: `\\b${notKeyword}(${ident})(?=\\s*\\()`,
        captures: { 1: { name: "entity.name.function.call.moe" } },
      },
      arguments: {
        // Inside parentheses `name =` (not `==`) is a keyword argument.
        begin: "\\(",
        beginCaptures: { 0: { name: "punctuation.section.parens.begin.moe" } },
        end: "\\)",
        endCaptures: { 0: { name: "punctuation.section.parens.end.moe" } },
        patterns: [
          { include: "#comments" },
          { match: `\\b${notKeyword}(${ident})\\s*(=)(?!=)`, captures: { 1: { name: "variable.parameter.keyword-argument.moe" }, 2: { name: "keyword.operator.assignment.moe" } } },
          { include: "$self" },
        ],
      },
      operators: { patterns: operatorRules },
    },
  };
}

export const GRAMMAR_PATH = join(dirname(fileURLToPath(import.meta.url)), "..", "syntaxes", "moe.tmLanguage.json");

export function grammarText(): string {
  return JSON.stringify(generateGrammar(), null, 2) + "\n";
}

// Run as a script (bundled into dist/ by the build): write the grammar next to package.json.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2] ?? GRAMMAR_PATH;
  writeFileSync(out, grammarText());
  console.log(`wrote ${out}`);
}
