// Test helpers: check a source or file and fail the test loudly on unexpected errors.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSource, formatDiagnostics, type Graph } from "../../compiler/index.js";
import { expectedTensors as expectedTensorsOf } from "../../compiler/weights/expected.js";

export const ROOT = join(import.meta.dirname, "..", "..");
export const fixture = (...parts: string[]) => join(ROOT, "test", "fixtures", ...parts);

export function graphOf(path: string): Graph {
  const text = readFileSync(path, "utf8");
  const r = checkSource(path, text);
  if (!r.graph) throw new Error(`${path} does not check:\n${formatDiagnostics(r.diagnostics, { sources: new Map([[path, text]]) })}`);
  return r.graph;
}

export function graphOfSource(text: string, file = "test.moe"): Graph {
  const r = checkSource(file, text);
  if (!r.graph) throw new Error(formatDiagnostics(r.diagnostics, { sources: new Map([[file, text]]) }));
  return r.graph;
}

/** Every checkpoint tensor a graph binds, with `{e}` expanded over each expert group's indices. */
export function expectedTensors(g: Graph): Map<string, readonly number[]> {
  return new Map([...expectedTensorsOf(g)].map(([name, t]) => [name, t.shape]));
}
