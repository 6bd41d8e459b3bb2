// Stop strings over a text stream: text is released as it comes, except a tail that could be
// the start of a stop string (held until the next piece decides); when a stop string appears,
// the text before it is released and the stream ends. The stop string itself is not released,
// as OpenAI's API and transformers' stop_strings leave it out.

export class StopMatcher {
  private held = "";
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Adds text; returns what can be released, and whether a stop string ended the stream. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text, stopped: false };
    const all = this.held + text;
    let first = -1;
    for (const s of this.stops) {
      const at = all.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.held = "";
      return { text: all.slice(0, first), stopped: true };
    }
    // Hold the longest tail that is a proper prefix of some stop string.
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, all.length); n > keep; n--) {
        if (all.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    // Never split a surrogate pair between what is released and what is held.
    let cut = all.length - keep;
    if (cut > 0 && cut < all.length && isHighSurrogate(all.charCodeAt(cut - 1))) cut--;
    this.held = all.slice(cut);
    return { text: all.slice(0, cut), stopped: false };
  }

  /** The held text, at the end of the stream. */
  flush(): string {
    const t = this.held;
    this.held = "";
    return t;
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
