// Checking OpenAI-style request bodies. Every problem is a RequestError naming the field (the
// `param` of OpenAI's error object) and saying what it should be. Fields moec does not know are
// ignored, as OpenAI-compatible servers do (clients send extras); fields it knows must have the
// right type, and options it does not implement are accepted only at their neutral value.
import type { ChatMessage } from "../../runtime/text/tokenizer.js";

export class RequestError extends Error {
  constructor(readonly param: string | null, message: string, readonly status = 400) {
    super(message);
  }
}

export interface Sampling {
  readonly maxTokens: number | null;
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number;
  readonly seed: number | null;
  readonly stop: string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

export interface ChatRequest extends Sampling {
  readonly kind: "chat";
  readonly messages: ChatMessage[];
}

export interface CompletionRequest extends Sampling {
  readonly kind: "completion";
  readonly prompt: string | number[];
}

type Body = Record<string, unknown>;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const present = (b: Body, k: string) => b[k] !== undefined && b[k] !== null;

function num(b: Body, k: string, lo: number, hi: number, fallback: number, what = `a number from ${lo} to ${hi}`): number {
  if (!present(b, k)) return fallback;
  const v = b[k];
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) throw new RequestError(k, `'${k}' must be ${what}; got ${JSON.stringify(v)}`);
  return v;
}

/** Accepted only at the value that changes nothing. */
function neutral(b: Body, k: string, ok: (v: unknown) => boolean, what: string): void {
  if (present(b, k) && !ok(b[k])) throw new RequestError(k, `'${k}' ${what} is not supported by moec serve; leave it out`);
}

export function parseBody(raw: string): Body {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new RequestError(null, `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new RequestError(null, "the request body must be a JSON object");
  return v as Body;
}

function sampling(b: Body): Sampling {
  if (present(b, "model") && typeof b["model"] !== "string") throw new RequestError("model", "'model' must be a string");
  const maxKey = present(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  let maxTokens: number | null = null;
  if (present(b, maxKey)) {
    const v = b[maxKey];
    if (!isInt(v) || v < 1) throw new RequestError(maxKey, `'${maxKey}' must be a positive integer; got ${JSON.stringify(v)}`);
    maxTokens = v;
  }
  let stop: string[] = [];
  if (present(b, "stop")) {
    const v = b["stop"];
    if (typeof v === "string") stop = [v];
    else if (Array.isArray(v) && v.length <= 16 && v.every((s) => typeof s === "string")) stop = v as string[];
    else throw new RequestError("stop", "'stop' must be a string or an array of at most 16 strings");
    if (stop.some((s) => s.length === 0)) throw new RequestError("stop", "'stop' strings must not be empty");
  }
  if (present(b, "stream") && typeof b["stream"] !== "boolean") throw new RequestError("stream", "'stream' must be true or false");
  let includeUsage = false;
  if (present(b, "stream_options")) {
    const o = b["stream_options"];
    if (!o || typeof o !== "object" || Array.isArray(o)) throw new RequestError("stream_options", "'stream_options' must be an object");
    const u = (o as Body)["include_usage"];
    if (u !== undefined && u !== null && typeof u !== "boolean") throw new RequestError("stream_options.include_usage", "'stream_options.include_usage' must be true or false");
    includeUsage = u === true;
  }
  let seed: number | null = null;
  if (present(b, "seed")) {
    if (!isInt(b["seed"])) throw new RequestError("seed", `'seed' must be an integer; got ${JSON.stringify(b["seed"])}`);
    // Any integer (clients send 64-bit ones): the sampler's generator takes it modulo 2^32, as it would the value itself.
    seed = (b["seed"] as number) >>> 0;
  }
  const topK = num(b, "top_k", -1, 1e9, 0, "an integer ≥ -1 (-1 or 0: no limit)");
  if (!Number.isInteger(topK)) throw new RequestError("top_k", "'top_k' must be an integer");
  neutral(b, "n", (v) => v === 1, "other than 1");
  neutral(b, "best_of", (v) => v === 1, "other than 1");
  neutral(b, "presence_penalty", (v) => v === 0, "other than 0");
  neutral(b, "frequency_penalty", (v) => v === 0, "other than 0");
  neutral(b, "logprobs", (v) => v === false, "(log probabilities)");
  neutral(b, "top_logprobs", (v) => v === 0, "(log probabilities)");
  neutral(b, "echo", (v) => v === false, "(echoing the prompt)");
  neutral(b, "suffix", (v) => v === "", "(a suffix)");
  neutral(b, "logit_bias", (v) => typeof v === "object" && v !== null && Object.keys(v).length === 0, "(a logit bias)");
  // Tools and structured output would be ignored silently (no tool calls are parsed, no output is constrained).
  neutral(b, "tools", (v) => Array.isArray(v) && v.length === 0, "(tool calling)");
  neutral(b, "functions", (v) => Array.isArray(v) && v.length === 0, "(function calling)");
  neutral(b, "tool_choice", (v) => v === "none" || v === "auto", "other than \"none\" or \"auto\" (tool calling)");
  neutral(b, "function_call", (v) => v === "none" || v === "auto", "(function calling)");
  neutral(b, "response_format", (v) => typeof v === "object" && v !== null && (v as Body)["type"] === "text", "other than {\"type\": \"text\"} (structured output)");
  return {
    maxTokens,
    temperature: num(b, "temperature", 0, 2, 1),
    topP: num(b, "top_p", 0, 1, 1, "a number in (0, 1]") || fail("top_p", "'top_p' must be greater than 0"),
    topK: Math.max(0, topK),
    seed,
    stop,
    stream: b["stream"] === true,
    includeUsage,
  };
}

function fail(param: string, message: string): never {
  throw new RequestError(param, message);
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

export function chatRequest(b: Body): ChatRequest {
  const m = b["messages"];
  if (!Array.isArray(m) || m.length === 0) throw new RequestError("messages", "'messages' must be a non-empty array of {role, content} objects");
  const messages = m.map((x, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (!x || typeof x !== "object" || Array.isArray(x)) throw new RequestError(at, `'${at}' must be an object with 'role' and 'content'`);
    const { role, content } = x as Body;
    if (typeof role !== "string" || !ROLES.has(role)) throw new RequestError(`${at}.role`, `'${at}.role' must be one of ${[...ROLES].join(", ")}; got ${JSON.stringify(role)}`);
    let text: string;
    if (typeof content === "string") text = content;
    else if (content === null && role === "assistant") text = "";
    else if (Array.isArray(content)) {
      text = content.map((p, j) => {
        const pat = `${at}.content[${j}]`;
        if (!p || typeof p !== "object") throw new RequestError(pat, `'${pat}' must be a content part object`);
        const part = p as Body;
        if (part["type"] !== "text") throw new RequestError(`${pat}.type`, `'${pat}.type' is ${JSON.stringify(part["type"])}; moec serve takes text parts only`);
        if (typeof part["text"] !== "string") throw new RequestError(`${pat}.text`, `'${pat}.text' must be a string`);
        return part["text"];
      }).join("");
    } else throw new RequestError(`${at}.content`, `'${at}.content' must be a string or an array of text parts`);
    return { role, content: text };
  });
  return { kind: "chat", messages, ...sampling(b) };
}

export function completionRequest(b: Body): CompletionRequest {
  let p = b["prompt"];
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") p = p[0];
  if (Array.isArray(p) && p.length === 1 && Array.isArray(p[0])) p = p[0];
  let prompt: string | number[];
  if (typeof p === "string") {
    if (p.length === 0) throw new RequestError("prompt", "'prompt' must not be empty");
    prompt = p;
  } else if (Array.isArray(p) && p.length > 0 && p.every((x) => isInt(x) && x >= 0)) prompt = p as number[];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "number")) {
    const at = p.findIndex((x) => !(isInt(x) && x >= 0));
    throw new RequestError("prompt", `'prompt[${at}]' is ${JSON.stringify(p[at])}; token ids are integers ≥ 0`);
  } else if (Array.isArray(p) && p.length > 1) throw new RequestError("prompt", "'prompt' holds several prompts; moec serve takes one per request (send them as separate requests, which run batched)");
  else throw new RequestError("prompt", "'prompt' must be a non-empty string or an array of token ids");
  return { kind: "completion", prompt, ...sampling(b) };
}
