// A model's tokenizer and chat template, built from Hugging Face files (tokenizer.json,
// tokenizer_config.json, and where present generation_config.json, config.json and
// chat_template.jinja) or from what runtime/text/gguf-vocab.ts makes of a GGUF vocabulary.
// The algorithms are @huggingface/tokenizers' (see ARCHITECTURE.md, "Decisions"); templates
// render with @huggingface/jinja. This module is loaded on demand, so a bundle without a
// tokenizer never loads either library.
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
  readonly [key: string]: unknown;
}

/** The parsed files a tokenizer is made of. */
export interface TokenizerFiles {
  /** tokenizer.json */
  readonly tokenizer: Record<string, unknown>;
  /** tokenizer_config.json ({} when absent). */
  readonly config?: Record<string, unknown>;
  /** generation_config.json, for its eos_token_id. */
  readonly generation?: Record<string, unknown> | null;
  /** The model's config.json, for its eos_token_id. */
  readonly model?: Record<string, unknown> | null;
  /** chat_template.jinja (newer Hugging Face folders keep the template there). */
  readonly chatTemplate?: string | null;
}

export class TokenizerError extends Error {
  override name = "TokenizerError";
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with each lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, ES2024). */
export function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object with `content`. */
function tokenText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return null;
}

function idList(v: unknown): number[] {
  if (typeof v === "number" && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === "number" && Number.isInteger(x));
  return [];
}

/** tokenizer_config.json's chat_template: a string, or a list of {name, template} (the "default" one is used). */
function pickTemplate(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v as { name?: unknown; template?: unknown }[];
    const t = named.find((x) => x.name === "default") ?? named[0];
    return typeof t?.template === "string" ? t.template : null;
  }
  return null;
}

/**
 * The Rust library's ByteFallback decoder turns a run of byte tokens that is not valid UTF-8 into
 * one U+FFFD per byte, and keeps a byte-order mark; the JavaScript one decodes the run leniently
 * (one U+FFFD per maximal invalid subsequence) and drops a leading BOM. Give its decoders a
 * TextDecoder stand-in that does what the Rust one does, so decoding matches Python's.
 */
function matchRustByteFallback(tok: Tokenizer): void {
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const rust = {
    decode(bytes: Uint8Array): string {
      try {
        return strict.decode(bytes);
      } catch {
        return "\uFFFD".repeat(bytes.length);
      }
    },
  };
  const visit = (d: unknown): void => {
    if (!d || (typeof d !== "object" && typeof d !== "function")) return;
    const dec = d as { config?: { type?: string }; decoders?: unknown[]; text_decoder?: unknown };
    if (dec.config?.type === "ByteFallback") dec.text_decoder = rust;
    dec.decoders?.forEach(visit);
  };
  visit(tok.decoder);
}

export interface EncodeOptions {
  /** Add what the tokenizer adds around a text (Llama's BOS, say); default true. Chat prompts use false. */
  readonly addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, ChatML markers); default false. */
  readonly skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn (default true). */
  readonly addGenerationPrompt?: boolean;
  /** Extra template variables (enable_thinking, tools, reasoning_effort, ...). */
  readonly variables?: Readonly<Record<string, unknown>>;
}

export class TextTokenizer {
  /** Token ids that end generation: the config's EOS token and every eos_token_id of generation_config.json and config.json. */
  readonly eosTokenIds: readonly number[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;
  /** Tokens in the vocabulary, added tokens included (ids are 0..vocabSize-1). */
  readonly vocabSize: number;
  private readonly tok: Tokenizer;
  private readonly config: Record<string, unknown>;
  private template: Template | null = null;

  constructor(files: TokenizerFiles, readonly source: string) {
    const config = { ...(files.config ?? {}) };
    // The Python `tokenizers` library never cleans up spaces; transformers does only when the config asks.
    config["clean_up_tokenization_spaces"] = config["clean_up_tokenization_spaces"] === true;
    const t = files.tokenizer as { model?: { vocab?: unknown }; added_tokens?: { id: number }[] };
    if (!t || typeof t !== "object" || !t.model || typeof t.model !== "object") throw new TokenizerError(`${source}: not a Hugging Face tokenizer.json (it has no "model")`);
    const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...files.tokenizer };
    try {
      this.tok = new Tokenizer(full, config);
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build the tokenizer: ${(e as Error).message}`);
    }
    matchRustByteFallback(this.tok);
    this.config = config;
    const vocab = this.tok.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    this.bosToken = tokenText(config["bos_token"]);
    this.eosToken = tokenText(config["eos_token"]);
    const eos = new Set<number>();
    const eosId = this.eosToken === null ? undefined : this.tok.token_to_id(this.eosToken);
    if (eosId !== undefined) eos.add(eosId);
    for (const id of [...idList(files.generation?.["eos_token_id"]), ...idList(files.model?.["eos_token_id"])]) if (id < this.vocabSize) eos.add(id);
    this.eosTokenIds = [...eos].sort((a, b) => a - b);
    this.chatTemplate = files.chatTemplate ?? pickTemplate(config["chat_template"]);
  }

  /** Token ids of a text. Lone surrogates become U+FFFD first, as any UTF-8 encoder makes them. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const wellFormed = toWellFormed(text);
    if (wellFormed === "" && opts.addSpecialTokens === false) return [];
    return this.tok.encode(wellFormed, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** The text of token ids; bytes that are not valid UTF-8 become U+FFFD; ids past the vocabulary are left out. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0);
    if (bad !== undefined) throw new RangeError(`token id ${bad} is not a token id (a non-negative integer)`);
    // Ids past the tokenizer's vocabulary (a model's padded embedding rows) decode to nothing, as in Python's tokenizers.
    const known = ids.filter((id) => id < this.vocabSize);
    return known.length === 0 ? "" : this.tok.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** Renders messages with the model's chat template, as transformers' apply_chat_template(tokenize=False) does. */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) {
      throw new TokenizerError(`${this.source} has no chat template (no "chat_template" in tokenizer_config.json, no chat_template.jinja, no tokenizer.chat_template in the GGUF file); send a plain prompt instead`);
    }
    if (this.template === null) {
      try {
        this.template = new Template(this.chatTemplate);
      } catch (e) {
        throw new TokenizerError(`${this.source}: the chat template does not parse: ${(e as Error).message}`);
      }
    }
    const special: Record<string, unknown> = {};
    for (const k of ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]) {
      const v = tokenText(this.config[k]);
      if (v !== null) special[k] = v;
    }
    try {
      return this.template.render({ ...special, ...opts.variables, messages: messages.map((m) => ({ ...m })), add_generation_prompt: opts.addGenerationPrompt ?? true });
    } catch (e) {
      throw new TokenizerError(`${this.source}: the chat template failed on these messages: ${(e as Error).message}`);
    }
  }
}
