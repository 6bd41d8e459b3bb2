// Requests the first suites did not try: bodies over the limit (announced or chunked), 64-bit
// seeds, malformed token-id prompts, options moec would otherwise ignore silently (tools,
// structured output), and the reply shapes OpenAI's API reference gives (usage: null on every
// chunk but the last with stream_options.include_usage; message.refusal).
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { events, startServer, type TestServer } from "../helpers/serve.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ slots: 2, maxQueue: 4, maxBodyBytes: 1 << 16 });
});
afterAll(() => srv.close());

const post = async (path: string, body: unknown) => {
  const r = await fetch(`${srv.url}${path}`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: r.status, json: (await r.json()) as any };
};

/** A raw request whose body is sent in chunks with no Content-Length, as a streaming client would. */
function chunked(path: string, parts: number, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.url);
    const req = request({ host: u.hostname, port: u.port, path, method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
    let i = 0;
    const more = () => {
      while (i < parts) {
        i++;
        if (!req.write("x".repeat(size))) return void req.once("drain", more);
      }
      req.end();
    };
    more();
  });
}

describe("moec serve: bodies over the limit", () => {
  it("answer 413 naming the limit, announced by Content-Length or not, and the server goes on", async () => {
    const big = { prompt: "x".repeat(1 << 17) };
    const r = await post("/v1/completions", big);
    expect(r.status).toBe(413);
    expect(r.json.error.message).toMatch(/over 65536 bytes/);
    const c = await chunked("/v1/completions", 40, 4096);
    expect(c.status).toBe(413);
    expect(JSON.parse(c.body).error.message).toMatch(/over 65536 bytes/);
    expect((await post("/v1/completions", { prompt: "still here", max_tokens: 2 })).status).toBe(200);
  });
});

describe("moec serve: request fields", () => {
  it("takes any integer seed (64-bit ones too), the same seed giving the same text", async () => {
    for (const seed of [2 ** 63 - 1, -(2 ** 62), 1e30]) {
      const a = await post("/v1/completions", { prompt: "seeded", max_tokens: 4, temperature: 1, seed });
      expect(a.status, String(seed)).toBe(200);
      const b = await post("/v1/completions", { prompt: "seeded", max_tokens: 4, temperature: 1, seed });
      expect(b.json.choices[0].text).toBe(a.json.choices[0].text);
    }
  });

  it("names the bad element of a token-id prompt", async () => {
    for (const [prompt, at, shown] of [[[1, 2, -3], 2, "-3"], [[4, 1.5], 1, "1.5"], [[-1], 0, "-1"]] as const) {
      const r = await post("/v1/completions", { prompt });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("prompt");
      expect(r.json.error.message).toBe(`'prompt[${at}]' is ${shown}; token ids are integers ≥ 0`);
    }
  });

  it("refuses what it would otherwise ignore silently: tools, tool_choice, functions, response_format", async () => {
    const messages = [{ role: "user", content: "hi" }];
    const cases: [string, unknown][] = [
      ["tools", [{ type: "function", function: { name: "f", parameters: {} } }]],
      ["tool_choice", "required"],
      ["tool_choice", { type: "function", function: { name: "f" } }],
      ["functions", [{ name: "f" }]],
      ["function_call", { name: "f" }],
      ["response_format", { type: "json_object" }],
      ["response_format", { type: "json_schema", json_schema: { name: "x", schema: {} } }],
    ];
    for (const [field, value] of cases) {
      const r = await post("/v1/chat/completions", { messages, [field]: value });
      expect(r.status, field).toBe(400);
      expect(r.json.error.param).toBe(field);
      expect(r.json.error.message).toMatch(/is not supported by moec serve; leave it out/);
    }
    // Their neutral values change nothing and pass.
    for (const neutral of [{ tools: [] }, { tool_choice: "none" }, { tool_choice: "auto" }, { response_format: { type: "text" } }]) {
      expect((await post("/v1/chat/completions", { messages, max_tokens: 2, ...neutral })).status, JSON.stringify(neutral)).toBe(200);
    }
  });

  it("a chat prompt too long for the context says so in words", async () => {
    const r = await post("/v1/chat/completions", { messages: [{ role: "user", content: "y".repeat(300) }] });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("messages");
    expect(r.json.error.message).toMatch(/^the prompt the messages make is \d+ tokens; the context holds 128/);
  });
});

describe("moec serve: reply shapes (OpenAI's API reference)", () => {
  it("with include_usage every chunk carries usage, null but on the last one; without it none does", async () => {
    for (const path of ["/v1/chat/completions", "/v1/completions"]) {
      const body = path.includes("chat") ? { messages: [{ role: "user", content: "hi" }] } : { prompt: "hi" };
      for (const include of [true, false]) {
        const res = await fetch(`${srv.url}${path}`, { method: "POST", body: JSON.stringify({ ...body, max_tokens: 5, temperature: 0, stream: true, ...(include ? { stream_options: { include_usage: true } } : {}) }) });
        const chunks = [];
        for await (const e of events(res)) chunks.push(e);
        if (include) {
          expect(chunks.slice(0, -1).every((c) => "usage" in c && c.usage === null), path).toBe(true);
          expect(chunks.at(-1)!.choices).toEqual([]);
          expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: 5 });
        } else expect(chunks.some((c) => "usage" in c), path).toBe(false);
      }
    }
  });

  it("a whole chat reply's message has role, content and refusal", async () => {
    const r = await post("/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], max_tokens: 3 });
    expect(Object.keys(r.json.choices[0].message).sort()).toEqual(["content", "refusal", "role"]);
    expect(r.json.choices[0].message.refusal).toBeNull();
  });
});
