// The text commands as a person runs them: `moec run --prompt` on a Hugging Face folder, a GGUF
// file with its vocabulary and a compiled bundle (all giving the same greedy text), the bundle's
// tokenizer files, and `moec chat` (history; Ctrl-C stops a reply without leaving).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
const moecInput = (input: string, ...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), ...args], { input, encoding: "utf8", cwd: ROOT, timeout: 120_000, env: { ...process.env, NO_COLOR: "1", MOEC_DEBUG: "" } });
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

describe("moec run --prompt: flags and sizes as for --ids", () => {
  const run = (...args: string[]) => moec("run", MODEL, "--tokenizer", TINY_TOKENIZER, "--threads", "1", ...args);
  it("-n past the model's trained context (max_position_embeddings 128) is a usage error naming -n and the config", () => {
    const r = run("--prompt", "hi", "-n", "500");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^moec run: -n 500: a prompt of 2 tokens and 500 new tokens need 501 positions, more than the 128 of the context \(max_position_embeddings in .*config\.json\); use -n 127 or less, or pass --context N to run past it\./);
    expect(run("--prompt", "hi", "-n", "500", "--context", "600").status).toBe(0);
    // --max-context, as --ids spells it, is the same flag (it was ignored with --prompt).
    const m = run("--prompt", "hi", "-n", "30", "--max-context", "20");
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/more than the 20 of the context/);
  });
  it("sampling flags are refused as usage errors naming the flag; --logits and --json are for --ids", () => {
    for (const [flag, value] of [["--seed", "1e300"], ["--top-k", "1e300"]] as const) {
      const r = run("--prompt", "hi", "-n", "2", flag, value);
      expect(r.status, flag).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^moec run: ${flag} must be`));
    }
    for (const flag of [["--logits", join(tmp, "x.f32")], ["--json"]]) {
      const r = run("--prompt", "hi", "-n", "2", ...flag);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${flag[0]} works with --ids, not with --prompt`));
      expect(existsSync(join(tmp, "x.f32"))).toBe(false);
    }
  });
  it("--tokenizer that is a file, or whose tokenizer.json is a device, is refused with the path, unread", () => {
    const file = moec("run", MODEL, "--tokenizer", join(MODEL, "config.json"), "--prompt", "hi");
    expect(file.status).toBe(1);
    expect(file.stderr).toMatch(/config\.json: is a file, not a folder; --tokenizer takes the folder holding tokenizer\.json/);
    const dir = join(tmp, "zero-tokenizer");
    mkdirSync(dir);
    symlinkSync("/dev/zero", join(dir, "tokenizer.json"));
    const zero = moec("run", MODEL, "--tokenizer", dir, "--prompt", "hi");
    expect(zero.status).toBe(1);
    expect(zero.stderr).toMatch(/tokenizer\.json: holds more than the 268435456-byte limit/);
  });
});

describe("moec chat through a pipe", () => {
  it("answers every line, writes no prompt after the input ends, and exits 0", () => {
    const args = ["chat", MODEL, "--tokenizer", TINY_TOKENIZER, "-n", "4", "--threads", "1"];
    const r = moecInput("hello\nsecond turn\n/reset\nthird\n", ...args);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // The first reply is what `moec run --chat` gives for the same message (greedy).
    const first = moec("run", MODEL, "--tokenizer", TINY_TOKENIZER, "-n", "4", "--threads", "1", "--prompt", "hello", "--chat");
    // (A prompt is written only while the input is open; none is written after it ends.)
    const lines = r.stdout.split("\n").map((l) => l.replace(/^(> )+/, ""));
    expect(lines[1]).toBe(first.stdout.replace(/\n$/, ""));
    expect(lines).toContain("(new conversation)");
    // After /reset, "third" starts a conversation of its own: the reply `moec run --chat` gives it.
    const third = moec("run", MODEL, "--tokenizer", TINY_TOKENIZER, "-n", "4", "--threads", "1", "--prompt", "third", "--chat");
    expect(lines[lines.indexOf("(new conversation)") + 1]).toBe(third.stdout.replace(/\n$/, ""));
  });
  it("a conversation that fills the context says so and how to go on", () => {
    const r = moecInput("hello\nhello again\n", "chat", MODEL, "--tokenizer", TINY_TOKENIZER, "-n", "40", "--context", "100", "--threads", "1");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^moec chat: the conversation fills the 100-position context \(--context\); \/reset starts a new one\.$/m);
  });
});

describe("moec serve flags", () => {
  it("a --grace too long for a timer is refused (it would have cancelled running replies at once)", () => {
    const r = moec("serve", MODEL, "--tokenizer", TINY_TOKENIZER, "--grace", "1e300", "--port", "0");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^moec serve: --grace must be a number of seconds from 0 to 86400, not '1e300'\./);
  });
});

describe("a chat template that does not parse", () => {
  it("is the input's error (exit 1, the file named) for run --chat and chat, and a warning at serve's start", async () => {
    const dir = join(tmp, "broken-template");
    mkdirSync(dir);
    writeFileSync(join(dir, "tokenizer.json"), readFileSync(join(TINY_TOKENIZER, "tokenizer.json")));
    const config = JSON.parse(readFileSync(join(TINY_TOKENIZER, "tokenizer_config.json"), "utf8"));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: "{% for m in messages %}{{ m.content " }));
    const run = moec("run", MODEL, "--tokenizer", dir, "--prompt", "hi", "--chat", "-n", "2", "--threads", "1");
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^moec run: .*broken-template\/tokenizer\.json: the chat template does not parse/);
    const chat = moecInput("hi\n", "chat", MODEL, "--tokenizer", dir, "-n", "2", "--threads", "1");
    expect(chat.status).toBe(1);
    expect(chat.stderr).toMatch(/^moec chat: .*the chat template does not parse: .*; give a tokenizer folder with a working template/);
    expect(chat.stdout).toBe("");
    // Plain text still works with it.
    expect(moec("run", MODEL, "--tokenizer", dir, "--prompt", "hi", "-n", "2", "--threads", "1").status).toBe(0);
    // The server starts (completions need no template) and says at once that chat will not work.
    const serve = spawn(process.execPath, [join(ROOT, "bin", "moec.js"), "serve", MODEL, "--tokenizer", dir, "--port", "0", "--threads", "1"], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
    let err = "";
    serve.stderr.setEncoding("utf8");
    await new Promise<void>((res) => {
      serve.stdout.once("data", () => res());
      serve.stderr.on("data", (d: string) => (err += d));
    });
    serve.kill("SIGTERM");
    expect(await new Promise((res) => serve.on("close", res))).toBe(0);
    expect(err).toMatch(/^moec serve: warning: .*the chat template does not parse.*\/v1\/chat\/completions will answer 400/m);
  });
});
