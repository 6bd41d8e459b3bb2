// The language server over the protocol: a client connection talks JSON-RPC to the server
// through in-memory streams (the same messages an editor sends), and the bundled server the
// VS Code extension ships is started as a process over stdio.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type CompletionItem,
  type DocumentSymbol,
  type Hover,
  type InitializeResult,
  type Location,
  type MessageConnection,
  type PublishDiagnosticsParams,
  type SemanticTokens,
  type TextEdit,
  type WorkspaceEdit,
} from "vscode-languageserver/node";
import { lspCommand } from "../../compiler/cli/lsp-command.js";
import { Analysis } from "../../compiler/lsp/analysis.js";
import { complete } from "../../compiler/lsp/completion.js";
import { foldingRanges } from "../../compiler/lsp/folding.js";
import { hover as hoverAt } from "../../compiler/lsp/hover.js";
import { startServerOn } from "../../compiler/lsp/index.js";
import { definition, references } from "../../compiler/lsp/navigation.js";
import { semanticTokens, TOKEN_TYPES } from "../../compiler/lsp/semantic-tokens.js";
import { signatureHelp } from "../../compiler/lsp/signature-help.js";
import { documentSymbols } from "../../compiler/lsp/symbols.js";

const ROOT = resolve(import.meta.dirname, "../..");
const MIXTRAL = readFileSync(join(ROOT, "examples/mixtral-8x7b.moe"), "utf8");
const MIXTRAL_URI = "file:///work/mixtral-8x7b.moe";

interface Client {
  readonly conn: MessageConnection;
  readonly diagnostics: PublishDiagnosticsParams[];
  waitForDiagnostics(uri: string, version: number): Promise<PublishDiagnosticsParams>;
  dispose(): void;
}

function connect(debounceMs: number): Client {
  const up = new PassThrough();
  const down = new PassThrough();
  const { connection, server } = startServerOn(new StreamMessageReader(up), new StreamMessageWriter(down), { debounceMs });
  const conn = createMessageConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  const diagnostics: PublishDiagnosticsParams[] = [];
  const waiters: (() => void)[] = [];
  conn.onNotification("textDocument/publishDiagnostics", (p: PublishDiagnosticsParams) => {
    diagnostics.push(p);
    for (const w of waiters.splice(0)) w();
  });
  conn.listen();
  return {
    conn,
    diagnostics,
    async waitForDiagnostics(uri, version) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const hit = diagnostics.find((d) => d.uri === uri && d.version === version);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no diagnostics for ${uri} v${version}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    dispose() {
      server.dispose();
      conn.dispose();
      connection.dispose();
    },
  };
}

/** The position of the `nth` occurrence of `needle` (plus `delta` characters) in `text`. */
function pos(text: string, needle: string, nth = 0, delta = 0): { line: number; character: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`'${needle}' #${nth} not in text`);
  }
  const before = text.slice(0, at + delta);
  const line = before.split("\n").length - 1;
  return { line, character: before.length - before.lastIndexOf("\n") - 1 };
}

function hoverText(h: Hover | null): string {
  if (!h) return "";
  const c = h.contents;
  return typeof c === "string" ? c : "value" in c ? c.value : c.map((x) => (typeof x === "string" ? x : x.value)).join("\n");
}

let client: Client;
let init: InitializeResult;
let version = 1;

async function open(uri: string, text: string): Promise<PublishDiagnosticsParams> {
  const v = version++;
  await client.conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "moe", version: v, text } });
  return client.waitForDiagnostics(uri, v);
}

const td = (uri: string) => ({ textDocument: { uri } });

beforeAll(async () => {
  client = connect(30);
  init = await client.conn.sendRequest("initialize", { processId: null, rootUri: null, capabilities: {}, initializationOptions: { debounceMs: 30 } });
  await client.conn.sendNotification("initialized", {});
  await open(MIXTRAL_URI, MIXTRAL);
});

afterAll(() => client?.dispose());

describe("initialize", () => {
  it("announces every feature", () => {
    const c = init.capabilities;
    expect(c.hoverProvider).toBe(true);
    expect(c.completionProvider?.triggerCharacters).toContain("(");
    expect(c.definitionProvider).toBe(true);
    expect(c.referencesProvider).toBe(true);
    expect(c.documentSymbolProvider).toBeTruthy();
    expect(c.renameProvider).toEqual({ prepareProvider: true });
    expect(c.documentFormattingProvider).toBe(true);
    expect(c.signatureHelpProvider).toBeTruthy();
    const legend = (c.semanticTokensProvider as { legend: { tokenTypes: string[] } }).legend;
    for (const t of ["keyword", "number", "string", "comment", "function", "class", "variable", "parameter", "property"]) expect(legend.tokenTypes).toContain(t);
  });
});

describe("diagnostics", () => {
  it("a valid model has none", () => {
    const d = client.diagnostics.find((x) => x.uri === MIXTRAL_URI);
    expect(d?.diagnostics).toEqual([]);
  });

  it("reports checker errors with codes, ranges, hints and severities", async () => {
    const text = MIXTRAL.replace("gate = linear(x, ffn)", "gate = linaer(x, ffn)").replace("const eps = 1e-5", "const eps = 1e-5\n  expert Unused(x: [T, d]) -> [T, d] { return x }");
    const uri = "file:///work/errors.moe";
    const d = await open(uri, text);
    const unknown = d.diagnostics.find((x) => x.code === "MOE2001");
    expect(unknown).toBeDefined();
    expect(unknown!.range).toEqual({ start: pos(text, "linaer"), end: pos(text, "linaer", 0, 6) });
    expect(unknown!.severity).toBe(1);
    expect(unknown!.message).toContain("Cannot find name 'linaer'");
    expect(unknown!.message).toContain("Did you mean 'linear'?");
    expect(unknown!.source).toBe("moec");
    const unused = d.diagnostics.find((x) => x.code === "MOE2008");
    expect(unused?.severity).toBe(2);
    expect(unused?.range.start).toEqual(pos(text, "Unused"));
  });

  it("reports syntax errors", async () => {
    const text = "model M {\n  input x: f32[seq, 8]\n  y = linear(x, 4\n  output z = y\n}\n";
    const d = await open("file:///work/syntax.moe", text);
    expect(d.diagnostics.length).toBeGreaterThan(0);
    expect(d.diagnostics.every((x) => String(x.code).startsWith("MOE1"))).toBe(true);
    expect(d.diagnostics[0]!.code).toBe("MOE1004");
  });

  it("debounces: a burst of edits is checked once, at the last version", async () => {
    const uri = "file:///work/typing.moe";
    const v0 = version++;
    await client.conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "moe", version: v0, text: MIXTRAL } });
    await client.waitForDiagnostics(uri, v0);
    const before = client.diagnostics.filter((d) => d.uri === uri).length;
    // A long pause (as the extension's moec.diagnostics.debounceMs setting sends it) so the burst surely fits in it.
    await client.conn.sendNotification("workspace/didChangeConfiguration", { settings: { moec: { diagnostics: { debounceMs: 400 } } } });
    let v = v0;
    const line = pos(MIXTRAL, "  const eps").line;
    for (const ch of "xyz12") {
      v = version++;
      // Type a stray word at the start of the const line: a syntax error.
      await client.conn.sendNotification("textDocument/didChange", {
        textDocument: { uri, version: v },
        contentChanges: [{ range: { start: { line, character: 0 }, end: { line, character: 0 } }, text: ch }],
      });
    }
    const d = await client.waitForDiagnostics(uri, v);
    expect(client.diagnostics.filter((x) => x.uri === uri).length).toBe(before + 1);
    expect(d.diagnostics.length).toBeGreaterThan(0);
    await client.conn.sendNotification("workspace/didChangeConfiguration", { settings: { moec: { diagnostics: { debounceMs: 30 } } } });
  });
});

describe("hover", () => {
  it("shows the shape and dtype of a tensor variable", async () => {
    const h = await client.conn.sendRequest<Hover | null>("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "gate = linear", 0, 1) });
    const text = hoverText(h);
    expect(text).toContain("gate: f32[T, 14336]");
    expect(text).toContain("dtype f32");
    expect(h!.range).toEqual({ start: pos(MIXTRAL, "gate = linear"), end: pos(MIXTRAL, "gate = linear", 0, 4) });
    const top = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "h = embed") }));
    expect(top).toContain("h: f32[seq, 4096]");
  });

  it("shows a block's and an expert's parameter counts from the IR", async () => {
    const block = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "block Decoder", 0, 7) }));
    expect(block).toContain("block Decoder(h: [seq, d]) -> [seq, d]");
    // One Mixtral layer: attention 4096·(4096+1024+1024+4096) + router 8·4096 + 8 experts × 3·4096·14336 + 2 norms.
    const perLayer = 4096 * (4096 + 1024 + 1024 + 4096) + 8 * 4096 + 8 * 3 * 4096 * 14336 + 2 * 4096;
    expect(block).toContain(perLayer.toLocaleString("en-US"));
    expect(block).toContain("32 calls");
    const expert = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "expert SwiGLU", 0, 8) }));
    expect(expert).toContain((3 * 4096 * 14336).toLocaleString("en-US"));
    expect(expert).toContain("32 moe layers");
  });

  it("shows a router's options and a built-in op's docs", async () => {
    const router = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "topk(") }));
    expect(router).toContain("Router options");
    expect(router).toContain("`k` = `2`");
    expect(router).toContain("`renormalize` = `true`");
    expect(router).toContain("`capacity_factor` = `none`");
    const moe = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "moe(") }));
    expect(moe).toContain("token choice, top-2");
    expect(moe).toContain("8 × SwiGLU");
    const linear = hoverText(await client.conn.sendRequest("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "linear(x, ffn)", 0, 2) }));
    expect(linear).toContain("linear(x: tensor, out: int, bias: bool = false");
    expect(linear).toContain("dense projection");
    expect(linear).toContain("result: f32[T, 14336]");
  });
});

describe("completion", () => {
  const uri = "file:///work/complete.moe";
  const text = MIXTRAL.replace("    return h\n  }", "    z = moe(m, )\n    \n    return h\n  }");

  it("offers the keyword arguments of moe inside moe(", async () => {
    await open(uri, text);
    const items = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(uri), position: pos(text, "moe(m, )", 0, 7) });
    const labels = items.map((i) => i.label);
    expect(labels).toContain("router =");
    expect(labels).toContain("experts =");
    expect(labels).toContain("shared =");
    expect(labels).not.toContain("x ="); // given positionally
  });

  it("offers the parameters of a block or expert inside its call", async () => {
    const items = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "SwiGLU(ffn = ffn)", 0, 7) });
    const labels = items.map((i) => i.label);
    expect(labels).toContain("x =");
    expect(labels).not.toContain("ffn ="); // already given
    expect(labels).toContain("ffn"); // the constant, as a value
  });

  it("offers ops, variables and keywords at the start of a statement", async () => {
    const items = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(uri), position: pos(text, "    \n    return h", 0, 4) });
    const labels = items.map((i) => i.label);
    for (const l of ["linear", "attention", "rmsnorm", "moe", "topk", "return", "eps", "SwiGLU", "a", "m"]) expect(labels).toContain(l);
    const linear = items.find((i) => i.label === "linear")!;
    expect(linear.insertText).toBe("linear(${1:x}, ${2:out})");
    expect(linear.insertTextFormat).toBe(2);
    const moe = items.find((i) => i.label === "moe")!;
    expect(moe.insertText).toBe("moe(${1:x}, experts = ${2:experts}, router = ${3:router})");
  });

  it("offers the allowed strings of a one-of argument", async () => {
    const t = MIXTRAL.replace('scoring = "softmax"', "scoring = ");
    const u = "file:///work/scoring.moe";
    await open(u, t);
    const items = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(u), position: pos(t, "scoring = ", 0, 10) });
    expect(items.map((i) => i.label).slice(0, 4)).toEqual(['"softmax"', '"sigmoid"', '"softmax_topk"', '"sparsemixer"']);
  });

  it("offers nothing inside comments and strings", async () => {
    const inComment = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "Published:", 0, 3) });
    expect(inComment).toEqual([]);
    const inString = await client.conn.sendRequest<CompletionItem[]>("textDocument/completion", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, '"w1"', 0, 2) });
    expect(inString).toEqual([]);
  });
});

describe("navigation", () => {
  it("goes from a block call to the block", async () => {
    const loc = await client.conn.sendRequest<Location>("textDocument/definition", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "Decoder(h)", 0, 3) });
    expect(loc.uri).toBe(MIXTRAL_URI);
    expect(loc.range).toEqual({ start: pos(MIXTRAL, "Decoder(h: "), end: pos(MIXTRAL, "Decoder(h: ", 0, 7) });
  });

  it("goes from a keyword argument to the expert's parameter, and from a use to a constant", async () => {
    const kw = await client.conn.sendRequest<Location>("textDocument/definition", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "SwiGLU(ffn = ffn)", 0, 8) });
    expect(kw.range.start).toEqual(pos(MIXTRAL, "ffn: int"));
    const c = await client.conn.sendRequest<Location>("textDocument/definition", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "SwiGLU(ffn = ffn)", 0, 14) });
    expect(c.range.start).toEqual(pos(MIXTRAL, "ffn = 14336"));
  });

  it("finds references, including {i} in weight names", async () => {
    const refs = await client.conn.sendRequest<Location[]>("textDocument/references", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "const eps", 0, 7), context: { includeDeclaration: true } });
    expect(refs.length).toBe(1 + (MIXTRAL.match(/\beps\)/g) ?? []).length);
    const loop = await client.conn.sendRequest<Location[]>("textDocument/references", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "for i in", 0, 4), context: { includeDeclaration: false } });
    expect(loop.map((l) => l.range.start)).toEqual([pos(MIXTRAL, "{i}", 0, 1)]);
  });

  it("lists the outline", async () => {
    const syms = await client.conn.sendRequest<DocumentSymbol[]>("textDocument/documentSymbol", td(MIXTRAL_URI));
    expect(syms.map((s) => s.name)).toEqual(["Mixtral"]);
    const names = syms[0]!.children!.map((s) => s.name);
    expect(names).toEqual(["vocab", "d", "layers", "heads", "kv_heads", "head_dim", "experts", "top_k", "ffn", "eps", "SwiGLU", "Decoder", "tokens", "logits"]);
    const swiglu = syms[0]!.children!.find((s) => s.name === "SwiGLU")!;
    expect(swiglu.children!.map((s) => s.name)).toEqual(["x", "ffn"]);
  });

  it("renames a parameter with its keyword arguments, and nothing else", async () => {
    const edit = await client.conn.sendRequest<WorkspaceEdit>("textDocument/rename", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "ffn: int"), newName: "width" });
    const edits = edit.changes![MIXTRAL_URI]!;
    const starts = edits.map((e) => e.range.start);
    expect(starts).toContainEqual(pos(MIXTRAL, "ffn: int"));
    expect(starts).toContainEqual(pos(MIXTRAL, "linear(x, ffn)", 0, 10));
    expect(starts).toContainEqual(pos(MIXTRAL, "SwiGLU(ffn = ffn)", 0, 7));
    expect(starts).not.toContainEqual(pos(MIXTRAL, "SwiGLU(ffn = ffn)", 0, 13));
    expect(edits.length).toBe(4);
    expect(edits.every((e) => e.newText === "width")).toBe(true);
  });

  it("refuses to rename built-ins and to take a keyword", async () => {
    await expect(client.conn.sendRequest("textDocument/prepareRename", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "rmsnorm(h, eps)") })).rejects.toThrow(/built-in/);
    await expect(client.conn.sendRequest("textDocument/rename", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "linear(x, ffn)"), newName: "dense" })).rejects.toThrow(/built-in/);
    await expect(client.conn.sendRequest("textDocument/rename", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "const eps", 0, 7), newName: "model" })).rejects.toThrow(/keyword/);
    const ok = await client.conn.sendRequest<{ placeholder: string }>("textDocument/prepareRename", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "const eps", 0, 7) });
    expect(ok.placeholder).toBe("eps");
  });
});

describe("signature help and folding", () => {
  it("shows the signature of the call at the cursor, with the current argument", async () => {
    const help = await client.conn.sendRequest<{ signatures: { label: string; parameters: { label: [number, number] }[] }[]; activeParameter: number }>(
      "textDocument/signatureHelp",
      { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "renormalize = true", 0, 3) },
    );
    const sig = help.signatures[0]!;
    expect(sig.label.startsWith("topk(k: int")).toBe(true);
    const [from, to] = sig.parameters[help.activeParameter]!.label;
    expect(sig.label.slice(from, to)).toBe("renormalize: bool = false");
  });

  it("folds blocks and comment runs", async () => {
    const ranges = await client.conn.sendRequest<{ startLine: number; endLine: number; kind?: string }[]>("textDocument/foldingRange", td(MIXTRAL_URI));
    expect(ranges).toContainEqual({ startLine: pos(MIXTRAL, "expert SwiGLU").line, endLine: pos(MIXTRAL, "return linear(silu").line });
    expect(ranges).toContainEqual({ startLine: 0, endLine: 3, kind: "comment" });
  });
});

describe("semantic tokens and formatting", () => {
  it("classifies every token", async () => {
    const t = await client.conn.sendRequest<SemanticTokens>("textDocument/semanticTokens/full", td(MIXTRAL_URI));
    expect(t.data.length % 5).toBe(0);
    expect(t.data.length).toBeGreaterThan(5 * 100);
    // Decode to (line, char, length, type) and look up a few.
    const decoded: { line: number; char: number; len: number; type: string; mods: number }[] = [];
    let line = 0;
    let char = 0;
    for (let i = 0; i < t.data.length; i += 5) {
      line += t.data[i]!;
      char = t.data[i] === 0 ? char + t.data[i + 1]! : t.data[i + 1]!;
      decoded.push({ line, char, len: t.data[i + 2]!, type: TOKEN_TYPES[t.data[i + 3]!]!, mods: t.data[i + 4]! });
    }
    const at = (needle: string, nth = 0, delta = 0) => {
      const p = pos(MIXTRAL, needle, nth, delta);
      return decoded.find((d) => d.line === p.line && d.char === p.character)?.type;
    };
    expect(at("// Mixtral")).toBe("comment");
    expect(at("model Mixtral")).toBe("keyword");
    expect(at("Mixtral {")).toBe("namespace");
    expect(at("32000")).toBe("number");
    expect(at("1e-5")).toBe("number");
    expect(at('"w1"')).toBe("string");
    expect(at("linear(x, ffn)")).toBe("function");
    expect(at("SwiGLU(ffn")).toBe("class");
    expect(at("gate = linear")).toBe("variable");
    expect(at("x, ffn)")).toBe("parameter");
    expect(at("ffn = ffn)")).toBe("property");
    expect(at("i32[seq]")).toBe("type");
    expect(at("seq]")).toBe("typeParameter");
    expect(at("* up")).toBe("operator");
  });

  it("formats through the compiler's formatter", async () => {
    const uri = "file:///work/format.moe";
    const messy = "model   M {\n      input x: f32[seq, 8]\n  output   y = linear(x,4)   \n}";
    await open(uri, messy);
    const edits = await client.conn.sendRequest<TextEdit[]>("textDocument/formatting", { ...td(uri), options: { tabSize: 2, insertSpaces: true } });
    expect(edits.length).toBeGreaterThan(0);
    // Applying the edits gives text the formatter leaves alone.
    const lines = messy.split("\n");
    const offset = (p: { line: number; character: number }) => lines.slice(0, p.line).reduce((s, l) => s + l.length + 1, 0) + p.character;
    let out = messy;
    for (const e of [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start))) out = out.slice(0, offset(e.range.start)) + e.newText + out.slice(offset(e.range.end));
    expect(out).not.toBe(messy);
    const { formatSource } = await import("../../compiler/format/index.js");
    expect(await formatSource(out)).toBe(out);
    const broken = await client.conn.sendRequest<TextEdit[]>("textDocument/formatting", { textDocument: { uri: "file:///work/syntax.moe" }, options: { tabSize: 2, insertSpaces: true } });
    expect(broken).toEqual([]);
  });
});

describe("half-typed files", () => {
  it("every feature answers (and never throws) on every prefix of every example", () => {
    let runs = 0;
    for (const file of ["mixtral-8x7b.moe", "deepseek-v3.moe", "moe-plus-plus.moe", "readme-pregated.moe"]) {
      const full = readFileSync(join(ROOT, "examples", file), "utf8");
      for (let cut = 0; cut <= full.length; cut += 97) {
        const text = full.slice(0, cut);
        const a = new Analysis(`file:///${file}`, cut, text);
        a.diagnostics;
        semanticTokens(a);
        documentSymbols(a);
        foldingRanges(a);
        for (const off of [0, Math.floor(cut / 2), Math.max(0, cut - 1), cut]) {
          hoverAt(a, off);
          complete(a, off, null);
          signatureHelp(a, off);
          definition(a, off);
          references(a, off, true);
        }
        runs++;
      }
    }
    expect(runs).toBeGreaterThan(100);
  });
});

describe("moec lsp", () => {
  it("requires --stdio and takes no files", async () => {
    const io = { out: () => {}, err: () => {}, color: false };
    expect(lspCommand.name).toBe("lsp");
    await expect(lspCommand.run(io, [], {})).rejects.toThrow(/--stdio/);
    await expect(lspCommand.run(io, ["a.moe"], { stdio: true })).rejects.toThrow(/no files/);
  });
});

describe("the bundled server over stdio", () => {
  let dir = "";
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("starts, answers initialize and a hover, and exits cleanly on shutdown + exit", async () => {
    const { build } = await import("esbuild");
    dir = mkdtempSync(join(tmpdir(), "moec-lsp-"));
    const out = join(dir, "server.mjs");
    await build({
      entryPoints: [join(ROOT, "compiler/lsp/main.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: out,
      logLevel: "silent",
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    const child = spawn(process.execPath, [out, "--stdio"], { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    conn.listen();
    const got = new Promise<PublishDiagnosticsParams>((r) => conn.onNotification("textDocument/publishDiagnostics", r));
    const res = await conn.sendRequest<InitializeResult>("initialize", { processId: null, rootUri: null, capabilities: {} });
    expect(res.capabilities.hoverProvider).toBe(true);
    await conn.sendNotification("initialized", {});
    await conn.sendNotification("textDocument/didOpen", { textDocument: { uri: MIXTRAL_URI, languageId: "moe", version: 1, text: MIXTRAL } });
    expect((await got).diagnostics).toEqual([]);
    const h = await conn.sendRequest<Hover>("textDocument/hover", { ...td(MIXTRAL_URI), position: pos(MIXTRAL, "up = linear") });
    expect(hoverText(h)).toContain("up: f32[T, 14336]");
    await conn.sendRequest("shutdown");
    await conn.sendNotification("exit");
    expect(await exited).toBe(0);
    conn.dispose();
  });
});
