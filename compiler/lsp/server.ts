// The moec language server: wires the LSP requests to the feature modules. One Analysis per
// document version is shared by every request (see analysis.ts); diagnostics are debounced.
import {
  TextDocumentSyncKind,
  TextDocuments,
  type Connection,
  type InitializeParams,
  type InitializeResult,
  type TextDocumentPositionParams,
} from "vscode-languageserver";
import { TextDocument } from "vscode-languageserver-textdocument";
import { AnalysisCache, type Analysis } from "./analysis.js";
import { complete } from "./completion.js";
import { Debouncer, lspDiagnostics } from "./diagnostics.js";
import { foldingRanges } from "./folding.js";
import { formatDocument } from "./formatting.js";
import { hover } from "./hover.js";
import { definition, highlights, prepareRename, references, rename } from "./navigation.js";
import { LEGEND, semanticTokens } from "./semantic-tokens.js";
import { signatureHelp } from "./signature-help.js";
import { documentSymbols } from "./symbols.js";

export interface ServerOptions {
  /** Milliseconds of quiet after an edit before the document is checked (default 200). */
  readonly debounceMs?: number;
}

export interface MoeServer {
  readonly documents: TextDocuments<TextDocument>;
  /** The analysis of a document's current version (created on demand). */
  analysis(uri: string): Analysis | null;
  dispose(): void;
}

export const DEFAULT_DEBOUNCE_MS = 200;

function numberSetting(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;
}

export function createServer(connection: Connection, options: ServerOptions = {}): MoeServer {
  const documents = new TextDocuments(TextDocument);
  const cache = new AnalysisCache();
  const published = new Set<string>();

  const analysis = (uri: string): Analysis | null => {
    const doc = documents.get(uri);
    if (!doc) return null;
    return cache.get(uri, doc.version, () => doc.getText());
  };
  const at = (p: TextDocumentPositionParams): { a: Analysis; offset: number } | null => {
    const a = analysis(p.textDocument.uri);
    return a ? { a, offset: a.lines.offsetAt(p.position) } : null;
  };

  const validate = (uri: string) => {
    const a = analysis(uri);
    if (!a) return;
    let diagnostics;
    try {
      diagnostics = lspDiagnostics(a);
    } catch (e) {
      connection.console.error(`moec: checking ${uri} failed: ${(e as Error).stack ?? String(e)}`);
      return;
    }
    published.add(uri);
    void connection.sendDiagnostics({ uri, version: a.version, diagnostics });
  };
  const debouncer = new Debouncer(options.debounceMs ?? DEFAULT_DEBOUNCE_MS, validate);

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    const init = (params.initializationOptions ?? {}) as { debounceMs?: unknown };
    const d = numberSetting(init.debounceMs);
    if (d !== null) debouncer.delayMs = d;
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        hoverProvider: true,
        completionProvider: { triggerCharacters: ["(", ",", "=", ":", " "], resolveProvider: false },
        signatureHelpProvider: { triggerCharacters: ["(", ","], retriggerCharacters: ["="] },
        definitionProvider: true,
        referencesProvider: true,
        documentHighlightProvider: true,
        documentSymbolProvider: { label: "moe" },
        renameProvider: { prepareProvider: true },
        documentFormattingProvider: true,
        foldingRangeProvider: true,
        semanticTokensProvider: { legend: LEGEND, full: true, range: false },
      },
      serverInfo: { name: "moec", version: "0.1.0" },
    };
  });

  connection.onDidChangeConfiguration((change) => {
    const s = (change.settings as { moec?: { diagnostics?: { debounceMs?: unknown } } } | null)?.moec;
    const d = numberSetting(s?.diagnostics?.debounceMs);
    if (d !== null) debouncer.delayMs = d;
  });

  // The first check of a document is immediate; edits after that wait for a pause.
  documents.onDidChangeContent((e) => debouncer.schedule(e.document.uri, published.has(e.document.uri) ? undefined : 0));
  documents.onDidClose((e) => {
    debouncer.cancel(e.document.uri);
    cache.delete(e.document.uri);
    published.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover((p) => {
    const h = at(p);
    return h ? hover(h.a, h.offset) : null;
  });
  connection.onCompletion((p) => {
    const h = at(p);
    if (!h) return [];
    const fallback = h.a.parses ? null : (cache.lastGood(p.textDocument.uri)?.resolution ?? null);
    return complete(h.a, h.offset, fallback);
  });
  connection.onSignatureHelp((p) => {
    const h = at(p);
    return h ? signatureHelp(h.a, h.offset) : null;
  });
  connection.onDefinition((p) => {
    const h = at(p);
    return h ? definition(h.a, h.offset) : null;
  });
  connection.onReferences((p) => {
    const h = at(p);
    return h ? references(h.a, h.offset, p.context.includeDeclaration) : [];
  });
  connection.onDocumentHighlight((p) => {
    const h = at(p);
    return h ? highlights(h.a, h.offset) : [];
  });
  connection.onDocumentSymbol((p) => {
    const a = analysis(p.textDocument.uri);
    return a ? documentSymbols(a) : [];
  });
  connection.onPrepareRename((p) => {
    const h = at(p);
    return h ? prepareRename(h.a, h.offset) : null;
  });
  connection.onRenameRequest((p) => {
    const h = at(p);
    return h ? rename(h.a, h.offset, p.newName) : null;
  });
  connection.onDocumentFormatting(async (p) => {
    const a = analysis(p.textDocument.uri);
    return a ? formatDocument(a) : [];
  });
  connection.onFoldingRanges((p) => {
    const a = analysis(p.textDocument.uri);
    return a ? foldingRanges(a) : [];
  });
  connection.languages.semanticTokens.on((p) => {
    const a = analysis(p.textDocument.uri);
    return a ? semanticTokens(a) : { data: [] };
  });

  documents.listen(connection);
  return {
    documents,
    analysis,
    dispose: () => debouncer.dispose(),
  };
}
