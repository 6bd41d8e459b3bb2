// The two generation endpoints, /v1/chat/completions and /v1/completions, in OpenAI's shapes:
// a whole JSON reply, or server-sent events (`data: {chunk}` lines, then `data: [DONE]`).
import type { ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { TextTokenizer } from "../../runtime/text/tokenizer.js";
import type { ChatRequest, CompletionRequest } from "./validate.js";
import { RequestError } from "./validate.js";
import type { JobResult, Scheduler } from "./scheduler.js";

export interface Endpoint {
  readonly scheduler: Scheduler;
  readonly tokenizer: TextTokenizer;
  readonly modelName: string;
  readonly maxContext: number;
}

/** The prompt's ids, checked against the context: the prompt and max_tokens must fit in it. */
export function promptOf(req: ChatRequest | CompletionRequest, ep: Endpoint): { ids: number[]; maxTokens: number } {
  let ids: number[];
  if (req.kind === "chat") {
    let text: string;
    try {
      text = ep.tokenizer.applyChatTemplate(req.messages, { addGenerationPrompt: true });
    } catch (e) {
      throw new RequestError("messages", (e as Error).message);
    }
    ids = ep.tokenizer.encode(text, { addSpecialTokens: false });
  } else if (typeof req.prompt === "string") ids = ep.tokenizer.encode(req.prompt);
  else {
    const bad = req.prompt.find((id) => id >= ep.tokenizer.vocabSize);
    if (bad !== undefined) throw new RequestError("prompt", `token id ${bad} is outside the vocabulary (0..${ep.tokenizer.vocabSize - 1})`);
    ids = req.prompt;
  }
  const field = req.kind === "chat" ? "messages" : "prompt";
  if (ids.length === 0) throw new RequestError(field, `the ${field === "messages" ? "prompt the messages make" : "prompt"} encodes to no tokens`);
  if (ids.length >= ep.maxContext) throw new RequestError(field, `the prompt${req.kind === "chat" ? " the messages make" : ""} is ${ids.length} tokens; the context holds ${ep.maxContext} (the prompt and the reply together), so it leaves no room for a reply`);
  const room = ep.maxContext - ids.length;
  if (req.maxTokens !== null && req.maxTokens > room) throw new RequestError("max_tokens", `max_tokens is ${req.maxTokens} but the prompt (${ids.length} tokens) leaves room for ${room} in the ${ep.maxContext}-token context`);
  return { ids, maxTokens: req.maxTokens ?? room };
}

function sse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

/** Runs a validated request and writes its reply; resolves when the reply is written (or the client is gone). */
export async function complete(req: ChatRequest | CompletionRequest, ep: Endpoint, res: ServerResponse, signal: AbortSignal): Promise<JobResult | null> {
  const { ids, maxTokens } = promptOf(req, ep);
  const chat = req.kind === "chat";
  const id = `${chat ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  const object = chat ? "chat.completion" : "text_completion";
  // With stream_options.include_usage, every chunk has a usage field: null except on the last (OpenAI's API reference).
  const base = { id, object: chat ? "chat.completion.chunk" : "text_completion", created, model: ep.modelName, ...(req.stream && req.includeUsage ? { usage: null } : {}) };
  const choice = (text: string | null, finish: string | null, first = false) =>
    chat ? { index: 0, delta: text === null ? {} : first ? { role: "assistant", content: text } : { content: text }, logprobs: null, finish_reason: finish } : { index: 0, text: text ?? "", logprobs: null, finish_reason: finish };
  const sampling = { temperature: req.temperature, topP: req.topP, topK: req.topK, seed: req.seed ?? randomBytes(4).readUInt32LE(0) };
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
    if (chat) sse(res, { ...base, choices: [choice("", null, true)] });
  };
  // Headers go out only once the request is admitted, so a full queue can still answer 503.
  const result = ep.scheduler.submit({
    promptIds: ids,
    maxTokens,
    sampling,
    stop: req.stop,
    signal,
    ...(req.stream ? { onText: (text: string) => { start(); sse(res, { ...base, choices: [choice(text, null)] }); } } : {}),
  });
  const r = await result;
  if (signal.aborted || res.destroyed) return r;
  const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
  if (r.finishReason === "abort") {
    // Cancelled by a shutdown: say so rather than pretend the reply ended.
    const error = { error: { message: "the server shut down before the reply was finished", type: "server_error", param: null, code: "shutdown" } };
    if (req.stream && started) {
      sse(res, error);
      res.end();
    } else {
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify(error));
    }
    return r;
  }
  if (req.stream) {
    start();
    sse(res, { ...base, choices: [choice(null, r.finishReason)] });
    if (req.includeUsage) sse(res, { ...base, choices: [], usage });
    sse(res, "[DONE]");
    res.end();
  } else {
    const choices = chat ? [{ index: 0, message: { role: "assistant", content: r.text, refusal: null }, logprobs: null, finish_reason: r.finishReason }] : [{ index: 0, text: r.text, logprobs: null, finish_reason: r.finishReason }];
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id, object, created, model: ep.modelName, choices, usage }));
  }
  return r;
}
