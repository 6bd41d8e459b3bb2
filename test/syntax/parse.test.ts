import { describe, expect, it } from "vitest";
import { parseSource } from "../../compiler/index.js";

const codes = (text: string) => parseSource("t.moe", text).diagnostics.map((d) => `${d.code}@${d.span?.line}:${d.span?.column}`);

describe("parser", () => {
  it("builds an AST with spans, and keeps comments", () => {
    const r = parseSource("t.moe", "// header\nmodel M {\n  const d = 4 /* four */\n  input t: i32[seq]\n  output y = embed(t, 10, d) @ \"emb\"\n}\n");
    expect(r.diagnostics).toEqual([]);
    const m = r.program.models[0]!;
    expect(m.name).toBe("M");
    expect(m.members.map((x) => x.kind)).toEqual(["const", "input", "output"]);
    const out = m.members[2]!;
    expect(out.kind === "output" && out.value.kind).toBe("named");
    expect(out.span.line).toBe(5);
    expect(r.program.comments.map((c) => c.text)).toEqual(["// header", "/* four */"]);
  });

  it("parses precedence: * over +, ** right-associative, comparisons, of, @", () => {
    const r = parseSource("t.moe", "model M { const a = 1 + 2 * 3 ** 2 ** 2, b = -2 ** 2 < 3 and not false\n x = 8 of E @ \"experts.{e}\" }");
    expect(r.diagnostics).toEqual([]);
    const c = r.program.models[0]!.members[0]!;
    if (c.kind !== "const") throw new Error("expected const");
    const a = c.items[0]!.value;
    expect(a.kind === "binary" && a.op).toBe("+");
    const right = a.kind === "binary" ? a.right : null;
    expect(right?.kind === "binary" && right.op).toBe("*");
    const b = c.items[1]!.value;
    expect(b.kind === "binary" && b.op).toBe("and");
  });

  it("reports every syntax error of a file in one run", () => {
    expect(codes("model M {\n const = 3\n h = linear(x,, 3)\n output y = (1 + }\n")).toEqual(["MOE1004@2:8", "MOE1004@3:15", "MOE1004@4:18"]);
  });

  it("names what was expected", () => {
    const d = parseSource("t.moe", "model M { input t i32[seq] }").diagnostics[0]!;
    expect(d.message).toBe("Expected ':' but found 'i32'.");
  });

  it("reports lexical errors precisely", () => {
    expect(codes('model M { const s = "abc\n}')).toContain("MOE1002@1:21");
    expect(codes("model M { const a = 1 $ 2 }")).toContain("MOE1001@1:23");
    expect(codes("model M { } /* never closed")).toContain("MOE1003@1:13");
  });

  it("refuses absurd nesting without overflowing the stack", () => {
    const deep = "model M { const a = " + "(".repeat(5000) + "1" + ")".repeat(5000) + " }";
    expect(codes(deep)[0]).toMatch(/^MOE1007/);
  });

  it("caps the number of errors reported for a garbage file", () => {
    const r = parseSource("t.moe", ") ".repeat(5000));
    expect(r.diagnostics.length).toBeLessThanOrEqual(50);
    expect(r.diagnostics.length).toBeGreaterThan(0);
  });
});
