// The real `moec` command, run as a child process: exit codes (0 ok, 1 the input has errors,
// 2 the command line is wrong), the shape of printed diagnostics, --help/--version, JSON
// output, and that nothing ever prints a stack trace or colours a non-terminal.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/moec.js");
const MAIN_JS = join(ROOT, "dist/compiler/cli/main.js");
const MIXTRAL = join(ROOT, "examples/mixtral-8x7b.moe");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

let tmp = "";

/** The newest modification time of any .ts file under `dir`. */
function newestTs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

beforeAll(() => {
  // bin/moec.js runs dist/: build it when it is missing (or older than the sources it comes from).
  if (!existsSync(MAIN_JS) || statSync(MAIN_JS).mtimeMs < newestTs(join(ROOT, "compiler"))) {
    const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
    if (!existsSync(MAIN_JS)) throw new Error(`tsc did not produce ${MAIN_JS}:\n${tsc.stdout}\n${tsc.stderr}`);
  }
  tmp = mkdtempSync(join(tmpdir(), "moec-cli-"));
}, 200_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly all: string;
}

/** Runs `node bin/moec.js ...args` from the repository root; stdout and stderr are pipes (not a TTY). */
function moec(args: readonly string[], env: Record<string, string | undefined> = {}): Run {
  const res: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, MOEC_DEBUG: undefined, ...env },
  });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, all: res.stdout + res.stderr };
}

/** No stack trace and no uncaught-exception banner from node, whatever happened. */
function expectNoStackTrace(r: Run): void {
  expect(r.all, "a stack-trace line").not.toMatch(/^\s+at\s/m);
  expect(r.all, "an 'Error:' banner").not.toMatch(/^(?:\w*Error|Uncaught\b.*)(?::|\s\[)/m);
  expect(r.all, "node's internal-error wording").not.toMatch(/node:internal|triggerUncaughtException|ERR_[A-Z_]+\]/);
  expect(r.status, "70 is moec's own 'internal error' exit code").not.toBe(70);
}

const ANSI = /\u001b\[/;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

const BROKEN = [
  "model M {",
  "  const d = 64",
  "  input tokens: i32[seq]",
  "  h = embed(tokens, 100, d)",
  "  y = lienar(h, 4)",
  "  output o = rmsnorm(h, esp = 1e-5)",
  "}",
  "",
].join("\n");

describe("moec check", () => {
  it("exits 0 on examples/mixtral-8x7b.moe and says ok", () => {
    const r = moec(["check", MIXTRAL]);
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/ok/);
    expectNoStackTrace(r);
  });

  it("exits 1 on a broken program and prints each error with file:line:col, code, source line, caret and hint", () => {
    const path = file("broken.moe", BROKEN);
    const r = moec(["check", path]);
    expect(r.status, r.all).toBe(1);
    expectNoStackTrace(r);
    const out = r.stderr;
    const expected = [
      { line: 5, col: 7, code: "MOE2001", source: "  y = lienar(h, 4)", hint: "Did you mean 'linear'?" },
      { line: 6, col: 25, code: "MOE3003", source: "  output o = rmsnorm(h, esp = 1e-5)", hint: "Did you mean 'eps'?" },
    ];
    const blocks = out.split(/\n\s*\n/).filter((b) => /\berror MOE\d{4}/.test(b));
    expect(blocks, out).toHaveLength(expected.length);
    expected.forEach((e, i) => {
      const lines = blocks[i]!.split("\n");
      // file:line:col: error MOE....: message
      expect(lines[0], out).toMatch(new RegExp(`^${escape(path)}:${e.line}:${e.col}: error ${e.code}: \\S`));
      // the source line, with its line number in a gutter
      const src = lines.find((l) => l.includes(" | ") && !/^\s*\|/.test(l));
      expect(src, out).toBe(`${e.line} | ${e.source}`);
      // a caret line under the offending text, at the reported column
      const caret = lines.find((l) => /^\s*\|\s*\^+\s*$/.test(l));
      expect(caret, out).toBeDefined();
      const caretCol = caret!.indexOf("^") - caret!.indexOf("|") - 2 + 1;
      expect(caretCol, `caret under column ${e.col}:\n${blocks[i]}`).toBe(e.col);
      // a hint
      expect(lines.find((l) => /^\s+hint: /.test(l)), out).toBe(`  hint: ${e.hint}`);
    });
    expect(out).toMatch(new RegExp(`2 errors in ${escape(path)}`));
    expect(r.stdout).toBe("");
  });

  it("exits 1 on a file of binary garbage with MOE1008 (not valid UTF-8)", () => {
    const bytes = Buffer.from([0x6d, 0x6f, 0x64, 0x65, 0x6c, 0x20, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0xbf, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x0a, 0x1b, 0x5b, 0x32, 0x4a, 0x07]);
    const r = moec(["check", file("garbage.moe", Buffer.concat([bytes, bytes, bytes]))]);
    expect(r.status, r.all).toBe(1);
    expect(r.stderr).toMatch(/error MOE1008: /);
    expect(r.all).not.toMatch(ANSI); // the garbage's own escape sequence is not echoed either
    expectNoStackTrace(r);
  });

  it("exits 1 on a missing file, with MOE6001 naming the file", () => {
    const missing = join(tmp, "does-not-exist.moe");
    const r = moec(["check", missing]);
    expect(r.status, r.all).toBe(1);
    expect(r.stderr).toContain(`error MOE6001: Cannot read '${missing}': no such file.`);
    expectNoStackTrace(r);
  });

  it("exits 1 on a directory, an empty file, and a file over the size limit, each with a diagnostic", () => {
    const dir = join(tmp, "a-directory.moe");
    mkdirSync(dir, { recursive: true });
    const cases: [string, string][] = [
      [dir, "MOE6001"],
      [file("empty.moe", ""), "MOE2004"],
      [file("huge.moe", Buffer.alloc(17 * 1024 * 1024, 0x20)), "MOE1006"],
    ];
    for (const [path, code] of cases) {
      const r = moec(["check", path]);
      expect(r.status, `${path}: ${r.all}`).toBe(1);
      expect(r.stderr, path).toMatch(new RegExp(`error ${code}: `));
      expectNoStackTrace(r);
    }
  });

  it("caps the output of a file with 10,000 syntax errors", () => {
    const path = file("many-errors.moe", `model M {\n${"  x = = )\n".repeat(10_000)}}\n`);
    const r = moec(["check", path]);
    expect(r.status, r.all.slice(0, 2000)).toBe(1);
    const shown = r.stderr.match(/^\S+:\d+:\d+: error MOE\d{4}/gm) ?? [];
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThanOrEqual(60);
    expect(r.stderr.length).toBeLessThan(100_000);
    expectNoStackTrace(r);
  });
});

describe("command-line errors exit 2", () => {
  const cases: [string, string[], RegExp][] = [
    ["no command at all", [], /Usage: moec <command>/],
    ["an unknown command", ["frobnicate", MIXTRAL], /unknown command 'frobnicate'/],
    ["an unknown flag", ["check", "--frobnicate", MIXTRAL], /--frobnicate/],
    ["an unknown flag on info", ["info", MIXTRAL, "--yaml"], /--yaml/],
    ["check without a file", ["check"], /exactly one \.moe file/],
    ["check with two files", ["check", MIXTRAL, MIXTRAL], /exactly one \.moe file/],
    ["compile without --target", ["compile", MIXTRAL, "-o", "OUT_DIR"], /needs --target/],
    ["compile with an unknown target", ["compile", MIXTRAL, "--target", "tpu", "-o", "OUT_DIR"], /Unknown target 'tpu'/],
    ["compile without -o", ["compile", MIXTRAL, "--target", "wasm"], /-o DIR/],
    ["ir --dump-after an unknown pass", ["ir", MIXTRAL, "--dump-after", "nosuch"], /Unknown pass 'nosuch'/],
    ["ir --disable-pass an unknown pass", ["ir", MIXTRAL, "--disable-pass", "nosuch"], /Unknown pass 'nosuch'/],
    ["a string flag without its value", ["ir", MIXTRAL, "--dump-after"], /dump-after/],
  ];
  for (const [name, args, message] of cases) {
    it(name, () => {
      const out = join(tmp, `out-${name.replace(/\W+/g, "-")}`);
      const r = moec(args.map((a) => (a === "OUT_DIR" ? out : a)));
      expect(r.status, r.all).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
      expectNoStackTrace(r);
      expect(existsSync(out), "a usage error must not create the output directory").toBe(false);
    });
  }
});

describe("moec compile", () => {
  // Every target DESIGN.md plans has a code generator now (MOE6003 refuses none): webgpu and cuda both emit.
  it("--target cuda -o DIR writes the CUDA bundle (C ABI, model.cu, Makefile, host program) and says the weights are missing", () => {
    const out = join(mkdtempSync(join(tmp, "compile-out-cuda-")), "bundle");
    const r = moec(["compile", MIXTRAL, "--target", "cuda", "-o", out]);
    expect(r.status, r.all).toBe(0);
    for (const f of ["moec.h", "model.cu", "runtime.cu", "main.c", "Makefile", "plan.json", "mm_f32.cu"]) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, "model.cu"), "utf8")).toContain("moec_status moec_plan_forward(moec_model *m, int T)");
    expect(r.stderr).toMatch(/no weights were given/);
    expectNoStackTrace(r);
  });

  for (const target of ["wasm", "cuda"]) {
    it(`exits 1 (the input has errors) on a broken program with --target ${target}, and writes nothing`, () => {
      const out = mkdtempSync(join(tmp, `compile-broken-${target}-`));
      const r = moec(["compile", file(`broken-compile-${target}.moe`, BROKEN), "--target", target, "-o", out]);
      expect(r.status, r.all).toBe(1);
      expect(r.stderr).toMatch(/MOE2001/);
      expect(readdirSync(out)).toEqual([]);
      expectNoStackTrace(r);
    });
  }
});

describe("moec info", () => {
  it("--json prints one JSON object with Mixtral's published parameter counts (within 0.5%)", () => {
    const r = moec(["info", MIXTRAL, "--json"]);
    expect(r.status, r.all).toBe(0);
    expectNoStackTrace(r);
    const trimmed = r.stdout.trim();
    expect(trimmed.startsWith("{") && trimmed.endsWith("}"), r.stdout.slice(0, 200)).toBe(true);
    const info = JSON.parse(trimmed) as { model: string; totalParams: number; activeParams: number };
    expect(typeof info).toBe("object");
    expect(Array.isArray(info)).toBe(false);
    expect(info.model).toBe("Mixtral");
    expect(Math.abs(info.totalParams / 46.7e9 - 1), `totalParams ${info.totalParams}`).toBeLessThan(0.005);
    expect(Math.abs(info.activeParams / 12.9e9 - 1), `activeParams ${info.activeParams}`).toBeLessThan(0.005);
  });

  it("without --json prints a readable summary", () => {
    const r = moec(["info", MIXTRAL]);
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/Mixtral/);
    expectNoStackTrace(r);
  });

  it("exits 1 on a broken program", () => {
    const r = moec(["info", file("broken-info.moe", BROKEN), "--json"]);
    expect(r.status, r.all).toBe(1);
    expect(r.stdout).toBe("");
    expectNoStackTrace(r);
  });
});

describe("moec ir", () => {
  it("--dump-after dce prints the IR after that pass", () => {
    const r = moec(["ir", MIXTRAL, "--dump-after", "dce"]);
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/^\/\/ after dce$/m);
    expect(r.stdout).toMatch(/^graph Mixtral \{$/m);
    expect(r.stdout).toMatch(/= moe\(/);
    expect(r.stdout).toMatch(/output logits = %\d+/);
    expectNoStackTrace(r);
  });

  it("prints the final IR, and verifies it with --verify", () => {
    const r = moec(["ir", MIXTRAL, "--verify"]);
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/^graph Mixtral \{$/m);
    expectNoStackTrace(r);
  });
});

describe("--help and --version", () => {
  it("moec --help lists the commands and exits 0", () => {
    const r = moec(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: moec <command>/);
    for (const c of ["check", "info", "ir", "compile"]) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\s`, "m"));
  });

  it("every command's --help (and -h, and 'moec help CMD') exits 0 with its usage", () => {
    const help = moec(["--help"]).stdout;
    const section = help.split(/^Commands:$/m)[1] ?? "";
    const commands = [...section.matchAll(/^ {2}([a-z][\w-]*)\s{2,}/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(["check", "info", "ir", "compile"]));
    for (const c of commands) {
      for (const args of [[c, "--help"], [c, "-h"], ["help", c], [c, MIXTRAL, "--help"]]) {
        const r = moec(args);
        expect(r.status, `moec ${args.join(" ")}: ${r.all}`).toBe(0);
        expect(r.stdout, `moec ${args.join(" ")}`).toMatch(new RegExp(`Usage: moec ${c}\\b`));
        expectNoStackTrace(r);
      }
    }
  });

  it("moec --version (and -v) prints the package.json version", () => {
    for (const flag of ["--version", "-v"]) {
      const r = moec([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(VERSION);
    }
  });
});

describe("colour", () => {
  const runs = (env: Record<string, string | undefined>) => [
    moec(["check", file("broken-color.moe", BROKEN)], env),
    moec(["check", MIXTRAL], env),
    moec(["info", MIXTRAL], env),
    moec(["compile", MIXTRAL, "--target", "cuda", "-o", join(tmp, "color-out")], env),
    moec(["frobnicate"], env),
  ];

  it("no ANSI escape codes when the output is not a terminal", () => {
    for (const r of runs({})) expect(r.all).not.toMatch(ANSI);
  });

  it("no ANSI escape codes with NO_COLOR=1", () => {
    for (const r of runs({ NO_COLOR: "1" })) expect(r.all).not.toMatch(ANSI);
  });

  it("escape sequences and control characters in the source are not echoed raw (NO_COLOR=1, not a TTY)", () => {
    // The source excerpt replaces control characters with '?', but messages quote the offending
    // token as written: a string literal holding ESC[31m turns the user's terminal red.
    const path = file("escapes.moe", 'model M {\n  x = 1 "\u001b[31mRED"\n  y = 2 \u001b[2J \u0007\n}\n');
    const r = moec(["check", path], { NO_COLOR: "1" });
    expect(r.status, r.all).toBe(1);
    expect(r.all).toMatch(/MOE1004|MOE1001/);
    expect(JSON.stringify(r.all), "raw ESC/BEL or other control characters in the output").not.toMatch(/\\u001b|\\u0007|\\u00[01][0-8bcef]/);
    expectNoStackTrace(r);
  });

  // On a real terminal (util-linux `script` gives the command a pseudo-terminal) colour is on by
  // default, and NO_COLOR=1 still turns it off.
  const script = spawnSync("script", ["--version"], { encoding: "utf8" });
  it.skipIf(script.error !== undefined || script.status !== 0)("on a terminal: coloured by default, plain with NO_COLOR=1", () => {
    const onTty = (env: Record<string, string | undefined>) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} check ${JSON.stringify(file("broken-tty.moe", BROKEN))}`;
      const res = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env } });
      return res.stdout;
    };
    const coloured = onTty({});
    expect(coloured).toMatch(/MOE2001/);
    expect(coloured, "colour on a terminal").toMatch(ANSI);
    const plain = onTty({ NO_COLOR: "1" });
    expect(plain).toMatch(/MOE2001/);
    expect(plain, "NO_COLOR=1 on a terminal").not.toMatch(ANSI);
  });
});
