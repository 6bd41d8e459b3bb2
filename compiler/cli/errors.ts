// Which failures are the user's to fix. A command returns 1 (the input has errors) or 2 (the
// command line is wrong) for what it expects; anything else that reaches main() is sorted here:
// a problem with the input, the files or the machine's memory is exit 1 (or 2) with a message
// that names the file and what to change; only what is left is "internal error … a bug in moec"
// (exit 70). Every error class a user's input can raise belongs in this list.
import { LowerError } from "../lower/lower.js";
import { RunError } from "../run/load.js";
import { BindError } from "../weights/bind.js";
import { LoadError } from "../../runtime/model.js";
import { MemoryLimitError } from "../../runtime/memory.js";
import { NonFiniteError } from "../../runtime/finite.js";
import { OptionError } from "../../runtime/options.js";
import { CappedReadError } from "../../runtime/weights/read-capped.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import { WeightStreamError } from "../../runtime/weights/stream.js";
import { OutDirError } from "../emit/outdir.js";
import { TokenizerError } from "../../runtime/text/tokenizer.js";

export interface UserFailure {
  readonly code: 1 | 2;
  readonly message: string;
}

const ERRNO: Record<string, string> = {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a folder, not a file",
  ENOTDIR: "a part of the path is a file, not a folder",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exhausted",
  EROFS: "the file system is read-only",
  EEXIST: "it already exists",
  ENOTEMPTY: "the folder is not empty",
  EMFILE: "too many open files",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many symbolic links",
  EXDEV: "it is on another file system",
};

/** The user's failure behind `e`, or null when `e` is a bug in moec. */
export function userFailure(e: unknown): UserFailure | null {
  if (!(e instanceof Error)) return null;
  if (e instanceof OutDirError) return { code: e.usage ? 2 : 1, message: e.message };
  if (
    e instanceof RunError || e instanceof LowerError || e instanceof BindError || e instanceof LoadError || e instanceof MemoryLimitError ||
    e instanceof NonFiniteError || e instanceof OptionError || e instanceof CappedReadError || e instanceof WeightFileError || e instanceof WeightStreamError ||
    e instanceof TokenizerError
  ) {
    return { code: 1, message: e.message };
  }
  const errno = (e as NodeJS.ErrnoException).code;
  if (typeof errno === "string" && /^E[A-Z]+$/.test(errno)) {
    const path = (e as NodeJS.ErrnoException).path;
    return { code: 1, message: `${path !== undefined ? `${path}: ` : ""}${ERRNO[errno] ?? e.message}${ERRNO[errno] ? ` (${errno})` : ""}; check the path and its permissions` };
  }
  // An allocation the engine refused: the input asked for more memory than there is.
  if (e instanceof RangeError && /allocation failed|Invalid (typed )?array length|Array buffer allocation|out of memory/i.test(e.message)) {
    return { code: 1, message: `the model or its inputs need more memory than this machine could give (${e.message}); use a smaller model, a shorter prompt or fewer new tokens, or a machine with more memory` };
  }
  return null;
}
