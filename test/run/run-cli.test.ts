// `moec run` end to end through the CLI: logits file, greedy ids, --json, random weights,
// and the errors a user meets (mismatched weights, bad ids) — clear messages, no stack traces.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, ROOT } from "../helpers/compile.js";
import { relativeError } from "../helpers/fixtures.js";

const moec = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), ...args], { encoding: "utf8", cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "compiler", "cli", "main.js"))) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
});

describe("moec run", () => {
  const dir = fixture("hf", "qwen3_moe");
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
  const ids = (JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[]).join(",");

  it("writes the prompt's logits and prints the greedy continuation of an HF folder", () => {
    const tmp = mkdtempSync(join(tmpdir(), "moec-run-"));
    const r = moec("run", dir, "--ids", ids, "--max-new-tokens", "6", "--logits", join(tmp, "l.f32"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(meta.greedy_continuation.join(","));
    const got = new Float32Array(readFileSync(join(tmp, "l.f32")).buffer.slice(0));
    const raw = readFileSync(join(dir, "logits.f32"));
    const want = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    expect(relativeError(got, want)).toBeLessThan(1e-4);
  });

  it("--json prints one object with ids and timings", () => {
    const r = moec("run", dir, "--ids", ids, "--max-new-tokens", "3", "--json");
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { ids: number[]; timings: { prefillMs: number } };
    expect(j.ids).toEqual(meta.greedy_continuation.slice(0, 3));
    expect(j.timings.prefillMs).toBeGreaterThanOrEqual(0);
  });

  it("runs a .moe file with deterministic random weights", () => {
    const a = moec("run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "7", "--ids", "1,2,3", "-n", "4");
    const b = moec("run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "7", "--ids", "1,2,3", "-n", "4");
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.trim().split(",")).toHaveLength(4);
  });

  it("sampling is reproducible with a seed", () => {
    const args = ["run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "1", "--ids", "5,6", "-n", "5", "--temperature", "1.5", "--top-p", "0.9", "--seed", "3"];
    expect(moec(...args).stdout).toBe(moec(...args).stdout);
  });

  it("names the tensors when the weights do not fit the model", () => {
    const tmp = mkdtempSync(join(tmpdir(), "moec-run-"));
    // The mixtral fixture's weights against the qwen3 model: missing, extra and mis-shaped tensors.
    copyFileSync(fixture("hf", "mixtral", "model.safetensors"), join(tmp, "w.safetensors"));
    const r = moec("run", fixture("moe", "tiny-qwen2-moe.moe"), "--weights", join(tmp, "w.safetensors"), "--ids", "1");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("w.safetensors: the weights do not match the model TinyQwen2Moe");
    expect(r.stderr).toContain("tensors the model needs are missing:");
    expect(r.stderr).toContain("model.layers.0.mlp.gate.weight [8, 64] (for moe model.layers.0.mlp)");
    expect(r.stderr).toContain("not used by the model");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("rejects a truncated weights file with one clear error", () => {
    const tmp = mkdtempSync(join(tmpdir(), "moec-run-"));
    const bytes = readFileSync(fixture("hf", "mixtral", "model.safetensors"));
    writeFileSync(join(tmp, "t.safetensors"), bytes.subarray(0, bytes.length - 1000));
    const r = moec("run", fixture("moe", "tiny-mixtral.moe"), "--weights", join(tmp, "t.safetensors"), "--ids", "1");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("t.safetensors");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("rejects token ids outside the vocabulary and bad flags", () => {
    expect(moec("run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "1", "--ids", "999").stderr).toContain("outside the vocabulary");
    expect(moec("run", fixture("moe", "tiny-mixtral.moe"), "--random-weights", "1", "--ids", "1,x").status).toBe(2);
    expect(moec("run", fixture("moe", "tiny-mixtral.moe"), "--ids", "1").stderr).toContain("--random-weights");
  });
});

describe("moec run on a GGUF file", () => {
  it("imports a llama.cpp-style Mixtral GGUF and continues like transformers", async () => {
    const { convertHfFixture } = await import("../helpers/gguf-writer.js");
    const tmp = mkdtempSync(join(tmpdir(), "moec-gguf-"));
    const file = join(tmp, "mixtral.gguf");
    writeFileSync(file, await convertHfFixture(fixture("hf", "mixtral")));
    const dir = fixture("hf", "mixtral");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
    const ids = (JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[]).join(",");
    const r = moec("run", file, "--ids", ids, "-n", "6");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(meta.greedy_continuation.join(","));
  });
});
