// Every WGSL program the webgpu backend can run (kernels.wgsl, the emitted listing) compiled by
// Tint — Chrome's WGSL compiler, stricter than the Naga that Deno's WebGPU (the other tests)
// uses — in headless Chromium on SwiftShader: each program's shader module must compile with
// no error. (Pipelines are not made: SwiftShader's JIT would take minutes for all of them.)
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { wgslListing } from "../../backends/wgsl/emit.js";
import { evaluateInPage, hasChromium, WEBGPU_FLAGS } from "../helpers/chromium.js";

describe.skipIf(!hasChromium)("every WGSL program compiles in Chromium (Tint)", () => {
  it("kernels.wgsl, program by program", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moec-tint-"));
    const programs = wgslListing().split(/^\/\/ ===== (\S+) =====\n/m).slice(1);
    const list: { name: string; code: string }[] = [];
    for (let i = 0; i < programs.length; i += 2) list.push({ name: programs[i]!, code: programs[i + 1]! });
    writeFileSync(join(dir, "programs.json"), JSON.stringify(list));
    writeFileSync(join(dir, "index.html"), `<!doctype html><body><script type="module">
try {
  const list = await (await fetch("programs.json")).json();
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ requiredLimits: { maxStorageBuffersPerShaderStage: Math.min(10, adapter.limits.maxStorageBuffersPerShaderStage) } });
  const bad = [];
  for (const p of list) {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: p.code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error").map((m) => m.lineNum + ":" + m.linePos + " " + m.message);
    const v = await device.popErrorScope();
    if (errors.length || v) bad.push(p.name + ": " + (errors.join("; ") || v.message).slice(0, 300));
  }
  document.body.dataset.result = JSON.stringify({ count: list.length, bad });
} catch (e) { document.body.dataset.result = JSON.stringify({ error: e.message }); }
</script></body>`);
    const server = createServer(async (req, res) => {
      try {
        const body = await readFile(join(dir, new URL(req.url!, "http://x").pathname));
        res.writeHead(200).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const v = await evaluateInPage(`http://127.0.0.1:${port}/index.html`, "document.body && (document.body.dataset.result || '')", (s) => s.length > 0, 150_000, WEBGPU_FLAGS);
      const r = JSON.parse(v) as { count?: number; bad?: string[]; error?: string };
      expect(r.error).toBeUndefined();
      expect(r.bad).toEqual([]);
      expect(r.count).toBe(list.length);
      console.log(`Tint compiled all ${r.count} WGSL programs`);
    } finally {
      server.close();
    }
  }, 180_000);
});
