// `moec import`: a Hugging Face config.json → a .moe program with the checkpoint's weight
// names. Supported model_types are the families in families.ts. A config key that is
// neither understood by the family nor listed below as irrelevant to inference is an
// error, as is a value the language cannot express: the importer never guesses.
import { stat } from "node:fs/promises";
import { readFileCapped } from "../../runtime/weights/read-capped.js";

/** A config.json is a few kilobytes; past this it is not one. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
import { join } from "node:path";
import { ConfigReader, ImportError, isObject, show } from "./config.js";
import { emitProgram, headerLines } from "./emit.js";
import { ARCHITECTURES, FAMILIES } from "./families.js";
import { NOT_IMPORTED } from "./families/not-imported.js";

/**
 * Keys that do not change what a model computes at inference: bookkeeping, token ids
 * (generation settings, not the network), training-only settings (dropout, auxiliary
 * losses, init), and output flags.
 */
export const NO_EFFECT_KEYS: readonly string[] = [
  "model_type", "architectures", "auto_map", "_name_or_path", "transformers_version", "dtype", "torch_dtype",
  "use_cache", "initializer_range", "output_router_logits", "router_aux_loss_coef", "attention_dropout", "hidden_dropout",
  "bos_token_id", "eos_token_id", "pad_token_id", "output_attentions", "output_hidden_states", "return_dict",
  "use_return_dict", "tokenizer_class", "id2label", "label2id",
];

export type ImportResult = { readonly text: string } | { readonly error: string };

/** Imports a parsed config.json. `source` names the file in messages and in the program's header. */
export function importHfConfig(config: unknown, source: string): ImportResult {
  try {
    if (!isObject(config)) throw new ImportError(`${source}: a config.json must hold a JSON object, got ${show(config)}`);
    const modelType = config["model_type"];
    if (typeof modelType !== "string") {
      throw new ImportError(`${source}: "model_type" is ${modelType === undefined ? "missing" : show(modelType)}; moec import needs it to know the model family (supported: ${[...FAMILIES.keys()].join(", ")})`);
    }
    const arch = Array.isArray(config["architectures"]) && typeof config["architectures"][0] === "string" ? config["architectures"][0] : null;
    const notes: string[] = [];
    let family = FAMILIES.get(modelType);
    if (!family) {
      // A model_type moec does not know, for a transformers class it does (Kimi-K2: "kimi_k2" with
      // DeepseekV3ForCausalLM): the class defines the computation, so import through it.
      const byClass = arch !== null ? ARCHITECTURES.get(arch) : undefined;
      const missing = NOT_IMPORTED.get(modelType);
      if (!byClass && missing !== undefined) {
        throw new ImportError(`${source}: "model_type" ${show(modelType)} is not imported by moec yet: ${missing} (dsl-spec/IMPORT.md, "Families not imported yet", lists what it needs)`);
      }
      if (!byClass) {
        throw new ImportError(
          `${source}: unsupported "model_type" ${show(modelType)}${arch !== null ? ` with "architectures" [${show(arch)}, ...]` : ""}; moec import supports ${[...FAMILIES.keys()].join(", ")}` +
            ` (or a config whose architectures[0] is one of their classes: ${[...ARCHITECTURES.keys()].join(", ")})`,
        );
      }
      family = byClass;
      notes.push(`model_type ${show(modelType)} is not one moec knows; architectures[0] is ${arch}, the class of model_type "${family.modelType}", so the config is read as a "${family.modelType}" config, with that family's keys, defaults and semantics`);
    }
    const r = new ConfigReader(source, family.modelType, config);
    r.rejectUnknown(new Set([...NO_EFFECT_KEYS, ...family.keys]), `model_type "${family.modelType}"${family.modelType !== modelType ? ` (read for model_type ${show(modelType)})` : ""}`);
    if (r.given("architectures")) r.strList("architectures");
    const spec = family.build(r, notes);
    const version = r.given("transformers_version") ? r.str("transformers_version") : null;
    const about = { source, family: family.modelType, architecture: arch, transformersVersion: version, notes };
    if ("kind" in spec) return { text: [...headerLines({ ...about, ...(spec.modeling ? { modeling: spec.modeling } : {}) }), ...spec.lines].join("\n") + "\n" };
    return { text: emitProgram({ ...spec, ...about }) };
  } catch (e) {
    if (e instanceof ImportError) return { error: e.message };
    throw e;
  }
}

/** Reads `<dir>/config.json` (or the config file itself, when given a file) and imports it. */
export async function importHfDir(dir: string): Promise<ImportResult> {
  let file = dir;
  try {
    if ((await stat(dir)).isDirectory()) file = join(dir, "config.json");
  } catch (e) {
    return { error: `${dir}: cannot read: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}` };
  }
  let text: string;
  try {
    text = (await readFileCapped(file, MAX_CONFIG_BYTES)).toString("utf8");
  } catch (e) {
    const reason = (e as { reason?: string }).reason;
    return { error: `${file}: cannot read: ${reason === "missing" ? "no such file (a Hugging Face model folder holds config.json)" : reason === "too-large" ? `it is larger than ${MAX_CONFIG_BYTES} bytes, far more than a config.json holds` : (e as { problem?: string }).problem ?? (e as Error).message}` };
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    return { error: `${file}: not valid JSON: ${(e as Error).message}` };
  }
  return importHfConfig(config, file);
}
