// Temporary files and folders a command is writing are removed if the command is stopped by
// SIGINT (Ctrl-C) or SIGTERM: a partial weight pack or bundle must not be left beside the
// output. The handlers are installed only while something is pending, so Ctrl-C keeps its
// default meaning the rest of the time; after cleaning up, the signal is raised again so the
// process ends as a signalled process does (exit status 130 / 143 in a shell).
import { rmSync } from "node:fs";

const pending = new Set<string>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const p of pending) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // Best effort: the process is ending.
    }
  }
  pending.clear();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
}

function uninstall(): void {
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

/** Removes `path` (a file or a folder this process created) if a signal stops the process; call the result when done. */
export function removeOnSignal(path: string): () => void {
  pending.add(path);
  install();
  return () => {
    pending.delete(path);
    if (pending.size === 0) uninstall();
  };
}

/** Paths that would be removed now (for tests). */
export function pendingCleanup(): readonly string[] {
  return [...pending];
}
