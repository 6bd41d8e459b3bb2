// `moec serve`'s HTTP layer, on Node's own http module (see ARCHITECTURE.md): routing, the
// optional API key, request bodies with a size bound, OpenAI-style errors, cancellation when a
// client disconnects, and a graceful close (no new requests; running ones finish, or are told).
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models   GET /health
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { TextModel } from "../run/text-model.js";
import { complete, type Endpoint } from "./completions.js";
import { QueueFullError, Scheduler, ShuttingDownError } from "./scheduler.js";
import { chatRequest, completionRequest, parseBody, RequestError } from "./validate.js";

export interface ServeOptions {
  /** Requests that may wait for a slot; more get 503. */
  readonly maxQueue?: number;
  /** Bearer token clients must send (Authorization: Bearer KEY); none when unset. */
  readonly apiKey?: string;
  /** Largest request body accepted, in bytes (default 4 MiB). */
  readonly maxBodyBytes?: number;
  /** One line per request (method, path, status, tokens). */
  readonly log?: (line: string) => void;
}

export interface MoecServer {
  readonly server: Server;
  readonly scheduler: Scheduler;
  /** Stops taking requests and waits for the running ones (cancelling them after graceMs). */
  close(graceMs?: number): Promise<void>;
}

function sendError(res: ServerResponse, status: number, message: string, param: string | null = null, type = status >= 500 ? "server_error" : "invalid_request_error", headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    // A stream already started: report in-band and end it.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify({ error: { message, type, param, code: null } })}\n\n`);
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify({ error: { message, type, param, code: null } }));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new RequestError(null, `the request body is over ${limit} bytes (the server's limit); send a shorter prompt`, 413);
    // A body announced as too large is refused before it is read (and before "100 Continue").
    if (Number(req.headers["content-length"]) > limit) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      if (size > limit) return; // refused already: the rest is read and dropped, so the client gets the 413
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        reject(tooLarge());
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function createMoecServer(tm: TextModel, opts: ServeOptions = {}): MoecServer {
  const scheduler = new Scheduler(tm.model, tm.tokenizer, opts.maxQueue ?? 64);
  const ep: Endpoint = { scheduler, tokenizer: tm.tokenizer, modelName: tm.name, maxContext: tm.model.maxContext };
  const limit = opts.maxBodyBytes ?? 4 * 2 ** 20;
  const log = opts.log ?? (() => {});
  let closing = false;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    res.setHeader("access-control-allow-origin", "*");
    if (req.method === "OPTIONS") {
      res.writeHead(204, { "access-control-allow-methods": "GET, POST, OPTIONS", "access-control-allow-headers": "authorization, content-type" }).end();
      return;
    }
    if (path === "/health") {
      if (req.method !== "GET") return sendError(res, 405, "use GET /health");
      res.writeHead(closing ? 503 : 200, { "content-type": "application/json" }).end(JSON.stringify({ status: closing ? "shutting down" : "ok", model: tm.name, slots: scheduler.slots, busy: scheduler.busy, queued: scheduler.queued }));
      return;
    }
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendError(res, 401, "a valid API key is required: send the header 'Authorization: Bearer KEY' with the key the server was started with (--api-key)", null, "authentication_error");
    }
    if (path === "/v1/models") {
      if (req.method !== "GET") return sendError(res, 405, "use GET /v1/models");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: tm.name, object: "model", created: 0, owned_by: "moec" }] }));
      return;
    }
    const kind = path === "/v1/chat/completions" ? "chat" : path === "/v1/completions" ? "completion" : null;
    if (kind === null) return sendError(res, 404, `no endpoint ${req.method} ${path}; moec serve has POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health`, null, "not_found_error");
    if (req.method !== "POST") return sendError(res, 405, `use POST ${path}`);
    if (closing) return sendError(res, 503, "the server is shutting down and takes no new requests", null, "server_error");
    const body = parseBody(await readBody(req, limit));
    const parsed = kind === "chat" ? chatRequest(body) : completionRequest(body);
    // Cancel the request when the client goes away before its reply is complete.
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    const r = await complete(parsed, ep, res, controller.signal);
    log(`${req.method} ${path} ${controller.signal.aborted ? "client gone" : res.statusCode} ${r ? `${r.promptTokens}+${r.completionTokens} tokens, ${r.finishReason}` : ""}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // A refused body may still be arriving: answer, then close the connection rather than read it all.
      if (e instanceof RequestError) sendError(res, e.status, e.message, e.param, undefined, e.status === 413 ? { connection: "close" } : {});
      else if (e instanceof QueueFullError) sendError(res, 503, e.message, null, "server_busy", { "retry-after": "1" });
      else if (e instanceof ShuttingDownError) sendError(res, 503, e.message);
      else sendError(res, 500, `internal error: ${(e as Error).message}`);
      log(`${req.method} ${req.url} ${res.statusCode} ${(e as Error).message}`);
    });
  });
  // "Expect: 100-continue": a body announced as too large is refused without asking for it.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers["content-length"]) > limit)) res.writeContinue();
    server.emit("request", req, res);
  });
  // Requests wait in the scheduler's queue, not in socket timeouts.
  server.requestTimeout = 0;

  return {
    server,
    scheduler,
    async close(graceMs = 30_000) {
      closing = true;
      const closed = new Promise<void>((res) => server.close(() => res()));
      server.closeIdleConnections();
      await scheduler.drain(graceMs);
      // Replies are written; keep-alive connections go idle and close (any left after a second are ended).
      server.closeIdleConnections();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([closed, new Promise<void>((res) => (timer = setTimeout(res, 1000)))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
    },
  };
}
