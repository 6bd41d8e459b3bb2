// The official `openai` client against moec serve: chat and completions, streaming and not.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../helpers/serve.js";

let srv: TestServer;
let client: OpenAI;
beforeAll(async () => {
  srv = await startServer({ apiKey: "sekret" });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "sekret", maxRetries: 0 });
});
afterAll(() => srv.close());

describe("moec serve with the openai client", () => {
  it("lists the model", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["Qwen3Moe"]);
  });

  it("chat completion, whole and streamed, give the same greedy text and usage", async () => {
    const messages = [{ role: "user" as const, content: "Say something." }];
    const whole = await client.chat.completions.create({ model: "Qwen3Moe", messages, max_tokens: 10, temperature: 0 });
    expect(whole.object).toBe("chat.completion");
    expect(whole.choices[0]!.message.role).toBe("assistant");
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    expect(whole.usage!.total_tokens).toBe(whole.usage!.prompt_tokens + whole.usage!.completion_tokens);
    const stream = await client.chat.completions.create({ model: "Qwen3Moe", messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta.content ?? "";
        finish ??= c.finish_reason;
      }
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage).toEqual(whole.usage);
  });

  it("text completion, whole and streamed; seeded sampling repeats", async () => {
    const whole = await client.completions.create({ model: "Qwen3Moe", prompt: "The cat sat on", max_tokens: 8, temperature: 0.8, seed: 7 });
    expect(whole.object).toBe("text_completion");
    const again = await client.completions.create({ model: "Qwen3Moe", prompt: "The cat sat on", max_tokens: 8, temperature: 0.8, seed: 7 });
    expect(again.choices[0]!.text).toBe(whole.choices[0]!.text);
    const stream = await client.completions.create({ model: "Qwen3Moe", prompt: "The cat sat on", max_tokens: 8, temperature: 0.8, seed: 7, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(whole.choices[0]!.text);
  });

  it("stop strings end the text before them", async () => {
    const free = await client.completions.create({ model: "Qwen3Moe", prompt: "abc", max_tokens: 12, temperature: 0 });
    const text = free.choices[0]!.text;
    const cut = [...text].slice(2, 4).join("");
    const stopped = await client.completions.create({ model: "Qwen3Moe", prompt: "abc", max_tokens: 12, temperature: 0, stop: [cut] });
    expect(stopped.choices[0]!.text).toBe(text.slice(0, text.indexOf(cut)));
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
  });

  it("refuses a wrong API key with 401", async () => {
    const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await expect(bad.models.list()).rejects.toMatchObject({ status: 401 });
  });
});
