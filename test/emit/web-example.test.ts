// examples/web in headless Chromium: the page loads the webgpu bundle where the browser has a
// WebGPU adapter (SwiftShader here, no GPU) and the wasm bundle where it has none, and both
// continue the prompt exactly as transformers did (the fixture's greedy continuation).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateInPage, hasChromium, WEBGPU_FLAGS } from "../helpers/chromium.js";
import { fixture, ROOT } from "../helpers/compile.js";

const TYPES: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html", ".wgsl": "text/plain" };
const FIXTURE = "qwen2_moe";
let site = "";
let server: ReturnType<typeof createServer> | null = null;
let port = 0;

describe.skipIf(!hasChromium)("examples/web in headless Chromium", () => {
  const dir = fixture("hf", FIXTURE);
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
  const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[];
  const n = meta.greedy_continuation.length;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, "dist", "compiler", "cli", "main.js"))) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
    site = mkdtempSync(join(tmpdir(), "moec-web-"));
    for (const target of ["webgpu", "wasm"]) {
      const r = spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), "compile", dir, "--target", target, "-o", join(site, target)], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }
    mkdirSync(join(site, "page"));
    for (const f of ["index.html", "app.js"]) copyFileSync(join(ROOT, "examples", "web", f), join(site, "page", f));
    server = createServer(async (req, res) => {
      const file = new URL(req.url!, "http://x").pathname;
      try {
        const body = await readFile(join(site, file));
        res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
  }, 120_000);
  afterAll(() => server?.close());

  const open = (flags: readonly string[]) =>
    evaluateInPage(
      `http://127.0.0.1:${port}/page/index.html?webgpu=../webgpu/&wasm=../wasm/&ids=${ids.join(",")}&n=${n}`,
      "document.body && (document.body.dataset.result || '')",
      (v) => v.length > 0,
      90_000,
      flags,
    ).then((v) => JSON.parse(v) as { backend?: string; fallback?: string | null; tokens?: number[]; error?: string });

  it("runs on WebGPU (SwiftShader) and generates as transformers did", async () => {
    const r = await open(WEBGPU_FLAGS);
    expect(r.error).toBeUndefined();
    expect(r.backend).toMatch(/^webgpu/);
    expect(r.fallback).toBeNull();
    expect(r.tokens).toEqual(meta.greedy_continuation);
  }, 120_000);

  it("falls back to the WASM bundle without WebGPU, with the same tokens", async () => {
    const r = await open(["--disable-gpu", "--disable-features=WebGPU"]);
    expect(r.error).toBeUndefined();
    expect(r.backend).toMatch(/^wasm/);
    expect(r.fallback).toMatch(/WebGPU|navigator\.gpu|adapter/);
    expect(r.tokens).toEqual(meta.greedy_continuation);
  }, 120_000);
});
