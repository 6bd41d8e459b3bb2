// The moec language server as a library: `startServer` over any pair of streams (the CLI's
// `moec lsp --stdio`), `createServer` on an existing connection (tests, other transports).
import { createConnection, ProposedFeatures, StreamMessageReader, StreamMessageWriter, type Connection } from "vscode-languageserver/node";
import { createServer, type MoeServer, type ServerOptions } from "./server.js";
import { FrameFilter } from "./framing.js";

export { createServer, DEFAULT_DEBOUNCE_MS, type MoeServer, type ServerOptions } from "./server.js";
export { LEGEND as SEMANTIC_TOKENS_LEGEND } from "./semantic-tokens.js";

/**
 * Serves LSP over `input`/`output` until the client sends `exit` or closes the input.
 * When given streams (not message readers), the library ends the process on exit as the
 * protocol requires; that is what a language-server command wants.
 */
export function startServer(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, options: ServerOptions = {}): { connection: Connection; server: MoeServer } {
  // Malformed frames are skipped and logged (framing.ts) instead of stopping the server for good.
  const connection = createConnection(ProposedFeatures.all, input.pipe(new FrameFilter()), output);
  const server = createServer(connection, options);
  connection.listen();
  return { connection, server };
}

/** The same over message readers/writers; never exits the process (for in-process use). */
export function startServerOn(reader: StreamMessageReader, writer: StreamMessageWriter, options: ServerOptions = {}): { connection: Connection; server: MoeServer } {
  const connection = createConnection(ProposedFeatures.all, reader, writer);
  const server = createServer(connection, options);
  connection.listen();
  return { connection, server };
}
