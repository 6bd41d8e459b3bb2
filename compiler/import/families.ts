// One entry per Hugging Face model_type: the config keys it understands (everything else,
// apart from the shared no-effect keys in hf.ts, is an error), and how the config maps to
// a ModelSpec. Defaults are those of the transformers 5.17 config classes
// (configuration_<family>.py), used when a key is absent; the semantics are those of
// modeling_<family>.py. The families live in families/, one file per group.
import type { Family } from "./families/common.js";
import { deepseekV2, deepseekV3, glm4MoeLite } from "./families/deepseek.js";
import { dots1, glm4Moe, solarOpen } from "./families/glm.js";
import { gemma4Family, gemma4TextFamily } from "./families/gemma4.js";
import { gptOss } from "./families/gpt-oss.js";
import { graniteMoe, graniteMoeShared } from "./families/granite.js";
import { graniteMoeHybrid } from "./families/granite-hybrid.js";
import { llama4, llama4Text } from "./families/llama4.js";
import { ernie45Moe, exaoneMoe, minimaxM2 } from "./families/ernie-minimax.js";
import { hunyuanV1Moe, hyV3 } from "./families/hunyuan.js";
import { dbrx } from "./families/dbrx.js";
import { deepseekV32, glmMoeDsa } from "./families/dsa.js";
import { nemotronH } from "./families/nemotron-h.js";
import { jamba } from "./families/jamba.js";
import { qwen35Moe, qwen3Next } from "./families/qwen-next.js";
import { qwen3VlMoe } from "./families/qwen-vl.js";
import { flexOlmo, mixtral, olmoe, phimoe } from "./families/mixtral.js";
import { qwen2Moe, qwen3Moe } from "./families/qwen.js";

export type { Family, FamilySpec } from "./families/common.js";

const ALL: readonly Family[] = [
  mixtral, qwen2Moe, qwen3Moe, olmoe, deepseekV2, deepseekV3, gptOss, phimoe,
  glm4Moe, glm4MoeLite, solarOpen, dots1, graniteMoe, graniteMoeShared, flexOlmo, llama4Text, llama4, minimaxM2, ernie45Moe, hunyuanV1Moe, hyV3, qwen3VlMoe, exaoneMoe, dbrx, qwen3Next, qwen35Moe,
  deepseekV32, glmMoeDsa, nemotronH, graniteMoeHybrid, gemma4TextFamily, gemma4Family, jamba,
];

export const FAMILIES: ReadonlyMap<string, Family> = new Map(ALL.map((f) => [f.modelType, f]));

/** transformers class name (a config's `architectures[0]`) → the family that implements it. */
export const ARCHITECTURES: ReadonlyMap<string, Family> = new Map(ALL.flatMap((f) => f.architectures.map((a) => [a, f] as const)));
