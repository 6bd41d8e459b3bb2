// Golden tests of the printed IR: each program's `printGraph` output is compared with a
// file under test/golden/ir/. After a deliberate change, regenerate them with
//   npm run test:golden:update
// and review the diff like any other change.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { printGraph, runPipeline } from "../../compiler/index.js";
import { fixture, graphOf } from "../helpers/compile.js";

const UPDATE = process.env["UPDATE_GOLDEN"] === "1";
const dir = join(import.meta.dirname, "ir");

const programs = ["tiny-mixtral.moe", "tiny-qwen2-moe.moe", "tiny-deepseek-v3.moe"];

describe("printed IR matches the golden files", () => {
  for (const p of programs) {
    it(p, () => {
      const text = printGraph(runPipeline(graphOf(fixture("moe", p))).graph);
      const file = join(dir, basename(p, ".moe") + ".ir");
      if (UPDATE || !existsSync(file)) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(file, text);
        if (!UPDATE) throw new Error(`wrote missing golden file ${file}; review it and commit it`);
      }
      expect(text).toBe(readFileSync(file, "utf8"));
    });
  }
});
