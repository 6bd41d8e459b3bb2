// Drives Debian's headless Chromium over the DevTools protocol (Node's built-in WebSocket):
// open a URL, then poll an expression until it yields a value — for pages whose work is async.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);

/** Chromium's flags for WebGPU on SwiftShader (its CPU Vulkan), for pages that test WebGPU without a GPU. */
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan"];

/** `flags` replace the default --disable-gpu (WEBGPU_FLAGS: WebGPU on SwiftShader). */
export async function evaluateInPage(url: string, expression: string, done: (v: string) => boolean, timeoutMs = 30000, flags: readonly string[] = ["--disable-gpu"]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), "moec-chromium-"));
  const chrome = spawn(CHROMIUM, ["--headless", "--no-sandbox", ...flags, "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`, "--remote-debugging-port=0", url], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const wsUrl = await new Promise<string>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => reject(new Error("chromium did not start its DevTools endpoint")), timeoutMs);
      chrome.stderr.on("data", (d: Buffer) => {
        buf += d.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const port = new URL(wsUrl).port;
    let page: { webSocketDebuggerUrl: string } | undefined;
    for (let i = 0; i < 100 && !page; i++) {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
      page = list.find((t) => t.type === "page");
      if (!page) await new Promise((r) => setTimeout(r, 100));
    }
    if (!page) throw new Error("chromium opened no page");
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((r) => ws.addEventListener("open", r));
    let id = 0;
    const call = (method: string, params: unknown) =>
      new Promise<{ result?: { value?: unknown } }>((resolve) => {
        const my = ++id;
        const on = (e: MessageEvent) => {
          const m = JSON.parse(String(e.data)) as { id: number; result?: { result?: { value?: unknown } } };
          if (m.id === my) {
            ws.removeEventListener("message", on);
            // Before the page has a context (or while it navigates) the call fails: poll again.
            resolve(m.result ?? {});
          }
        };
        ws.addEventListener("message", on);
        ws.send(JSON.stringify({ id: my, method, params }));
      });
    let value = "";
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const r = await call("Runtime.evaluate", { expression, returnByValue: true });
      value = String(r?.result?.value ?? "");
      if (done(value)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    ws.close();
    return value;
  } finally {
    chrome.kill();
  }
}
