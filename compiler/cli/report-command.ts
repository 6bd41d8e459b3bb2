// `moec report MODEL -o report.html`: a self-contained HTML page about a model (structure,
// parameters and bytes, passes, kernels, quantization, expert load of a calibration run).
import { buildReport, writeFileAtomic } from "../report/index.js";
import { outputTarget } from "../run/write.js";
import { RunError } from "../run/load.js";
import { quantizeFlag } from "../quant/run.js";
import type { Command } from "./commands.js";
import { reportDiagnostics, UsageError } from "./io.js";

export const reportCommand: Command = {
  name: "report",
  summary: "Write an HTML report of a model: layers, parameters, passes, kernels, quantization (--quantize: formats and error), expert load.",
  usage: "moec report MODEL [--weights FILE | --random-weights SEED] [--calibration IDS_FILE_OR_CSV] [--quantize SCHEME] -o report.html",
  options: {
    output: { type: "string", short: "o" },
    weights: { type: "string", short: "w" },
    "random-weights": { type: "string" },
    calibration: { type: "string" },
    quantize: { type: "string", short: "q" },
  },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec report' takes one model: a .moe file, a Hugging Face folder or a .gguf file.");
    const output = values["output"] as string | undefined;
    if (output === undefined || output === "") throw new UsageError("'moec report' needs -o FILE.html, the page to write.");
    const seedText = values["random-weights"] as string | undefined;
    let randomWeights: number | undefined;
    if (seedText !== undefined) {
      randomWeights = Number(seedText);
      if (!/^\d+$/.test(seedText) || !Number.isSafeInteger(randomWeights)) throw new UsageError(`--random-weights must be a non-negative integer seed, not '${seedText}'.`);
    }
    const weights = values["weights"] as string | undefined;
    if (randomWeights !== undefined && weights !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
    const calibration = values["calibration"] as string | undefined;
    const quantize = quantizeFlag(values["quantize"] as string | undefined);
    const out = { inputs: [positionals[0]!, weights, calibration], flag: "-o" };
    try {
      await outputTarget(output, out);
      const report = await buildReport({
        model: positionals[0]!,
        ...(weights !== undefined ? { weights } : {}),
        ...(randomWeights !== undefined ? { randomWeights } : {}),
        ...(calibration !== undefined ? { calibration } : {}),
        ...(quantize ? { quantize } : {}),
      });
      if (!("html" in report)) {
        reportDiagnostics(io, report);
        return 1;
      }
      await writeFileAtomic(output, report.html, out);
      const c = report.data.calibration;
      io.out(`wrote ${output} (${report.data.model}${"run" in c ? `, expert load over ${c.run.ids.length} tokens` : ", no calibration run"})`);
      return 0;
    } catch (e) {
      if (e instanceof RunError) {
        io.err(`moec report: ${e.message}`);
        return 1;
      }
      throw e;
    }
  },
};
