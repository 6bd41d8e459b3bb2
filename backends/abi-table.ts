// The kernel ABI as a Markdown table, rendered from the kernel catalogue: backends/wasm/README.md
// embeds it between markers, and test/backends/abi-doc.test.ts keeps it equal to this rendering
// (UPDATE_GOLDEN=1 rewrites it).
import { ENUMS, KERNELS, KERNEL_NAMES, type ParamRole } from "../runtime/kernels/catalogue.js";

const ROLE: Record<string, string> = {
  "f32 in": "f32*", "f32 in?": "f32* or 0", "f32 out": "f32* out", "f32 inout": "f32* in/out", "i32 in": "i32*", "i32 out": "i32* out", "u8 in": "u8* (a stored format)",
  scratch: "scratch*", i32: "i32", f32: "f32", f64: "f64", bool: "0/1",
};

function role(r: ParamRole): string {
  if (r.startsWith("enum ")) {
    const e = r.slice(5) as keyof typeof ENUMS;
    return ENUMS[e].map((v, i) => `${i} ${v}`).join(", ");
  }
  return ROLE[r]!;
}

export function abiTable(): string {
  const rows = KERNEL_NAMES.map((name) => {
    const k = KERNELS[name];
    const params = k.params.map(([n, r]) => `\`${n}\` ${role(r)}`).join(", ");
    const split = "split" in k ? ` Splits over [${k.split.range.join(", ")}) of \`${k.split.extent}\`.` : "";
    return `| \`${name}\` | ${params} | ${k.doc}${split} |`;
  });
  return ["| kernel | parameters | computes |", "| --- | --- | --- |", ...rows].join("\n");
}
