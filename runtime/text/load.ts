// Reading a tokenizer from a folder (Node) or a URL (fetch): tokenizer.json, and where present
// tokenizer_config.json, generation_config.json, config.json and chat_template.jinja — the files
// a Hugging Face model folder has, and the ones `moec compile` copies into a bundle.
import { TextTokenizer, TokenizerError } from "./tokenizer.js";

function isRemote(u: URL): boolean {
  return u.protocol === "http:" || u.protocol === "https:";
}

/** The largest tokenizer.json read (published ones are at most tens of MiB), and the largest of the other files. */
export const MAX_TOKENIZER_BYTES = 256 * 2 ** 20;
export const MAX_TOKENIZER_CONFIG_BYTES = 16 * 2 ** 20;

/** The file's text, or null when it does not exist; a local file is read with a cap (a device or a pipe never fills memory). */
async function readOptional(u: URL, cap = MAX_TOKENIZER_CONFIG_BYTES): Promise<string | null> {
  if (isRemote(u)) {
    const r = await fetch(u);
    if (r.status === 404) return null;
    if (!r.ok) throw new TokenizerError(`${u.href}: HTTP ${r.status}`);
    return await r.text();
  }
  const { readFileCapped } = await import("../weights/read-capped.js");
  const { fileURLToPath } = await import("node:url");
  const file = fileURLToPath(u);
  try {
    return (await readFileCapped(file, cap)).toString("utf8");
  } catch (e) {
    const r = e as { reason?: string; problem?: string };
    if (r.reason === "missing" || (e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new TokenizerError(`${file}: ${r.problem ?? (e as Error).message}${r.reason === "too-large" ? " (not a tokenizer file moec can read)" : ""}`);
  }
}

function parse(text: string | null, u: URL): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    throw new Error("it is not a JSON object");
  } catch (e) {
    throw new TokenizerError(`${isRemote(u) ? u.href : decodeURIComponent(u.pathname)}: ${(e as Error).message}; re-download the file`);
  }
}

async function folderUrl(source: string | URL): Promise<URL> {
  let base: URL;
  if (source instanceof URL) base = source;
  else if (/^https?:\/\//.test(source) || source.startsWith("file:")) base = new URL(source);
  else {
    const { pathToFileURL } = await import("node:url");
    const { resolve } = await import("node:path");
    base = pathToFileURL(resolve(source) + "/");
  }
  return base.pathname.endsWith("/") ? base : new URL(base.href + "/");
}

/** The tokenizer in a folder, or null when it has no tokenizer.json. */
export async function loadTokenizer(source: string | URL): Promise<TextTokenizer | null> {
  const base = await folderUrl(source);
  const url = (f: string) => new URL(f, base);
  const tokenizer = parse(await readOptional(url("tokenizer.json"), MAX_TOKENIZER_BYTES), url("tokenizer.json"));
  if (tokenizer === null) return null;
  const [config, generation, model, template] = await Promise.all([
    readOptional(url("tokenizer_config.json")).then((t) => parse(t, url("tokenizer_config.json"))),
    readOptional(url("generation_config.json")).then((t) => parse(t, url("generation_config.json"))),
    readOptional(url("config.json")).then((t) => parse(t, url("config.json"))),
    readOptional(url("chat_template.jinja")),
  ]);
  const where = isRemote(base) ? base.href : decodeURIComponent(base.pathname);
  return new TextTokenizer({ tokenizer, config: config ?? {}, generation, model, chatTemplate: template }, `${where.replace(/\/$/, "")}/tokenizer.json`);
}
