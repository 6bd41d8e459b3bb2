// Tokenizers built from published tokenizer.json files must encode and decode exactly as the
// Python `tokenizers` library does (recorded in test/fixtures/text/reference by record.py), on a
// corpus of code, CJK, emoji, whitespace runs, special-token markup and lone surrogates.
import { describe, expect, it } from "vitest";
import { PUBLISHED, referenceOf, tokenizerOf } from "../../helpers/text.js";

for (const name of [...PUBLISHED, "tiny"]) {
  describe(`${name} tokenizer`, () => {
    const ref = referenceOf(name);
    it("encodes the corpus as Python's tokenizers does, with and without special tokens", () => {
      const tok = tokenizerOf(name);
      for (const e of ref.encode) {
        expect(tok.encode(e.text), JSON.stringify(e.text)).toEqual(e.ids);
        expect(tok.encode(e.text, { addSpecialTokens: false }), JSON.stringify(e.text)).toEqual(e.ids_no_special);
      }
    });
    it("decodes as Python's tokenizers does (corpus ids, random ids, cut multi-byte characters), with and without special tokens", () => {
      const tok = tokenizerOf(name);
      for (const d of ref.decode) {
        expect(tok.decode(d.ids), JSON.stringify(d.ids)).toBe(d.text);
        expect(tok.decode(d.ids, { skipSpecialTokens: true }), JSON.stringify(d.ids)).toBe(d.text_skip_special);
      }
    });
    it("knows the vocabulary size and the EOS token", () => {
      const tok = tokenizerOf(name);
      expect(tok.vocabSize).toBe(ref.vocab_size);
      if (ref.special.eos_token_id !== null) expect(tok.eosTokenIds).toContain(ref.special.eos_token_id);
    });
  });
}
