#!/usr/bin/env node
// The moec command: a thin shim over the compiled CLI in dist/.
import { main } from "../dist/compiler/cli/main.js";

// `moec ir big.moe | head` closes the pipe early; that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}

process.exitCode = await main(process.argv.slice(2));
