// Class 8, hangs: `-o` under /proc (where Node's recursive mkdir loops forever) fails at once,
// and the language server survives malformed input: each bad frame is skipped with a log line,
// and the messages around it are answered.
import { spawn } from "node:child_process";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeDirs, OutDirError } from "../../compiler/emit/outdir.js";
import { FrameFilter } from "../../compiler/lsp/framing.js";
import { fixture, ROOT } from "../helpers/compile.js";
import { isCleanFailure, moec, runs, tallyFor } from "./helpers.js";

const tally = tallyFor("class 8, hangs");

const frame = (body: string) => Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
const message = (id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "textDocument/hover", params: { n: id } });

/** Malformed input of the kinds editors and broken clients produce. */
const junk: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom("Content-Length: -5\r\n\r\n", "Content-Length: abc\r\n\r\n", "Content-Length: \r\n\r\n", "X-Foo: 1\r\n\r\n", "hello\r\n\r\n", "Content-Length: 99999999999\r\n\r\n", "\r\n\r\n").map((s) => Buffer.from(s)),
  fc.constantFrom("{notjson}", "[1,2", "42", "null").map((b) => Buffer.concat([Buffer.from(`Content-Length: ${Buffer.byteLength(b)}\r\n\r\n`), Buffer.from(b)])),
  // Unframed bytes: anything without a header in it.
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)).filter((b) => !/content-length:/i.test(b.toString("latin1")) && !b.includes("\r\n\r\n")),
);

async function filterAll(chunks: Buffer[]): Promise<{ out: Buffer; logs: string[] }> {
  const logs: string[] = [];
  const f = new FrameFilter((l) => logs.push(l));
  const parts: Buffer[] = [];
  f.on("data", (b: Buffer) => parts.push(b));
  const done = new Promise((r) => f.on("end", r));
  for (const c of chunks) f.write(c);
  f.end();
  await done;
  return { out: Buffer.concat(parts), logs };
}

/** The bodies of the frames in a well-formed stream. */
function bodies(out: Buffer): string[] {
  const res: string[] = [];
  let at = 0;
  while (at < out.length) {
    const end = out.indexOf("\r\n\r\n", at);
    const n = Number(/Content-Length: (\d+)/.exec(out.subarray(at, end).toString("latin1"))![1]);
    res.push(out.subarray(end + 4, end + 4 + n).toString("utf8"));
    at = end + 4 + n;
  }
  return res;
}

describe("class 8: no hangs", () => {
  it("frames around malformed ones get through, in order, each bad one logged; in any chunking", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(junk, { nil: null, freq: 3 }), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }), async (items, cuts) => {
        tally("LSP input streams");
        // null = a good message; junk is always followed by a good message (a resync point).
        const stream: Buffer[] = [];
        const want: string[] = [];
        let bad = 0;
        items.forEach((it, i) => {
          if (it) {
            stream.push(it);
            bad++;
          }
          want.push(message(i));
          stream.push(frame(message(i)));
        });
        const all = Buffer.concat(stream);
        // Cut into random chunks, as pipes deliver it.
        const chunks: Buffer[] = [];
        let at = 0;
        for (let k = 0; at < all.length; k++) {
          const n = cuts[k % cuts.length]!;
          chunks.push(all.subarray(at, at + n));
          at += n;
        }
        const { out, logs } = await filterAll(chunks);
        expect(bodies(out)).toEqual(want);
        expect(logs.length).toBeGreaterThanOrEqual(bad > 0 ? 1 : 0);
        for (const l of logs) expect(l).toMatch(/^moec lsp: skipped a malformed message: /);
      }),
      runs("lsp frames", 150),
    );
  });

  it("moec lsp --stdio answers after Content-Length: -5 and after unframed bytes, logging each", async () => {
    const init = (id: number) => frame(JSON.stringify({ jsonrpc: "2.0", id, method: "initialize", params: { processId: null, rootUri: null, capabilities: {} } }));
    const p = spawn(process.execPath, [join(ROOT, "bin", "moec.js"), "lsp", "--stdio"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.stdin.write(Buffer.concat([Buffer.from("Content-Length: -5\r\n\r\n"), init(1), Buffer.from("garbage without a frame"), frame(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "shutdown" }))]));
    const deadline = Date.now() + 15_000;
    while (!(out.includes('"id":1') && out.includes('"id":2')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    p.stdin.end();
    p.kill();
    tally("moec lsp processes");
    expect(out).toContain('"id":1,"result"');
    expect(out).toContain('"id":2');
    expect(err.match(/skipped a malformed message/g)?.length).toBe(2);
  });

  it("-o under /proc and other impossible folders fails at once", async () => {
    for (const dir of ["/proc/x", "/proc/self/fd/x/y", "/proc/1/x"]) {
      const t0 = performance.now();
      const e = await makeDirs(dir).then(() => null, (x: unknown) => x);
      tally("impossible folders");
      expect(e).toBeInstanceOf(OutDirError);
      expect(performance.now() - t0).toBeLessThan(2000);
    }
    const r = moec(["compile", fixture("moe", "tiny-mixtral.moe"), "--target", "wasm", "-o", "/proc/x/bundle", "--random-weights", "1"], { timeoutMs: 20_000 });
    tally("impossible folders");
    expect(isCleanFailure(r), r.stderr).toBeNull();
  });
});
