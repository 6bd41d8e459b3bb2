// `--disable-pass NAME[,NAME]` (repeatable), shared by the commands that run the pass pipeline
// (ir, run, compile): the names, each checked against the pipeline.
import { findPass, PIPELINE } from "../passes/pipeline.js";
import { UsageError } from "./io.js";

export const DISABLE_PASS_OPTION = { "disable-pass": { type: "string", multiple: true } } as const;

export function passList(value: unknown): string[] {
  const names = ([] as string[]).concat((value as string[] | string | undefined) ?? []).flatMap((s) => s.split(","));
  for (const n of names) {
    if (!findPass(n)) throw new UsageError(`Unknown pass '${n}'. Passes: ${PIPELINE.map((p) => p.name).join(", ")}.`);
  }
  return names;
}
