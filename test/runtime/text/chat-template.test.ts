// Chat templates render as transformers' apply_chat_template does (recorded by record.py with
// transformers 5.17.0 and Jinja2), for the published templates that ship in tokenizer_config.json.
import { describe, expect, it } from "vitest";
import { CHATS, referenceOf, tokenizerOf } from "../../helpers/text.js";

for (const name of ["qwen3", "deepseek_v3", "tiny"]) {
  describe(`${name} chat template`, () => {
    const ref = referenceOf(name);
    for (const c of ref.chat) {
      it(`${c.name}, add_generation_prompt=${c.add_generation_prompt}`, () => {
        const tok = tokenizerOf(name);
        const chat = CHATS.find((x) => x.name === c.name)!;
        const text = tok.applyChatTemplate(chat.messages, { addGenerationPrompt: c.add_generation_prompt, variables: c.kwargs });
        expect(text).toBe(c.text.ok);
        // transformers 5 rebuilds DeepSeek-V3's tokenizer as a Llama one, so its ids are not a reference there.
        if (name !== "deepseek_v3") expect(tok.encode(text, { addSpecialTokens: false })).toEqual(c.ids.ok);
      });
    }
  });
}

describe("tokenizers without a chat template", () => {
  it("say so, and name the places a template would come from", () => {
    expect(() => tokenizerOf("llama2").applyChatTemplate([{ role: "user", content: "hi" }])).toThrow(/has no chat template \(no "chat_template" in tokenizer_config.json, no chat_template.jinja/);
  });
});
