// Streaming text: pieces are valid UTF-8 and add up to the whole decode; stop strings cut the
// text before them even when they arrive split across pieces; Model.generate takes text.
import { describe, expect, it } from "vitest";
import { TextContinuation } from "../../../runtime/text/continuation.js";
import { DetokenizeStream } from "../../../runtime/text/detokenize.js";
import { StopMatcher } from "../../../runtime/text/stop.js";
import { PUBLISHED, referenceOf, tokenizerOf } from "../../helpers/text.js";

describe("DetokenizeStream", () => {
  for (const name of [...PUBLISHED, "tiny"]) {
    it(`${name}: pieces never end in a broken character and concatenate to the Python decode`, () => {
      const tok = tokenizerOf(name);
      const decode = (ids: readonly number[]) => tok.decode(ids);
      for (const e of referenceOf(name).encode) {
        const ids = e.ids_no_special;
        if (ids.length < 2) continue;
        // The first three tokens are the context (a prompt); the rest are "generated".
        const ctx = ids.slice(0, 3);
        const s = new DetokenizeStream(decode, ctx);
        const pieces = ids.slice(3).map((id) => s.push(id));
        pieces.push(s.flush());
        const whole = decode(ids);
        const text = e.text.toWellFormed?.() ?? e.text;
        // A character the context leaves incomplete is completed, and released, by the generated tokens.
        expect(pieces.join(""), JSON.stringify(e.text)).toBe(whole.slice(decode(ctx).replace(/\uFFFD+$/, "").length));
        // Only a character really in the text may be U+FFFD (the corpus has lone surrogates).
        for (const p of pieces) if (p.includes("\uFFFD")) expect(text).toContain("\uFFFD");
      }
    });
  }

  it("holds back the bytes of a character split across tokens", () => {
    const tok = tokenizerOf("tiny");
    const ids = tok.encode("a😀b", { addSpecialTokens: false });
    expect(ids.length).toBe(6); // a, four bytes, b
    const s = new DetokenizeStream((x) => tok.decode(x));
    expect(ids.map((id) => s.push(id))).toEqual(["a", "", "", "", "😀", "b"]);
  });
});

describe("StopMatcher", () => {
  it("releases text up to a stop string that arrives in pieces, holding only a possible start", () => {
    const m = new StopMatcher(["STOP", "\n\n"]);
    expect(m.push("hello S")).toEqual({ text: "hello ", stopped: false });
    expect(m.push("T")).toEqual({ text: "", stopped: false });
    expect(m.push("Ox")).toEqual({ text: "STOx", stopped: false });
    expect(m.push("y\n")).toEqual({ text: "y", stopped: false });
    expect(m.push("\nmore")).toEqual({ text: "", stopped: true });
    const n = new StopMatcher(["end"]);
    expect(n.push("the en")).toEqual({ text: "the ", stopped: false });
    expect(n.flush()).toBe("en");
  });
});

describe("TextContinuation", () => {
  it("ends at a stop token (not in the text), a stop string, or the budget", () => {
    const tok = tokenizerOf("tiny");
    const ids = tok.encode("hello world", { addSpecialTokens: false });
    const run = (opts: { stopStrings?: string[]; maxNewTokens: number }, tokens: number[]) => {
      const c = new TextContinuation((x) => tok.decode(x), { promptIds: [], stopTokenIds: tok.eosTokenIds, ...opts });
      let text = "";
      for (const id of tokens) {
        const s = c.push(id);
        text += s.text;
        if (s.finish) return { text, finish: s.finish, n: c.ids.length };
      }
      return { text, finish: null, n: c.ids.length };
    };
    expect(run({ maxNewTokens: 100 }, [...ids, tok.eosTokenIds[0]!, ...ids])).toEqual({ text: "hello world", finish: "stop", n: ids.length });
    expect(run({ maxNewTokens: 100, stopStrings: ["o w"] }, ids)).toMatchObject({ text: "hell", finish: "stop" });
    expect(run({ maxNewTokens: 3 }, ids).finish).toBe("length");
  });
});
