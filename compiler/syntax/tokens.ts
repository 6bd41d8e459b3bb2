// The lexer's token definitions: the single source of truth for the .moe vocabulary.
// The TextMate grammar for editors is generated from this list (dsl-spec/editor).
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

/** Keywords are identifiers with a fixed meaning; `longer_alt` keeps `models` an identifier. */
function keyword(word: string): TokenType {
  return createToken({ name: word[0]!.toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier, categories: [KeywordCategory] });
}
export const KeywordCategory = createToken({ name: "Keyword", pattern: Lexer.NA });

export const Model = keyword("model");
export const Const = keyword("const");
export const Block = keyword("block");
export const Expert = keyword("expert");
export const Input = keyword("input");
export const Output = keyword("output");
export const Return = keyword("return");
export const If = keyword("if");
export const Then = keyword("then");
export const Else = keyword("else");
export const For = keyword("for");
export const In = keyword("in");
export const Of = keyword("of");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");
export const True = keyword("true");
export const False = keyword("false");
export const None = keyword("none");

export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/ });
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"[^"\\\n]*(?:\\.[^"\\\n]*)*"/ });

export const Arrow = createToken({ name: "Arrow", pattern: /->/ });
export const DotDot = createToken({ name: "DotDot", pattern: /\.\./ });
export const EqEq = createToken({ name: "EqEq", pattern: /==/ });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/ });
export const LessEq = createToken({ name: "LessEq", pattern: /<=/ });
export const GreaterEq = createToken({ name: "GreaterEq", pattern: />=/ });
export const Less = createToken({ name: "Less", pattern: /</ });
export const Greater = createToken({ name: "Greater", pattern: />/ });
export const Equals = createToken({ name: "Equals", pattern: /=/ });
export const Plus = createToken({ name: "Plus", pattern: /\+/ });
export const Minus = createToken({ name: "Minus", pattern: /-/ });
export const StarStar = createToken({ name: "StarStar", pattern: /\*\*/ });
export const Star = createToken({ name: "Star", pattern: /\*/ });
export const Slash = createToken({ name: "Slash", pattern: /\// });
export const Percent = createToken({ name: "Percent", pattern: /%/ });
export const At = createToken({ name: "At", pattern: /@/ });
export const Colon = createToken({ name: "Colon", pattern: /:/ });
export const Comma = createToken({ name: "Comma", pattern: /,/ });
export const Dot = createToken({ name: "Dot", pattern: /\./ });
export const LParen = createToken({ name: "LParen", pattern: /\(/ });
export const RParen = createToken({ name: "RParen", pattern: /\)/ });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/ });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/ });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/ });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/ });

/** Comments are kept in their own group: the formatter and the language server need them. */
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n\r]*/, group: "comments" });
export const BlockComment = createToken({ name: "BlockComment", pattern: /\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\//, group: "comments", line_breaks: true });
/** Lexed only so the lexer can report them precisely (MOE1002, MOE1003) instead of as junk. */
export const UnterminatedBlockComment = createToken({ name: "UnterminatedBlockComment", pattern: /\/\*[\s\S]*/, group: "comments", line_breaks: true });
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"[^"\n]*/ });
export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED, line_breaks: true });

export const keywords: readonly TokenType[] = [
  Model, Const, Block, Expert, Input, Output, Return, If, Then, Else, For, In, Of, And, Or, Not, True, False, None,
];

// Order matters: comments before '/', longer operators before their prefixes, keywords before Identifier.
export const allTokens: readonly TokenType[] = [
  WhiteSpace, BlockComment, UnterminatedBlockComment, LineComment,
  Arrow, DotDot, EqEq, NotEq, LessEq, GreaterEq, Less, Greater, Equals,
  Plus, Minus, StarStar, Star, Slash, Percent, At, Colon, Comma, Dot,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace,
  NumberLiteral, StringLiteral, UnterminatedString,
  KeywordCategory, ...keywords, Identifier,
];
