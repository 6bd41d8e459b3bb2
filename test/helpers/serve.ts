// A moec server on a fixture model for tests: qwen3_moe (random weights, 256-token vocabulary)
// with the 256-token fixture tokenizer, listening on a free loopback port.
import { join } from "node:path";
import { openTextModel } from "../../compiler/run/text-model.js";
import { createMoecServer, type MoecServer, type ServeOptions } from "../../compiler/serve/server.js";
import { HF } from "./fixtures.js";
import { TINY_TOKENIZER } from "./text.js";

export interface TestServer extends MoecServer {
  readonly url: string;
}

export async function startServer(opts: ServeOptions & { slots?: number; maxContext?: number } = {}): Promise<TestServer> {
  const tm = await openTextModel(join(HF, "qwen3_moe"), { tokenizer: TINY_TOKENIZER, sequences: opts.slots ?? 8, maxContext: opts.maxContext ?? 128, target: "wasm", threads: 1 });
  const srv = createMoecServer(tm, opts);
  await new Promise<void>((res) => srv.server.listen(0, "127.0.0.1", () => res()));
  const addr = srv.server.address() as { port: number };
  return {
    ...srv,
    url: `http://127.0.0.1:${addr.port}`,
    async close(grace?: number) {
      await srv.close(grace);
      await tm.model.dispose();
    },
  };
}

/** Reads a server-sent-event stream: the parsed `data:` objects, until [DONE] or the end. */
export async function* events(res: Response): AsyncGenerator<any> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const data = block.replace(/^data: /, "");
      if (data === "[DONE]") return;
      yield JSON.parse(data);
    }
  }
}
