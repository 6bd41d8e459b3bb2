// One model, one KV cache per sequence slot: two generations running at once would interleave
// their tokens in the same cache and both come out wrong. A generator holds the model from its
// first step until it ends (finishes, throws, or is closed by `break` / `return()`); while it
// does, every other call that runs or resets the model is refused with a ModelBusyError, never
// queued behind a generator that may never be resumed, and never interleaved.

export class ModelBusyError extends Error {
  override name = "ModelBusyError";
}

interface Holder {
  readonly what: string;
}

export class ModelLock {
  private holder: Holder | null = null;
  /** The holder whose own call is running now (calls made from inside the generator). */
  private inside: Holder | null = null;

  /** Takes the model for a generator; throws ModelBusyError if another holds it. */
  acquire(what: string): Holder {
    this.refuse(what);
    const h = { what };
    this.holder = h;
    return h;
  }

  release(h: Holder): void {
    if (this.holder === h) this.holder = null;
  }

  /**
   * Runs `fn` on behalf of the holder `h`. The check in `check` happens synchronously when a
   * call starts (before its first await, if it becomes async), so only the call made here passes.
   */
  as<T>(h: Holder, fn: () => T): T {
    const prev = this.inside;
    this.inside = h;
    try {
      return fn();
    } finally {
      this.inside = prev;
    }
  }

  /** Refuses `what` while a generator holds the model (unless the generator itself calls). */
  check(what: string): void {
    if (this.holder !== null && this.inside !== this.holder) this.refuse(what);
  }

  private refuse(what: string): void {
    if (this.holder === null) return;
    throw new ModelBusyError(
      `${what} was called while ${this.holder.what} is running on this model; both would use the same KV cache and interleave. ` +
        `Finish the earlier generation first (consume it, or leave its for-await loop with break, or call return() on its iterator), ` +
        `or, for several prompts at once, load the model with { sequences: N } and use generateBatch.`,
    );
  }
}
