// A one-line progress bar on stderr, shown only on a terminal (never in logs or pipes).
import type { Io } from "./io.js";

export interface ProgressBar {
  update(done: number, total: number): void;
  done(): void;
}

export function progressBar(io: Io, label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, done() {} };
  let shown = false;
  let last = -1;
  return {
    update(done, total) {
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      if (pct === last) return;
      last = pct;
      const width = 30;
      const filled = Math.round((width * pct) / 100);
      stream.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${String(pct).padStart(3)}% (${(done / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)} MiB)`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\n");
      void io;
    },
  };
}
