// `moec run FILE.gguf`: a GGUF file gives both the program (its metadata, turned into the
// Hugging Face config it was converted from and imported like a config.json) and the weights
// (a WeightSource presenting its tensors under Hugging Face names).
import { openGguf } from "../../runtime/weights/gguf.js";
import { WeightFileError, type WeightSource } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "../import/config.js";
import { GgufHfSource, ggufHeaderComment, ggufToHf } from "../import/gguf.js";
import { importHfConfig } from "../import/hf.js";

export interface GgufModel {
  /** The .moe program. */
  readonly text: string;
  /** The weights under the program's (Hugging Face) names; close it when done. */
  readonly source: WeightSource;
  /** The Hugging Face config the GGUF metadata describes. */
  readonly config: JsonObject;
}

/**
 * Opens a GGUF file and imports it. Every problem (file, metadata, a config the importer
 * rejects) is a WeightFileError whose message names the file. The returned source holds the
 * file open until closed.
 */
export async function loadGgufModel(path: string): Promise<GgufModel> {
  const g = await openGguf(path);
  try {
    const imp = ggufToHf(g);
    const r = importHfConfig(imp.config, `${path} (GGUF metadata as a Hugging Face config)`);
    if ("error" in r) throw new WeightFileError(path, `its metadata describes a ${imp.family} model that moec cannot import: ${r.error}`);
    return { text: ggufHeaderComment(g, imp) + r.text, source: new GgufHfSource(g, imp.entries), config: imp.config };
  } catch (e) {
    await g.close();
    throw e;
  }
}

/**
 * The weights of a GGUF file under Hugging Face names, for a program given separately
 * (`moec run model.moe --weights FILE.gguf`). The metadata is still read to know the
 * architecture (which names, and whether q/k rows are permuted). Close it when done.
 */
export async function openGgufWeights(path: string): Promise<WeightSource> {
  const g = await openGguf(path);
  try {
    return new GgufHfSource(g, ggufToHf(g).entries);
  } catch (e) {
    await g.close();
    throw e;
  }
}
