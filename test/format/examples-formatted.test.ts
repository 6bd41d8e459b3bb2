// The shipped examples are kept in moec's own format (`moec fmt --check` passes on them).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatSource } from "../../compiler/format/index.js";
import { ROOT } from "../helpers/compile.js";

const files = [
  ...readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".moe")).map((f) => join(ROOT, "examples", f)),
  ...readdirSync(join(ROOT, "test", "fixtures", "moe")).map((f) => join(ROOT, "test", "fixtures", "moe", f)),
];

describe("examples are formatted", () => {
  for (const f of files) {
    it(f.slice(ROOT.length + 1), async () => {
      const text = readFileSync(f, "utf8");
      expect(await formatSource(text, f)).toBe(text);
    });
  }
});
