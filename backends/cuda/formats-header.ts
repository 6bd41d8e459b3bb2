// moec_formats.h: the storage-format table (runtime/plan/formats.ts) as C, so the CUDA sources
// take every format's code, block size and block bytes from the one table. The header is checked
// in beside the sources (backends/cuda/csrc) and a test regenerates and compares it.
import { FORMATS, STORAGE_FORMATS } from "../../runtime/plan/formats.js";

const KIND = { float: 0, block: 1, channel: 2 } as const;

/** The C name of a format's code: MOEC_F32, MOEC_Q4_K, … */
export function formatMacro(name: string): string {
  return `MOEC_${name.toUpperCase()}`;
}

export function formatsHeader(): string {
  const lines = [
    "// Generated from runtime/plan/formats.ts by backends/cuda/formats-header.ts: do not edit.",
    "// The storage formats of the plan's weights: code, kind, elements per block, bytes per block.",
    "#pragma once",
    "",
    "#define MOEC_KIND_FLOAT 0   /* one element per block_bytes */",
    "#define MOEC_KIND_BLOCK 1   /* scales inside blocks */",
    "#define MOEC_KIND_CHANNEL 2 /* one f32 scale per row, after all rows */",
    "",
    ...STORAGE_FORMATS.map((f, i) => `#define ${formatMacro(f)} ${i}`),
    `#define MOEC_NUM_FORMATS ${STORAGE_FORMATS.length}`,
    "",
    "// Per format: elements per block, bytes per block.",
    ...STORAGE_FORMATS.flatMap((f) => [`#define ${formatMacro(f)}_BLOCK ${FORMATS[f].block}`, `#define ${formatMacro(f)}_BYTES ${FORMATS[f].blockBytes}`]),
    "",
    "// X(code, elements per block, bytes per block) for every format (for switches in device code).",
    "#define MOEC_FOR_EACH_FORMAT(X) " + STORAGE_FORMATS.map((f) => `X(${formatMacro(f)}, ${FORMATS[f].block}, ${FORMATS[f].blockBytes})`).join(" "),
    "",
    "static const char *const moec_format_names[MOEC_NUM_FORMATS] = {" + STORAGE_FORMATS.map((f) => JSON.stringify(f)).join(", ") + "};",
    "static const int moec_format_kind[MOEC_NUM_FORMATS] = {" + STORAGE_FORMATS.map((f) => KIND[FORMATS[f].kind]).join(", ") + "};",
    "static const int moec_format_block[MOEC_NUM_FORMATS] = {" + STORAGE_FORMATS.map((f) => FORMATS[f].block).join(", ") + "};",
    "static const int moec_format_block_bytes[MOEC_NUM_FORMATS] = {" + STORAGE_FORMATS.map((f) => FORMATS[f].blockBytes).join(", ") + "};",
    "",
  ];
  return lines.join("\n");
}
