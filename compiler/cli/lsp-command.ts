// `moec lsp --stdio`: the language server (compiler/lsp) for editors, speaking LSP over
// stdin/stdout. Nothing else may write to stdout while it runs.
import type { Command } from "./commands.js";
import { UsageError } from "./io.js";

export const lspCommand: Command = {
  name: "lsp",
  summary: "Run the language server (diagnostics, hover, completion, navigation, formatting) for editors.",
  usage: "moec lsp --stdio",
  options: { stdio: { type: "boolean" } },
  async run(_io, positionals, values) {
    if (positionals.length > 0) throw new UsageError(`'moec lsp' takes no files, got ${positionals.length}.`);
    if (values["stdio"] !== true) throw new UsageError("the language server talks over stdin/stdout: pass --stdio.");
    // Anything printed by mistake must not corrupt the protocol stream.
    console.log = console.info = (...args: unknown[]) => console.error(...args);
    // The language server (and vscode-languageserver) load only for `moec lsp`.
    const { startServer } = await import("../lsp/index.js");
    await new Promise<void>((resolve) => {
      process.stdin.on("close", () => resolve());
      startServer(process.stdin, process.stdout);
    });
    return 0;
  },
};
