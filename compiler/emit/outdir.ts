// The output folder of `moec compile -o DIR`, kept safe for the files a user already has there:
//   - a new or empty folder is moec's; a folder holding `.moec-bundle` (the marker moec writes,
//     listing the files of the bundle it wrote) is moec's; any other non-empty folder needs
//     --force, and even then only the files the bundle writes are replaced;
//   - only the bundle's own files are ever removed: the ones being replaced, and the ones the
//     previous bundle listed in its marker that the new one no longer has (old chunks); the
//     marker lists every path (types/… too), and folders are merged file by file, so what the
//     user keeps inside types/ stays;
//   - files are built in a temporary folder beside DIR (removed on failure, Ctrl-C or SIGTERM)
//     and moved in when everything succeeded;
//   - folders are created one level at a time (Node's recursive mkdir loops forever on some
//     paths, such as under /proc), and every failure names the path and what to do.
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { removeOnSignal } from "../run/cleanup.js";

export const BUNDLE_MARKER = ".moec-bundle";

/** A problem with the output folder; `usage` when the command line must change (exit 2), else exit 1. */
export class OutDirError extends Error {
  constructor(message: string, readonly usage = false) {
    super(message);
  }
}

const why = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? "the file system does not allow it there (ENOENT)" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "the file system is read-only" : code === "ENOSPC" ? "the disk is full" : code === "ENOTDIR" ? "a part of the path is a file" : (e as Error).message;
};

/** `mkdir -p`, one level at a time; an error names the folder that could not be made. Returns the folders it made, outermost first. */
export async function makeDirs(dir: string, onMade?: (dir: string) => void): Promise<string[]> {
  const abs = resolve(dir);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    const st = await stat(at).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? null : Promise.reject(e)));
    if (st) {
      if (!st.isDirectory()) throw new OutDirError(`cannot create ${abs}: ${at} is a file, not a folder; choose another output folder`);
      break;
    }
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  const made: string[] = [];
  for (const d of missing) {
    try {
      await mkdir(d);
      made.push(d);
      onMade?.(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && (await stat(d).then((s) => s.isDirectory(), () => false))) continue;
      throw new OutDirError(`cannot create the folder ${d}: ${why(e)}; choose an output folder you can write to`);
    }
  }
  return made;
}

interface Marker {
  /** The bundle's top-level names. */
  readonly files: readonly string[];
  /** Every file the bundle wrote, as '/'-separated paths (inside types/ too); null in a marker without it. */
  readonly tree: readonly string[] | null;
}

const isName = (f: string) => f !== "" && !f.includes("/") && !f.includes("\\") && f !== "." && f !== "..";

async function readMarker(out: string): Promise<Marker | null> {
  try {
    const m = JSON.parse(await readFile(join(out, BUNDLE_MARKER), "utf8")) as { files?: unknown; tree?: unknown };
    const files = Array.isArray(m.files) ? m.files.filter((f): f is string => typeof f === "string" && isName(f)) : [];
    const tree = Array.isArray(m.tree) ? m.tree.filter((f): f is string => typeof f === "string" && f.split("/").every(isName)) : null;
    return { files, tree };
  } catch {
    return null;
  }
}

/** Every file under `dir` ('/'-separated paths; folders are not listed, their files are). */
async function filesUnder(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(rel ? join(dir, rel) : dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else out.push(r);
  }
  return out;
}

/**
 * Moves `rel` from the temporary folder into the output folder. A folder the output already has
 * is merged file by file, so files the user keeps inside it (types/mine.d.ts) stay.
 */
async function place(tmp: string, out: string, rel: string): Promise<void> {
  const from = join(tmp, rel), to = join(out, rel);
  const [src, dst] = await Promise.all([lstat(from), lstat(to).catch(() => null)]);
  if (src.isDirectory() && dst?.isDirectory()) {
    for (const e of await readdir(from)) await place(tmp, out, `${rel}/${e}`);
    return;
  }
  if (dst) await rm(to, { force: true }); // a file (checked before: never a folder)
  await rename(from, to);
}

/** What is in -o DIR now, and whether moec may write there. Throws OutDirError when it may not. */
export async function checkOutDir(outDir: string, force: boolean): Promise<{ existing: readonly string[]; ours: readonly string[]; tree?: readonly string[] | null }> {
  const out = resolve(outDir);
  let st;
  try {
    st = await stat(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { existing: [], ours: [] };
    throw new OutDirError(`cannot use ${outDir} as the output folder: ${why(e)}`);
  }
  if (!st.isDirectory()) throw new OutDirError(`-o ${outDir} is a file, not a folder; a bundle is a folder of files: choose a new folder name`, true);
  let existing: string[];
  try {
    existing = await readdir(out);
  } catch (e) {
    throw new OutDirError(`cannot read the output folder ${outDir}: ${why(e)}`);
  }
  if (existing.length === 0) return { existing, ours: [] };
  const marker = await readMarker(out);
  if (marker) return { existing, ours: marker.files, tree: marker.tree };
  if (force) return { existing, ours: [] };
  const shown = existing.slice(0, 6).join(", ") + (existing.length > 6 ? `, … (${existing.length} in all)` : "");
  throw new OutDirError(
    `-o ${outDir} is a folder moec did not create (it has no ${BUNDLE_MARKER}) and it is not empty: ${shown}. ` +
      `A bundle writes package.json, model.js, model.d.ts, runtime.js, types/, plan.json, kernels*.wasm and weights.safetensors there, replacing files of those names. ` +
      `Choose a new or empty folder, or pass --force to write the bundle into this one (files of other names are left alone).`,
    true,
  );
}

export interface BundleDir {
  /** The temporary folder to write the bundle into. */
  readonly tmp: string;
  /** Moves the files written to `tmp` into the output folder; returns their names. */
  commit(): Promise<string[]>;
  /** Removes the temporary folder (after commit, or after a failure). */
  close(): Promise<void>;
}

/** Prepares writing a bundle into `outDir`: checks the folder, makes the temporary one beside it. */
export async function openBundleDir(outDir: string, force: boolean): Promise<BundleDir> {
  const out = resolve(outDir);
  await checkOutDir(out, force);
  // Parents made for this bundle are removed again if it is never committed; on Ctrl-C the
  // outermost one made (it holds nothing else), else the temporary folder.
  const signals: { off: (() => void) | null } = { off: null };
  const parents = await makeDirs(dirname(out), (d) => (signals.off ??= removeOnSignal(d)));
  const removeParents = async () => {
    for (const d of [...parents].reverse()) await rmdir(d).catch(() => {});
  };
  let tmp: string;
  try {
    tmp = await mkdtemp(join(dirname(out), `${basename(out)}.tmp-${process.pid}-`));
  } catch (e) {
    await removeParents();
    signals.off?.();
    throw new OutDirError(`cannot create a temporary folder beside ${outDir} (in ${dirname(out)}): ${why(e)}; choose an output folder whose parent you can write to`);
  }
  const release = (signals.off ??= removeOnSignal(tmp));
  let committed = false;
  return {
    tmp,
    async commit() {
      const files = (await readdir(tmp)).sort();
      const tree = (await filesUnder(tmp)).sort();
      // Checked again now that the names are known (chunk names carry a hash).
      const { existing, ours, tree: oursTree } = await checkOutDir(out, force);
      const mine = new Set(ours);
      // The previous bundle's files: its list of every path; a marker without that list (an older moec's) vouches
      // only for its top-level files, so nothing inside its folders is removed as stale.
      const oldTree = new Set(oursTree ?? (await Promise.all(ours.map(async (f) => ((await lstat(join(out, f)).catch(() => null))?.isDirectory() ? [] : [f])))).flat());
      if (!force) {
        const theirs = files.filter((f) => existing.includes(f) && !mine.has(f));
        if (theirs.length > 0) throw new OutDirError(`-o ${outDir}: ${theirs.join(", ")} ${theirs.length === 1 ? "is" : "are"} not from the bundle moec wrote there before (${BUNDLE_MARKER} does not list ${theirs.length === 1 ? "it" : "them"}); move ${theirs.length === 1 ? "it" : "them"} away, or pass --force to replace ${theirs.length === 1 ? "it" : "them"}`, true);
      }
      // Paths inside the bundle's folders: a file of the user's where the bundle writes one, or a folder where it writes a file.
      const clashes: string[] = [];
      for (const p of tree) {
        const st = await lstat(join(out, p)).catch(() => null);
        if (st?.isDirectory()) clashes.push(`${p} is a folder here, and the bundle writes a file there`);
        else if (st && !force && oursTree !== null && oursTree !== undefined && !oldTree.has(p) && p.includes("/")) clashes.push(`${p} is not from the bundle moec wrote there before`);
      }
      if (clashes.length > 0) throw new OutDirError(`-o ${outDir}: ${clashes.slice(0, 4).join("; ")}${clashes.length > 4 ? ` (and ${clashes.length - 4} more)` : ""}; move ${clashes.length === 1 ? "it" : "them"} away${force ? "" : ", or pass --force to replace the files"} (nothing was changed)`, true);
      await makeDirs(out);
      // The marker first lists old and new files, so an interrupted move leaves nothing unaccounted for.
      const marker = (list: readonly string[], paths: readonly string[]) => writeFile(join(out, BUNDLE_MARKER), JSON.stringify({ generator: "moec", note: "moec compile wrote this folder; it replaces and removes only the files listed here", files: list, tree: paths }, null, 2) + "\n");
      await marker([...new Set([...ours, ...files])].sort(), [...new Set([...oldTree, ...tree])].sort());
      for (const f of files) await place(tmp, out, f);
      // Files of the previous bundle that this one no longer has (old chunks, weights, declarations),
      // then the folders that held them if nothing else is left in them.
      const now = new Set(tree);
      const emptied = new Set<string>();
      for (const p of oldTree) {
        if (now.has(p) || p === BUNDLE_MARKER) continue;
        await rm(join(out, p), { force: true });
        for (let d = dirname(p); d !== "."; d = dirname(d)) emptied.add(d);
      }
      for (const d of [...emptied].sort((a, b) => b.length - a.length)) await rmdir(join(out, d)).catch(() => {});
      await marker(files, tree);
      committed = true;
      return files;
    },
    async close() {
      try {
        await rm(tmp, { recursive: true, force: true });
        if (!committed) await removeParents();
      } finally {
        release();
      }
    },
  };
}
