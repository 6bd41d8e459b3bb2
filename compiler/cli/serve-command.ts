// `moec serve MODEL`: an OpenAI-compatible HTTP server (compiler/serve) with continuous batching
// over the model's sequence slots. SIGTERM or SIGINT: stop taking requests, let running ones
// finish (up to --grace seconds, then tell them), exit 0.
import { openTextModel } from "../run/text-model.js";
import { RunError } from "../run/load.js";
import { createMoecServer } from "../serve/server.js";
import type { Command } from "./commands.js";
import { UsageError } from "./io.js";
import { numberFlag, textModelOptions } from "./run-text.js";

export const serveCommand: Command = {
  name: "serve",
  summary: "Serve a model over HTTP with OpenAI's API (chat/completions, completions, models), batching concurrent requests.",
  usage: "moec serve MODEL [--host H] [--port P] [--api-key KEY] [--slots N] [--max-queue N] [--context N] [--tokenizer DIR] [--target wasm|js] [--threads N] [--grace SECONDS] [--quiet]",
  options: {
    host: { type: "string" },
    port: { type: "string" },
    "api-key": { type: "string" },
    slots: { type: "string" },
    "max-queue": { type: "string" },
    context: { type: "string" },
    tokenizer: { type: "string" },
    weights: { type: "string", short: "w" },
    "random-weights": { type: "string" },
    target: { type: "string", short: "t" },
    threads: { type: "string" },
    grace: { type: "string" },
    quiet: { type: "boolean" },
  },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec serve' takes one model: a Hugging Face folder, a GGUF file or a compiled bundle folder.");
    const host = (values["host"] as string | undefined) ?? "127.0.0.1";
    const port = numberFlag(values, "port", (v) => Number.isInteger(v) && v >= 0 && v <= 65535, "a port number (0 picks a free one)") ?? 8080;
    const slots = numberFlag(values, "slots", (v) => Number.isInteger(v) && v >= 1 && v <= 256, "an integer from 1 to 256") ?? 8;
    const maxQueue = numberFlag(values, "max-queue", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer") ?? 64;
    // (A timer longer than 2^31 ms fires at once, which would cancel running requests instead of waiting for them.)
    const grace = numberFlag(values, "grace", (v) => v >= 0 && v <= 86_400, "a number of seconds from 0 to 86400") ?? 30;
    const apiKey = (values["api-key"] as string | undefined) ?? process.env["MOEC_API_KEY"];
    const opts = textModelOptions(values, "serve");
    let tm;
    try {
      tm = await openTextModel(positionals[0]!, { ...opts, sequences: slots });
    } catch (e) {
      if (e instanceof RunError) {
        io.err(`moec serve: ${e.message}`);
        return 1;
      }
      throw e;
    }
    // /v1/chat/completions needs the chat template; /v1/completions does not. Say at the start when chat cannot work.
    try {
      tm.tokenizer.applyChatTemplate([{ role: "user", content: "hello" }]);
    } catch (e) {
      io.err(`moec serve: warning: ${(e as Error).message}; /v1/chat/completions will answer 400 — give a tokenizer folder with a working template (--tokenizer DIR)`);
    }
    const srv = createMoecServer(tm, { maxQueue, ...(apiKey ? { apiKey } : {}), ...(values["quiet"] ? {} : { log: (l: string) => io.err(l) }) });
    try {
      await new Promise<void>((resolve, reject) => {
        srv.server.once("error", reject);
        srv.server.listen(port, host, () => resolve());
      });
    } catch (e) {
      await tm.model.dispose();
      io.err(`moec serve: cannot listen on ${host}:${port}: ${(e as Error).message}`);
      return 1;
    }
    const addr = srv.server.address();
    const where = typeof addr === "object" && addr ? `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
    // Handlers first, then the line that says the server is up (a client may signal as soon as it reads it).
    const stopped = new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
        io.err(`moec serve: ${sig}: finishing ${srv.scheduler.busy} running request(s), refusing new ones`);
        resolve();
      };
      const onTerm = () => stop("SIGTERM");
      const onInt = () => stop("SIGINT");
      process.on("SIGTERM", onTerm);
      process.on("SIGINT", onInt);
    });
    io.out(`moec serve: ${tm.name} on ${where} (${slots} slots, context ${tm.model.maxContext}, queue ${maxQueue}${apiKey ? ", API key required" : ""})`);
    await stopped;
    await srv.close(grace * 1000);
    await tm.model.dispose();
    io.err("moec serve: stopped");
    return 0;
  },
};
