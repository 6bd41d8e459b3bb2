// The bundle in a browser: headless Chromium loads it from a cross-origin isolated page
// (COOP + COEP), runs it on the WASM kernels with 1 and 3 threads (module workers over a shared
// memory), and must continue the prompt exactly as transformers did.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateInPage, hasChromium } from "../helpers/chromium.js";
import { fixture, ROOT } from "../helpers/compile.js";

const TYPES: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html" };
let out = "";

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist", "compiler", "cli", "main.js"))) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT });
  out = join(mkdtempSync(join(tmpdir(), "moec-browser-")), "qwen2");
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "moec.js"), "compile", fixture("hf", "qwen2_moe"), "--target", "wasm", "-o", out], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
});

describe.skipIf(!hasChromium)("the bundle in headless Chromium", () => {
  const dir = fixture("hf", "qwen2_moe");
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { greedy_continuation: number[] };
  const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[];

  for (const threads of [1, 3]) {
    it(`generates like transformers on ${threads} thread${threads > 1 ? "s" : ""}`, async () => {
      const page = `page-${threads}.html`;
      writeFileSync(join(out, page), `<!doctype html><body>waiting<script type="module">
import { loadModel } from "./model.js";
try {
  const m = await loadModel({ maxContext: 64, threads: ${threads}, splitThreshold: 1 });
  const out = [];
  for await (const t of m.generate(${JSON.stringify(ids)}, { maxNewTokens: 6 })) out.push(t);
  document.body.textContent = "RESULT " + out.join(",") + " | " + m.kernels + " | " + crossOriginIsolated;
} catch (e) { document.body.textContent = "ERROR " + e.message; }
</script></body>`);
      const server = createServer(async (req, res) => {
        const file = new URL(req.url!, "http://x").pathname;
        try {
          const body = await readFile(join(out, file));
          res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }).end(body);
        } catch {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      try {
        const port = (server.address() as { port: number }).port;
        const text = await evaluateInPage(`http://127.0.0.1:${port}/${page}`, "document.body && document.body.textContent", (v) => /^(RESULT|ERROR)/.test(v));
        expect(text).toBe(`RESULT ${meta.greedy_continuation.join(",")} | wasm${threads > 1 ? ` ×${threads} threads` : ""} | true`);
      } finally {
        server.close();
      }
    });
  }
});
