// The ABI table in backends/wasm/README.md is the kernel catalogue rendered (backends/abi-table.ts);
// regenerate it with `UPDATE_GOLDEN=1 npx vitest run test/backends/abi-doc.test.ts` and review the diff.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { abiTable } from "../../backends/abi-table.js";
import { ROOT } from "../helpers/compile.js";

const README = join(ROOT, "backends/wasm/README.md");
const BEGIN = "<!-- abi-table: generated from runtime/kernels/catalogue.ts -->";
const END = "<!-- /abi-table -->";

describe("the kernel ABI table", () => {
  it("in backends/wasm/README.md is the catalogue's", () => {
    const text = readFileSync(README, "utf8");
    const [a, b] = [text.indexOf(BEGIN), text.indexOf(END)];
    expect(a, `${README} has no ${BEGIN} marker`).toBeGreaterThanOrEqual(0);
    const current = text.slice(a + BEGIN.length, b).trim();
    const want = abiTable();
    if (process.env["UPDATE_GOLDEN"] && current !== want) writeFileSync(README, `${text.slice(0, a + BEGIN.length)}\n${want}\n${text.slice(b)}`);
    else expect(current).toBe(want);
  });
});
