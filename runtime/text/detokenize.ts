// Streaming detokenization: token ids in, text pieces out, each piece valid UTF-8 text.
// A character whose bytes are split across tokens (byte-level BPE, SentencePiece byte fallback)
// decodes to U+FFFD until its last byte arrives, so a piece is released only when the text
// decoded so far does not end in U+FFFD; at the end, whatever is held is released as it decodes.
// The text is the difference between decoding a window of ids with and without the new ones
// (the way text-generation-inference and vLLM do it), so decoders that look at neighbouring
// tokens (SentencePiece's leading-space strip, Fuse) give the same text as decoding everything.
// Concatenated, the pieces equal decode(context + ids) minus decode(context).

export type DecodeFn = (ids: readonly number[]) => string;

/** Prompt tokens kept as context, so the first generated token decodes as it would mid-text. */
export const CONTEXT_TOKENS = 6;

export class DetokenizeStream {
  private readonly ids: number[];
  /** Start of the window the differences are computed over. */
  private prefixOffset = 0;
  /** Ids before this have been released as text. */
  private readOffset: number;

  constructor(private readonly decode: DecodeFn, context: readonly number[] = []) {
    this.ids = context.slice(Math.max(0, context.length - CONTEXT_TOKENS));
    this.readOffset = this.ids.length;
  }

  /** Adds one token; returns the text it completes ("" while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    return this.release(false);
  }

  /** Releases what is held (an incomplete character becomes U+FFFD). */
  flush(): string {
    return this.readOffset < this.ids.length ? this.release(true) : "";
  }

  private release(force: boolean): string {
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(this.ids.slice(this.prefixOffset));
    if (!force && (text.length <= prefix.length || text.endsWith("\uFFFD"))) return "";
    // A decoder may rewrite the window's end (a space it strips); keep what both agree on.
    let common = 0;
    while (common < prefix.length && prefix.charCodeAt(common) === text.charCodeAt(common)) common++;
    const piece = text.slice(common);
    // The next window starts where this text was settled, unless that point splits a character
    // (a context that ends mid-character): a window must not start with a character's tail bytes.
    if (!prefix.endsWith("\uFFFD")) this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    // Keep the window small: it only needs the ids of the text not yet settled.
    if (this.prefixOffset > 64) {
      this.ids.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return piece;
  }
}
