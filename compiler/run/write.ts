// Writing an output file whole or not at all: a temporary file beside it, renamed into place,
// so a failed or interrupted command (Ctrl-C, SIGTERM: the temporary file is removed) never
// leaves a partial output behind. An output is never one of the command's inputs, never a
// folder; a device or pipe (/dev/stdout, /dev/null) is written to directly, never replaced;
// through a symbolic link, the file it points to is replaced and the link kept.
import { lstat, readdir, realpath, rename, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { removeOnSignal } from "./cleanup.js";
import { RunError } from "./load.js";

export interface WriteOptions {
  /** Files (or folders: their files) the command reads; the output must not be one of them. */
  readonly inputs?: readonly (string | undefined)[];
  /** How the output is named on the command line, for messages ("--logits", "-o"). */
  readonly flag?: string;
}

async function identities(paths: readonly (string | undefined)[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const add = async (p: string) => {
    const st = await stat(p).catch(() => null);
    if (st?.isFile()) ids.set(`${st.dev}:${st.ino}`, p);
    return st;
  };
  for (const p of paths) {
    if (p === undefined) continue;
    const st = await add(p);
    if (st?.isDirectory()) for (const f of await readdir(p).catch(() => [] as string[])) await add(join(p, f));
  }
  return ids;
}

/** Where the data should go: the path (or, through a symlink, its target) and whether it must be written in place. */
export async function outputTarget(path: string, opts: WriteOptions = {}): Promise<{ target: string; inPlace: boolean }> {
  const flag = opts.flag ? `${opts.flag} ` : "";
  const link = await lstat(path).catch(() => null);
  const target = link?.isSymbolicLink() ? await realpath(path).catch(() => path) : path;
  const st = await stat(target).catch(() => null);
  if (st?.isDirectory()) throw new RunError(`cannot write ${flag}${path}: it is a folder; name a file (for example ${join(path, basename(path) || "out")}${opts.flag === "--logits" ? ".f32" : ""})`);
  if (st) {
    const input = (await identities(opts.inputs ?? [])).get(`${st.dev}:${st.ino}`);
    if (input !== undefined) throw new RunError(`cannot write ${flag}${path}: it is ${input === path ? "" : `the same file as `}${input}, an input of this command; it would be overwritten — name another output file`);
  }
  return { target, inPlace: st !== null && !st.isFile() };
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const { target, inPlace } = await outputTarget(path, opts);
  if (inPlace) {
    try {
      await writeFile(target, data);
    } catch (e) {
      throw new RunError(`cannot write ${path}: ${(e as Error).message}`);
    }
    return;
  }
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  const unregister = removeOnSignal(tmp);
  try {
    await writeFile(tmp, data, { flag: "wx" });
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(`cannot write ${path}: ${code === "ENOENT" ? "its folder does not exist" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "ENOSPC" ? "the disk is full" : code === "EROFS" ? "the file system is read-only" : (e as Error).message}`);
  } finally {
    unregister();
  }
}
