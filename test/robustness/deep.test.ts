// Class 6, errors without a place: deeply nested but legal programs must elaborate (the
// elaborator runs on a trampoline, not the call stack), and whatever is still refused for depth
// (the parser's if-chains, the formatter) is refused with a file:line:col, never at 0:0.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSource, type Diagnostic } from "../../compiler/index.js";
import { MAX_TOKENS } from "../../compiler/syntax/parse.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Analysis } from "../../compiler/lsp/analysis.js";
import { hover } from "../../compiler/lsp/hover.js";
import { semanticTokens } from "../../compiler/lsp/semantic-tokens.js";
import { formatSource } from "../../compiler/format/index.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 6, deep programs");

function chainOfBlocks(n: number, op: string): string {
  const blocks = [`  block B0(x: [seq, d]) -> [seq, d] { return x }`];
  for (let i = 1; i < n; i++) blocks.push(`  block B${i}(x: [seq, d]) -> [seq, d] { return B${i - 1}(x)${op} }`);
  return `model Chain {\n  const d = 8\n${blocks.join("\n")}\n  input x: f32[seq, d]\n  output y = B${n - 1}(x)\n}\n`;
}

function longSum(n: number, ops: readonly string[]): string {
  let e = "x";
  for (let i = 1; i < n; i++) e += ` ${ops[i % ops.length]} x`;
  return `model Sum {\n  const d = 8\n  input x: f32[seq, d]\n  output y = ${e}\n}\n`;
}

function constSum(n: number): string {
  return `model CSum {\n  const d = ${Array.from({ length: n }, (_, i) => String((i % 7) + 1)).join(" + ")}\n  input x: f32[seq, 8]\n  output y = x\n}\n`;
}

const placed = (d: Diagnostic) => d.span !== null && d.span.line >= 1 && d.span.column >= 1 && !(d.span.line === 1 && d.span.column === 1 && d.span.start === 0 && d.span.end === 0);

describe("class 6: deep programs elaborate, and depth errors have a place", () => {
  it("chains of nested block calls of any length elaborate", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2500 }), fc.constantFrom("", " + x", " * x"), (n, op) => {
        tally("block chains");
        const r = checkSource("chain.moe", chainOfBlocks(n, op));
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        expect(r.graph).not.toBeNull();
      }),
      runs("block chains", 12),
    );
  });

  it("long sums of tensors and of constants elaborate", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30_000 }), fc.subarray(["+", "-", "*"], { minLength: 1 }), fc.boolean(), (n, ops, tensors) => {
        tally("long sums");
        const r = checkSource("sum.moe", tensors ? longSum(n, ops) : constSum(n));
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        expect(r.graph).not.toBeNull();
      }),
      runs("long sums", 12),
    );
  });

  it("whatever is refused for depth is refused with a file:line:col", () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 20_000 }), fc.constantFrom("cond", "parens", "neg"), (n, kind) => {
        tally("over-deep programs");
        const e =
          kind === "cond" ? `${Array.from({ length: n }, (_, i) => `if c == ${i} then ${i} else `).join("")}0` : kind === "parens" ? `${"(".repeat(n)}1${")".repeat(n)}` : `${"-".repeat(n)}1`;
        const r = checkSource("deep.moe", `model D {\n  const c = 3\n  const z = ${e}\n  input x: f32[seq, 8]\n  output y = x\n}\n`);
        for (const d of r.diagnostics) expect(placed(d), `${d.code} ${d.message} at ${JSON.stringify(d.span)}`).toBe(true);
      }),
      runs("over-deep", 12),
    );
  });

  it("the editor's features work on a 20,000-term sum; the formatter refuses it with MOE6004 at its place", async () => {
    const text = longSum(20_000, ["+"]);
    const a = new Analysis("file:///sum.moe", 1, text);
    tally("editor on a long sum");
    expect(a.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(semanticTokens(a).data.length).toBeGreaterThan(0);
    expect(hover(a, text.indexOf("x +") + 1)).not.toBeNull();
    const err = await formatSource(text, "sum.moe").then(() => null, (e: unknown) => e as { diagnostics: Diagnostic[] });
    tally("editor on a long sum");
    expect(err?.diagnostics[0]?.code).toBe("MOE6004");
    expect(placed(err!.diagnostics[0]!)).toBe(true);
  });

  // Not deep but long: a 14 MB sum (under the 16 MiB size cap) exhausted the heap while parsing (a V8 crash with a native stack).
  it("a file with more tokens than the parser holds is refused with MOE1012 at the first token past the limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_TOKENS + 1, max: MAX_TOKENS + 50_000 }), fc.constantFrom("1+", "x+", ",", "// c\n1+"), (n, unit) => {
        tally("files over the token limit");
        const body = unit.repeat(Math.ceil(n / (unit === "// c\n1+" ? 2 : unit.length)));
        const text = `model M {\n  const a = ${body}1\n}\n`;
        const r = checkSource("long.moe", text);
        expect(r.diagnostics.map((d) => d.code)).toEqual(["MOE1012"]);
        const d = r.diagnostics[0]!;
        expect(placed(d)).toBe(true);
        expect(d.span!.line).toBeGreaterThanOrEqual(2);
        expect(d.message).toBe("The file has too many tokens (over 1,000,000).");
      }),
      runs("token limit", 3),
    );
    // Just under the limit still checks.
    const under = checkSource("under.moe", `model M {\n  const a = ${"1+".repeat((MAX_TOKENS - 40) / 2)}1\n  input x: f32[seq, 8]\n  output y = x\n}\n`);
    expect(under.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    // The CLI: exit 1 with the diagnostic, at once, on a file of 4 million tokens.
    const dir = mkdtempSync(join(tmpdir(), "moec-long-"));
    try {
      const file = join(dir, "long.moe");
      writeFileSync(file, `model M {\n  const a = ${"1+".repeat(2_000_000)}1\n}\n`);
      const r = moec(["check", file], { timeoutMs: 60_000 });
      tally("files over the token limit");
      expect(isCleanFailure(r), r.stderr.slice(0, 300)).toBeNull();
      expect(r.stderr).toMatch(/long\.moe:2:\d+: error MOE1012: The file has too many tokens/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
