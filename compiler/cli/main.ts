// The moec command line: `moec <command> [options]`. A thin layer over the library.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { COMMANDS, type Command } from "./commands.js";
import { processIo, UsageError, type Io } from "./io.js";
import { userFailure } from "./errors.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "moec — a compiler for Mixture-of-Experts models",
    "",
    "Usage: moec <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'moec <command> --help' for a command's options.",
    "Exit codes: 0 ok, 1 the input has errors, 2 the command line is wrong.",
  ].join("\n");
}

function commandHelp(c: Command): string {
  const opts = Object.entries(c.options).map(([name, o]) => `  --${name}${o.short ? `, -${o.short}` : ""}${o.type === "string" ? " VALUE" : ""}`);
  return [`Usage: ${c.usage}`, "", c.summary, ...(opts.length ? ["", "Options:", ...opts] : []), ...(c.notes?.length ? ["", ...c.notes] : [])].join("\n");
}

export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    if (name === "help" && rest[0]) {
      const c = COMMANDS.find((x) => x.name === rest[0]);
      if (c) {
        io.out(commandHelp(c));
        return 0;
      }
    }
    (name === undefined ? io.err : io.out)(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    io.out(version());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`moec: unknown command '${name}'. Commands: ${COMMANDS.map((c) => c.name).join(", ")}. See 'moec --help'.`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(commandHelp(command));
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true });
    return await command.run(io, positionals, values as Record<string, unknown>);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`moec ${name}: ${(e as Error).message}\nUsage: ${command.usage}`);
      return 2;
    }
    // The input, the files or the machine's memory: the user's to fix (compiler/cli/errors.ts).
    const user = userFailure(e);
    if (user) {
      io.err(`moec ${name}: ${user.message}`);
      return user.code;
    }
    // Anything else is a bug in moec: say so plainly, without a stack trace unless asked.
    io.err(`moec: internal error: ${(e as Error).message}\nThis is a bug in moec; please report it with the input file.${process.env["MOEC_DEBUG"] ? `\n${(e as Error).stack}` : " (set MOEC_DEBUG=1 for details)"}`);
    return 70;
  }
}
