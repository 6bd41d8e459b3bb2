// `moec import HF_DIR [-o FILE.moe]`: writes the .moe program for a Hugging Face model
// folder (its config.json). The program is checked before it is written; with -o it goes
// to a temporary file that is renamed into place, so a failure never leaves a partial file.
import { checkSource, formatDiagnostics } from "../index.js";
import { RunError } from "../run/load.js";
import { outputTarget, writeFileAtomic } from "../run/write.js";
import { importHfDir } from "../import/hf.js";
import type { Command } from "./commands.js";
import { UsageError } from "./io.js";

export const importCommand: Command = {
  name: "import",
  summary: "Write a .moe program for a Hugging Face model folder (from its config.json).",
  usage: "moec import HF_DIR [-o FILE.moe]",
  options: { out: { type: "string", short: "o" } },
  async run(io, positionals, values) {
    if (positionals.length !== 1) {
      throw new UsageError(`'moec import' takes exactly one Hugging Face model folder (or its config.json)${positionals.length ? `, got ${positionals.length}` : ""}.`);
    }
    const out = values["out"] as string | undefined;
    if (out === "") throw new UsageError("-o needs a file name.");
    const where = { inputs: [positionals[0]!], flag: "-o" };
    if (out !== undefined) {
      try {
        await outputTarget(out, where);
      } catch (e) {
        if (!(e instanceof RunError)) throw e;
        io.err(`moec import: ${e.message}`);
        return 1;
      }
    }
    const result = await importHfDir(positionals[0]!);
    if ("error" in result) {
      io.err(`moec import: ${result.error}`);
      return 1;
    }
    // The importer only writes what the language accepts; if the checker disagrees, that is
    // a bug in moec, and nothing is written.
    const file = out ?? "imported.moe";
    const checked = checkSource(file, result.text);
    if (checked.graph === null) {
      io.err(formatDiagnostics(checked.diagnostics, { sources: new Map([[file, result.text]]), color: io.color }));
      io.err(`moec import: the generated program does not check (a bug in moec import; please report it with the config.json). Nothing was written.`);
      return 1;
    }
    if (out === undefined) {
      io.out(result.text);
      return 0;
    }
    try {
      await writeFileAtomic(out, result.text, where);
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      io.err(`moec import: ${e.message}`);
      return 1;
    }
    io.err(`moec import: wrote ${out}`);
    return 0;
  },
};
