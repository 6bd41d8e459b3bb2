// `--disable-pass NAME[,NAME]` and `--enable-pass NAME[,NAME]` (opt-in passes; both
// repeatable), shared by the commands that run the pass pipeline (ir, run, compile): the names,
// each checked against the pipeline.
import { findPass, PIPELINE } from "../passes/pipeline.js";
import { UsageError } from "./io.js";

export const PASS_OPTIONS = { "disable-pass": { type: "string", multiple: true }, "enable-pass": { type: "string", multiple: true } } as const;

/** Both flags' names, as PassOptions take them. */
export function passFlags(values: Record<string, unknown>): { disabled: string[]; enabled: string[] } {
  return { disabled: passList(values["disable-pass"]), enabled: passList(values["enable-pass"]) };
}

export function passList(value: unknown): string[] {
  const names = ([] as string[]).concat((value as string[] | string | undefined) ?? []).flatMap((s) => s.split(","));
  for (const n of names) {
    if (!findPass(n)) throw new UsageError(`Unknown pass '${n}'. Passes: ${PIPELINE.map((p) => p.name).join(", ")}.`);
  }
  return names;
}
