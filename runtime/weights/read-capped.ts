// Reading a whole small file (a .moe source, a config.json, an index) with its size checked
// before and during the read: fstat first (a folder is refused, a regular file over the cap is
// refused unread), then at most cap + 1 bytes, so a device (/dev/zero), a pipe or a file that
// grows while it is read can never fill memory. Node only.
import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";

export class CappedReadError extends Error {
  override name = "CappedReadError";
  constructor(
    readonly file: string,
    /** "missing": no such file; "folder": a directory; "too-large": over the cap; "io": anything else. */
    readonly reason: "missing" | "folder" | "too-large" | "io",
    /** What went wrong, without the file name: "is a folder", "is over 16 MiB". */
    readonly problem: string,
    /** For "too-large" on a regular file: its size (undefined for a device or pipe that gave more than the cap). */
    readonly size?: number,
  ) {
    super(`${file}: ${problem}`);
  }
}

const CHUNK = 1 << 20;

export async function readFileCapped(file: string, cap: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CappedReadError(file, "missing", "no such file");
    if (code === "EISDIR") throw new CappedReadError(file, "folder", "is a folder, not a file");
    throw new CappedReadError(file, "io", `cannot open it: ${(e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new CappedReadError(file, "folder", "is a folder, not a file");
    if (st.isFile() && st.size > cap) throw new CappedReadError(file, "too-large", `is ${st.size} bytes, over the ${cap}-byte limit`, st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // A regular file is read in one go; devices and pipes in chunks, never past cap + 1.
      const want = Math.min(st.isFile() ? Math.max(st.size + 1, 1) : CHUNK, cap + 1 - total);
      const buf = Buffer.allocUnsafe(want);
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, want, null));
      } catch (e) {
        throw new CappedReadError(file, (e as NodeJS.ErrnoException).code === "EISDIR" ? "folder" : "io", `cannot read it: ${(e as Error).message}`);
      }
      if (n === 0) break;
      chunks.push(n === want ? buf : buf.subarray(0, n));
      total += n;
      if (total > cap) throw new CappedReadError(file, "too-large", `holds more than the ${cap}-byte limit`, st.isFile() ? total : undefined);
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close();
  }
}
