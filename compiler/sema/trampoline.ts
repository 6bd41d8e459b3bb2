// Running deeply recursive elaboration without a deep call stack. An elaboration step is a
// generator that, instead of calling a sub-step, yields it; `drive` runs the sub-step and sends
// its result back (or throws its exception into the step). The nesting lives in an array on
// the heap, so a chain of 1000 blocks or a sum of 20000 terms elaborates like a shallow one.

/** A step that may yield sub-steps and finally returns a T. */
export type Thunk<T> = Generator<Thunk<unknown>, T, unknown>;

export function drive<T>(root: Thunk<T>): T {
  const stack: Thunk<unknown>[] = [root];
  let input: unknown = undefined;
  let failure: { error: unknown } | null = null;
  for (;;) {
    const top = stack[stack.length - 1]!;
    let r: IteratorResult<Thunk<unknown>, unknown>;
    try {
      if (failure) {
        const f = failure;
        failure = null;
        r = top.throw(f.error);
      } else r = top.next(input);
    } catch (e) {
      // The step did not catch it: it is finished; its caller gets the exception.
      stack.pop();
      if (stack.length === 0) throw e;
      failure = { error: e };
      input = undefined;
      continue;
    }
    if (r.done) {
      stack.pop();
      if (stack.length === 0) return r.value as T;
      input = r.value;
    } else {
      stack.push(r.value);
      input = undefined;
    }
  }
}
