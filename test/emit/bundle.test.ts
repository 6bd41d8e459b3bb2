// The emitted WASM bundle, as an app uses it: `moec compile` writes it, the Node example
// embeds it (importing only the bundle), and its generated .d.ts type-checks a consumer.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, ROOT } from "../helpers/compile.js";

const node = (...args: string[]) => spawnSync(process.execPath, args, { encoding: "utf8", cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
let out = "";

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "compiler", "cli", "main.js"))) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  out = join(mkdtempSync(join(tmpdir(), "moec-bundle-")), "qwen2");
  const r = node("bin/moec.js", "compile", fixture("hf", "qwen2_moe"), "--target", "wasm", "-o", out);
  expect(r.status, r.stderr).toBe(0);
});

describe("moec compile --target wasm", () => {
  it("writes the bundle files", () => {
    const files = readdirSync(out).sort();
    const chunks = files.filter((f) => /-[A-Z0-9]{8}\.js$/.test(f));
    expect(files.filter((f) => !chunks.includes(f))).toEqual([".moec-bundle", "kernels-m64.wasm", "kernels-relaxed-m64.wasm", "kernels-relaxed-shared-m64.wasm", "kernels-relaxed-shared.wasm", "kernels-relaxed.wasm", "kernels-shared-m64.wasm", "kernels-shared.wasm", "kernels.wasm", "model.d.ts", "model.js", "package.json", "plan.json", "runtime.d.ts", "runtime.js", "types", "weights.safetensors", "worker.js"]);
    // Node-only code (file reading, worker_threads) sits in chunks that browsers never load.
    expect(readFileSync(join(out, "runtime.js"), "utf8")).not.toMatch(/from "node:/);
    const runtime = readFileSync(join(out, "runtime.js"), "utf8");
    expect(runtime).not.toMatch(/chevrotain|binaryen|ts-morph/);
  });

  it("the Node example runs the bundle and continues like transformers", () => {
    const dir = fixture("hf", "qwen2_moe");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
    const ids = (JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[]).join(",");
    const r = node("examples/node/generate.mjs", out, ids, "6");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(meta.greedy_continuation.join(","));
    expect(r.stderr).toMatch(/kernels: wasm( ×\d+ threads)?/);
  });

  it("the batch example continues each prompt as the single-prompt example does", () => {
    const dir = fixture("hf", "qwen2_moe");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
    const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[];
    const short = ids.slice(0, 5);
    const alone = node("examples/node/generate.mjs", out, short.join(","), "6");
    expect(alone.status, alone.stderr).toBe(0);
    const r = node("examples/node/batch.mjs", out, `${ids.join(",")};${short.join(",")}`, "6");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([meta.greedy_continuation.join(","), alone.stdout.trim()]);
  });

  it("loadModel takes the 64-bit kernels when the memory passes 4 GiB", () => {
    const dir = fixture("hf", "qwen2_moe");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
    const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[];
    const script = `import { loadModel } from ${JSON.stringify(pathToFileURL(join(out, "runtime.js")).href)};
const model = await loadModel(${JSON.stringify(out)}, { maxContext: 64, threads: 2, memoryBase: 2 ** 32 + 4096 });
const out = [];
for await (const t of model.generate(${JSON.stringify(ids)}, { maxNewTokens: ${meta.greedy_continuation.length} })) out.push(t);
await model.dispose();
console.log(model.kernels, out.join(","));`;
    const file = join(out, "..", "m64.mjs");
    writeFileSync(file, script);
    const r = node(file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wasm ×2 threads ${meta.greedy_continuation.join(",")}`);
  });

  it("the generated model.d.ts types a consumer", () => {
    const consumer = join(out, "consumer.ts");
    writeFileSync(consumer, `import { loadModel, info } from "./model.js";
const vocab: 256 = info.vocab;
const model = await loadModel({ maxContext: 64 });
const ids: number[] = [];
for await (const t of model.generate([1, 2], { maxNewTokens: 2 })) ids.push(t);
export { vocab, ids };
`);
    const program = ts.createProgram([consumer], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, lib: ["lib.es2023.d.ts", "lib.dom.d.ts"], types: [], skipLibCheck: false });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(diags).toEqual([]);
  });
});

describe("loading a bundle over HTTP (the browser path: fetch)", () => {
  it("fetches plan, kernels and weights from a URL and matches transformers", async () => {
    const { createServer } = await import("node:http");
    const { readFile } = await import("node:fs/promises");
    const server = createServer(async (req, res) => {
      try {
        const body = await readFile(join(out, decodeURIComponent(new URL(req.url!, "http://x").pathname)));
        res.writeHead(200).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const { loadModel } = await import("../../runtime/load.js");
      const model = await loadModel(`http://127.0.0.1:${port}/`, { threads: 1, maxContext: 64 });
      const dir = fixture("hf", "qwen2_moe");
      const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
      const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[];
      const got: number[] = [];
      for await (const t of model.generate(ids, { maxNewTokens: 6 })) got.push(t);
      expect(got).toEqual(meta.greedy_continuation);
      await expect(loadModel(`http://127.0.0.1:${port}/nothing-here/`, { threads: 1 })).rejects.toThrow(/HTTP 404/);
    } finally {
      server.close();
    }
  });
});
