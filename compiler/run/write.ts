// Writing an output file whole or not at all: a temporary file beside it, renamed into place,
// so a failed or interrupted command never leaves a partial output behind.
import { rename, unlink, writeFile } from "node:fs/promises";
import { RunError } from "./load.js";

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(`cannot write ${path}: ${code === "ENOENT" ? "its folder does not exist" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
  }
}
