// Text in, text out, on top of a model's token generation: a prompt string (encoded as the
// tokenizer does, BOS included where the tokenizer adds one) or chat messages (rendered with the
// chat template, then encoded without added tokens, as transformers' apply_chat_template does)
// become ids; the generated ids become text pieces (valid UTF-8, stop strings honoured), ending
// at the tokenizer's EOS ids as well as the caller's stop tokens.
import type { GenerateOptions } from "../model.js";
import { TextContinuation, type FinishReason } from "./continuation.js";
import type { ChatMessage, TextTokenizer } from "./tokenizer.js";

export type TextInput = string | readonly ChatMessage[];

export interface TextGenerateOptions extends GenerateOptions {
  /** Strings that end the text (not included in it). */
  readonly stop?: string | readonly string[];
  /** For chat messages: end the prompt with an assistant turn's header (default true). */
  readonly addGenerationPrompt?: boolean;
  /** For chat messages: extra chat-template variables (enable_thinking, ...). */
  readonly templateVariables?: Readonly<Record<string, unknown>>;
  /** Leave special tokens out of the text (default true). */
  readonly skipSpecialTokens?: boolean;
  /** Called once the text has ended, with why and how many tokens it took. */
  readonly onFinish?: (info: TextFinish) => void;
}

export interface TextFinish {
  readonly reason: FinishReason;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly ids: readonly number[];
}

type TokenStream = (ids: readonly number[], opts: GenerateOptions) => AsyncGenerator<number, void, void>;
type BatchStream = (prompts: readonly (readonly number[])[], opts: GenerateOptions) => AsyncGenerator<(number | null)[], void, void>;

/** Whether generate's input is text (a string or chat messages) rather than token ids. */
export function isTextInput(input: unknown): input is TextInput {
  return typeof input === "string" || (Array.isArray(input) && input.length > 0 && typeof input[0] === "object" && input[0] !== null);
}

/** The prompt's token ids. */
export function promptIds(tokenizer: TextTokenizer, input: TextInput, opts: Pick<TextGenerateOptions, "addGenerationPrompt" | "templateVariables"> = {}): number[] {
  if (typeof input === "string") return tokenizer.encode(input);
  const text = tokenizer.applyChatTemplate(input, { addGenerationPrompt: opts.addGenerationPrompt ?? true, ...(opts.templateVariables ? { variables: opts.templateVariables } : {}) });
  return tokenizer.encode(text, { addSpecialTokens: false });
}

function continuation(tokenizer: TextTokenizer, ids: readonly number[], opts: TextGenerateOptions): TextContinuation {
  const skip = opts.skipSpecialTokens ?? true;
  return new TextContinuation((x) => tokenizer.decode(x, { skipSpecialTokens: skip }), {
    promptIds: ids,
    stopTokenIds: [...tokenizer.eosTokenIds, ...(opts.stopTokens ?? [])],
    stopStrings: typeof opts.stop === "string" ? [opts.stop] : (opts.stop ?? []),
    maxNewTokens: opts.maxNewTokens ?? 32,
  });
}

function tokenOptions(tokenizer: TextTokenizer, opts: TextGenerateOptions): GenerateOptions {
  const { stop: _s, addGenerationPrompt: _a, templateVariables: _t, skipSpecialTokens: _k, onFinish: _f, ...rest } = opts;
  return { ...rest, stopTokens: [...tokenizer.eosTokenIds, ...(opts.stopTokens ?? [])] };
}

/** Streams the text a model generates for a prompt or a conversation. */
export async function* generateText(tokens: TokenStream, tokenizer: TextTokenizer, input: TextInput, opts: TextGenerateOptions = {}): AsyncGenerator<string, void, void> {
  const ids = promptIds(tokenizer, input, opts);
  if (ids.length === 0) throw new RangeError("the prompt encodes to no tokens; give some text");
  const c = continuation(tokenizer, ids, opts);
  for await (const id of tokens(ids, tokenOptions(tokenizer, opts))) {
    const step = c.push(id);
    if (step.text) yield step.text;
    if (step.finish) break;
  }
  if (c.finish === null) {
    // The token stream ended first: at a stop token (Model.generate does not yield it), or at the budget.
    const step = c.end(c.ids.length >= (opts.maxNewTokens ?? 32) ? "length" : "stop");
    if (step.text) yield step.text;
  }
  opts.onFinish?.({ reason: c.finish!, promptTokens: ids.length, completionTokens: c.ids.length, ids: c.ids });
}

/**
 * Batched text generation: yields, per step, each input's new text ("" while it is held back),
 * or null once that input has ended (its last step carries the text it still held).
 */
export async function* generateTextBatch(batch: BatchStream, tokenizer: TextTokenizer, inputs: readonly TextInput[], opts: TextGenerateOptions = {}): AsyncGenerator<(string | null)[], void, void> {
  const prompts = inputs.map((x) => promptIds(tokenizer, x, opts));
  const empty = prompts.findIndex((p) => p.length === 0);
  if (empty >= 0) throw new RangeError(`prompt ${empty} encodes to no tokens; give some text`);
  const cs = prompts.map((p) => continuation(tokenizer, p, opts));
  const done = prompts.map(() => false);
  const finish = (i: number) => {
    done[i] = true;
    opts.onFinish?.({ reason: cs[i]!.finish!, promptTokens: prompts[i]!.length, completionTokens: cs[i]!.ids.length, ids: cs[i]!.ids });
  };
  for await (const step of batch(prompts, tokenOptions(tokenizer, opts))) {
    const out = step.map((id, i): string | null => {
      if (done[i]) return null;
      const s = id === null ? cs[i]!.end("stop") : cs[i]!.push(id);
      if (s.finish) finish(i);
      return s.text;
    });
    yield out;
    if (done.every(Boolean)) return;
  }
  // The model's steps ended (the budget): release what each unfinished input still holds.
  const rest = cs.map((c, i): string | null => {
    if (done[i]) return null;
    const s = c.end(c.ids.length >= (opts.maxNewTokens ?? 32) ? "length" : "stop");
    finish(i);
    return s.text;
  });
  if (rest.some((r) => r !== null)) yield rest;
}
