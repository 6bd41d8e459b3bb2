// One sequence's generated text: token ids in (as the sampler picks them), text pieces out,
// with stop tokens (EOS and the caller's), stop strings and a token budget. Model.generate's
// text form and the server's scheduler both drive one of these per sequence.
import { DetokenizeStream, type DecodeFn } from "./detokenize.js";
import { StopMatcher } from "./stop.js";

export type FinishReason = "stop" | "length";

export interface ContinuationOptions {
  /** The prompt's ids (the last few give the first token its context when it is decoded). */
  readonly promptIds: readonly number[];
  /** Ids that end the text; they are not part of it. */
  readonly stopTokenIds?: readonly number[];
  readonly stopStrings?: readonly string[];
  readonly maxNewTokens: number;
}

export interface Step {
  /** Text this token released ("" while a character or a possible stop string is incomplete). */
  readonly text: string;
  /** Set when this token ended the sequence. */
  readonly finish: FinishReason | null;
}

export class TextContinuation {
  /** The generated ids (a stop token that ended the sequence is not among them). */
  readonly ids: number[] = [];
  finish: FinishReason | null = null;
  private readonly detok: DetokenizeStream;
  private readonly stop: StopMatcher;
  private readonly stopIds: ReadonlySet<number>;

  constructor(decode: DecodeFn, private readonly opts: ContinuationOptions) {
    this.detok = new DetokenizeStream(decode, opts.promptIds);
    this.stop = new StopMatcher(opts.stopStrings ?? []);
    this.stopIds = new Set(opts.stopTokenIds ?? []);
    if (opts.maxNewTokens <= 0) this.finish = "length";
  }

  /** Takes the next sampled token. */
  push(id: number): Step {
    if (this.finish !== null) throw new Error("the sequence has already finished");
    if (this.stopIds.has(id)) return this.end("stop", "");
    this.ids.push(id);
    const r = this.stop.push(this.detok.push(id));
    if (r.stopped) {
      this.finish = "stop";
      return { text: r.text, finish: "stop" };
    }
    if (this.ids.length >= this.opts.maxNewTokens) return this.end("length", r.text);
    return { text: r.text, finish: null };
  }

  /** Ends the sequence early (the budget ran out elsewhere, or the caller stopped): releases what is held. */
  end(reason: FinishReason, before = ""): Step {
    this.finish = reason;
    const tail = this.stop.push(this.detok.flush());
    return { text: before + tail.text + (tail.stopped ? "" : this.stop.flush()), finish: reason };
  }
}
