// The text commands as a person runs them: `moec run --prompt` on a Hugging Face folder, a GGUF
// file with its vocabulary and a compiled bundle (all giving the same greedy text), the bundle's
// tokenizer files, and `moec chat` (history; Ctrl-C stops a reply without leaving).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertHfFixture } from "../helpers/gguf-writer.js";
import { ggufVocabKv } from "../helpers/gguf-vocab.js";
import { HF } from "../helpers/fixtures.js";
import { ROOT } from "../helpers/compile.js";
import { TINY_TOKENIZER } from "../helpers/text.js";

const moec = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), ...args], { encoding: "utf8", cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
const MODEL = join(HF, "qwen3_moe");
let tmp = "";

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "compiler", "cli", "main.js"))) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  tmp = mkdtempSync(join(tmpdir(), "moec-text-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("moec run --prompt", () => {
  it("an HF folder with --tokenizer, a GGUF file with the vocabulary, and the compiled bundle give the same text", async () => {
    const args = ["--prompt", "Once upon a time", "-n", "12", "--threads", "1"];
    const hf = moec("run", MODEL, "--tokenizer", TINY_TOKENIZER, ...args);
    expect(hf.stderr).toBe("");
    expect(hf.status).toBe(0);
    expect(hf.stdout.length).toBeGreaterThan(1);

    const json = (f: string) => JSON.parse(readFileSync(join(TINY_TOKENIZER, f), "utf8"));
    const gguf = join(tmp, "tiny.gguf");
    writeFileSync(gguf, await convertHfFixture(MODEL, { extraKv: ggufVocabKv(json("tokenizer.json"), json("tokenizer_config.json"), { model: "gpt2", pre: "qwen2" }) }));
    const fromGguf = moec("run", gguf, ...args);
    expect(fromGguf.stderr).toBe("");
    expect(fromGguf.stdout).toBe(hf.stdout);

    const bundle = join(tmp, "bundle");
    const c = moec("compile", MODEL, "--target", "wasm", "-o", bundle, "--tokenizer", TINY_TOKENIZER);
    expect(c.status, c.stderr).toBe(0);
    const files = readdirSync(bundle);
    expect(files).toEqual(expect.arrayContaining(["tokenizer.json", "tokenizer_config.json", "generation_config.json"]));
    expect(files.filter((f) => /token|vocab|merges|special|chat_template/.test(f)).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    expect(moec("run", bundle, ...args).stdout).toBe(hf.stdout);

    // What an app does: import the bundle, generate from text.
    const { loadModel } = await import(pathToFileURL(join(bundle, "model.js")).href);
    const model = await loadModel({ threads: 1, maxContext: 64 });
    let text = "";
    for await (const piece of model.generate("Once upon a time", { maxNewTokens: 12 })) text += piece;
    await model.dispose();
    expect(text + "\n").toBe(hf.stdout);
  });

  it("a model without a tokenizer says how to give one", () => {
    const r = moec("run", MODEL, "--prompt", "hi");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/has no tokenizer .* give one with --tokenizer DIR/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe("moec chat", () => {
  it("keeps the conversation, and Ctrl-C stops a reply without leaving", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "moec.js"), "chat", MODEL, "--tokenizer", TINY_TOKENIZER, "-n", "3000", "--context", "4096", "--threads", "1"], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
    let out = "";
    const waitFor = (re: RegExp) => new Promise<void>((res) => {
      const check = () => {
        if (re.test(out)) {
          child.stdout.off("data", check);
          res();
        }
      };
      child.stdout.on("data", check);
      check();
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (out += d));
    await waitFor(/> $/);
    child.stdin.write("tell me a long story\n");
    // The reply streams (input is not echoed off a terminal); interrupt it once it has begun.
    await waitFor(/> [^\n]{20,}/);
    child.kill("SIGINT");
    await waitFor(/\(stopped\)\n> $/);
    child.stdin.write("/exit\n");
    const code = await new Promise((res) => child.on("close", res));
    expect(code).toBe(0);
    expect(out).toMatch(/^moec chat: Qwen3Moe\./);
  });
});
