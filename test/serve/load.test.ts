// Many clients at once: 32 concurrent streaming requests are all answered, each with exactly the
// text the same prompt gets alone (greedy); clients that disconnect midway free their slots; a
// full queue answers 503; malformed requests get 400 naming the field; a graceful close lets the
// running request finish and refuses new ones.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { events, startServer, type TestServer } from "../helpers/serve.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ slots: 8, maxQueue: 64 });
});
afterAll(() => srv.close());

const prompt = (i: number) => `client ${i}: ${"the quick brown fox ".slice(0, 5 + (i % 13))}`;

async function stream(url: string, body: object, signal?: AbortSignal, onFirst?: () => void): Promise<{ text: string; finish: string | null; usage: any }> {
  const res = await fetch(`${url}/v1/completions`, { method: "POST", body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }), headers: { "content-type": "application/json" }, ...(signal ? { signal } : {}) });
  expect(res.status).toBe(200);
  let text = "";
  let finish: string | null = null;
  let usage;
  for await (const e of events(res)) {
    if (e.usage) usage = e.usage;
    for (const c of e.choices) {
      text += c.text;
      finish ??= c.finish_reason;
    }
    onFirst?.();
  }
  return { text, finish, usage };
}

describe("moec serve under load", () => {
  it("32 concurrent streaming clients: every one answered, each as its prompt alone (greedy)", async () => {
    const n = 32;
    const body = (i: number) => ({ prompt: prompt(i), max_tokens: 6 + (i % 7), temperature: 0 });
    const stepsBefore = srv.scheduler.stats.steps;
    const together = await Promise.all(Array.from({ length: n }, (_, i) => stream(srv.url, body(i))));
    const batchedSteps = srv.scheduler.stats.steps - stepsBefore;
    expect(srv.scheduler.stats.maxBatch).toBe(8);
    const alone = [];
    for (let i = 0; i < n; i++) alone.push(await stream(srv.url, body(i)));
    for (let i = 0; i < n; i++) {
      expect(together[i]!.text, `client ${i}`).toBe(alone[i]!.text);
      expect(together[i]!.usage, `client ${i}`).toEqual(alone[i]!.usage);
      expect(together[i]!.finish).not.toBeNull();
    }
    // Batched: far fewer forward passes than the requests' tokens.
    const tokens = alone.reduce((s, r) => s + r.usage.completion_tokens, 0);
    expect(batchedSteps).toBeLessThan(tokens / 3);
  });

  it("clients that disconnect midway free their slots; the server goes on serving", async () => {
    const controllers = Array.from({ length: 12 }, () => new AbortController());
    const runs = controllers.map((c, i) =>
      stream(srv.url, { prompt: prompt(i), max_tokens: 100, temperature: 0 }, c.signal, () => c.abort()).catch((e: Error) => e.name),
    );
    expect(await Promise.all(runs)).toEqual(controllers.map(() => "AbortError"));
    await srv.scheduler.idle();
    expect([srv.scheduler.busy, srv.scheduler.queued]).toEqual([0, 0]);
    const health = await (await fetch(`${srv.url}/health`)).json();
    expect(health).toMatchObject({ status: "ok", slots: 8, busy: 0, queued: 0 });
    const after = await stream(srv.url, { prompt: prompt(1), max_tokens: 5, temperature: 0 });
    expect(after.usage.completion_tokens).toBeGreaterThan(0);
  });

  it("malformed requests get 400 with the field named", async () => {
    const post = async (path: string, body: string) => {
      const r = await fetch(`${srv.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } });
      return { status: r.status, error: ((await r.json()) as any).error };
    };
    const cases: [string, string, string | null, RegExp][] = [
      ["/v1/completions", "{not json", null, /not valid JSON/],
      ["/v1/completions", "[1,2]", null, /must be a JSON object/],
      ["/v1/completions", "{}", "prompt", /'prompt' must be a non-empty string/],
      ["/v1/completions", JSON.stringify({ prompt: "x", max_tokens: -3 }), "max_tokens", /positive integer/],
      ["/v1/completions", JSON.stringify({ prompt: "x", max_tokens: 1000 }), "max_tokens", /leaves room for \d+ in the 128-token context/],
      ["/v1/completions", JSON.stringify({ prompt: "x".repeat(400) }), "prompt", /the prompt is 400 tokens; the context holds 128/],
      ["/v1/completions", JSON.stringify({ prompt: "x", temperature: "warm" }), "temperature", /'temperature' must be a number/],
      ["/v1/completions", JSON.stringify({ prompt: "x", stop: [1] }), "stop", /'stop' must be a string or an array/],
      ["/v1/completions", JSON.stringify({ prompt: "x", stream: "yes" }), "stream", /'stream' must be true or false/],
      ["/v1/completions", JSON.stringify({ prompt: "x", n: 3 }), "n", /'n' other than 1 is not supported/],
      ["/v1/completions", JSON.stringify({ prompt: [5, 999] }), "prompt", /token id 999 is outside the vocabulary/],
      ["/v1/chat/completions", JSON.stringify({ messages: [] }), "messages", /non-empty array/],
      ["/v1/chat/completions", JSON.stringify({ messages: [{ role: "wizard", content: "hi" }] }), "messages[0].role", /must be one of/],
      ["/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: 5 }] }), "messages[0].content", /string or an array of text parts/],
      ["/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: [{ type: "image_url" }] }] }), "messages[0].content[0].type", /text parts only/],
    ];
    for (const [path, body, param, message] of cases) {
      const r = await post(path, body);
      expect(r.status, body).toBe(400);
      expect(r.error.param, body).toBe(param);
      expect(r.error.message, body).toMatch(message);
      expect(r.error.type).toBe("invalid_request_error");
    }
    expect((await fetch(`${srv.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${srv.url}/v1/completions`)).status).toBe(405);
    expect([srv.scheduler.busy, srv.scheduler.queued]).toEqual([0, 0]);
  });
});

describe("moec serve limits and shutdown", () => {
  it("a full queue answers 503; a graceful close finishes the running request and refuses new ones", async () => {
    const small = await startServer({ slots: 1, maxQueue: 0, maxContext: 4096 });
    try {
      // A request that holds the only slot for thousands of steps while the next one is refused.
      const hold = new AbortController();
      let firstChunk!: () => void;
      const started = new Promise<void>((r) => (firstChunk = r));
      const holder = stream(small.url, { prompt: "hold the slot", max_tokens: 4000, temperature: 0 }, hold.signal, () => firstChunk()).catch((e: Error) => e.name);
      await started;
      const busy = await fetch(`${small.url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: "me too" }) });
      expect(busy.status).toBe(503);
      expect(busy.headers.get("retry-after")).toBe("1");
      expect(((await busy.json()) as any).error.message).toMatch(/the server is busy: all 1 sequence slots are in use and 0 requests are waiting/);
      hold.abort();
      expect(await holder).toBe("AbortError");
      await small.scheduler.idle();
      // Closing while a request runs: it still gets its whole reply.
      let next!: () => void;
      const second = new Promise<void>((r) => (next = r));
      const running = stream(small.url, { prompt: "finish me", max_tokens: 40, temperature: 0 }, undefined, () => next());
      await second;
      const closing = small.close(60_000);
      const done = await running;
      expect(done.finish).toBe("length");
      expect(done.usage.completion_tokens).toBe(40);
      await closing;
      await expect(fetch(`${small.url}/health`)).rejects.toThrow();
    } finally {
      await small.close().catch(() => {});
    }
  });
});
