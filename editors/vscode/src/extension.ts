// The moec extension's client: starts the language server bundled next to it
// (dist/server.mjs, built from compiler/lsp), or `<moec.server.path> lsp --stdio` when set,
// and connects it to every .moe document.
import * as vscode from "vscode";
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function serverOptions(context: vscode.ExtensionContext): ServerOptions {
  const custom = vscode.workspace.getConfiguration("moec").get<string>("server.path", "").trim();
  if (custom) return { command: custom, args: ["lsp", "--stdio"], transport: TransportKind.stdio };
  const module = context.asAbsolutePath("dist/server.mjs");
  return {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ["--nolazy", "--inspect=6009"] } },
  };
}

function createClient(context: vscode.ExtensionContext): LanguageClient {
  const config = vscode.workspace.getConfiguration("moec");
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "moe" },
      { scheme: "untitled", language: "moe" },
    ],
    synchronize: { configurationSection: "moec" },
    initializationOptions: { debounceMs: config.get<number>("diagnostics.debounceMs", 200) },
  };
  return new LanguageClient("moec", "moec language server", serverOptions(context), clientOptions);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("moec.restartServer", async () => {
      await client?.stop();
      client = createClient(context);
      await client.start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("moec.server.path")) await vscode.commands.executeCommand("moec.restartServer");
    }),
  );
  client = createClient(context);
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
