// Families transformers 5.17 has that moec does not import yet, each with the one thing that stops it, so that
// their configs are refused with that reason rather than as an unknown model_type. The full list of what each
// needs is dsl-spec/IMPORT.md's table "Families not imported yet".
export const NOT_IMPORTED: ReadonlyMap<string, string> = new Map([
  ["afmoe", "the gated attention output and the selection bias mlp.expert_bias are not in the language"],
  ["granitemoe_swa", "its experts are saved stacked as experts.gate_up_proj without .weight, which the importer does not bind yet"],
  ["minimax", "its lightning (linear) attention layers are not in the language"],
]);
