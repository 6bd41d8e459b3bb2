#!/usr/bin/env node
// Builds the VS Code extension from the repository root's sources:
//   node editors/vscode/scripts/build.mjs grammar   regenerate syntaxes/moe.tmLanguage.json
//   node editors/vscode/scripts/build.mjs bundle    grammar + type-check + bundle dist/server.mjs and dist/extension.js
//   node editors/vscode/scripts/build.mjs vsix      all of the above + moec-<version>.vsix (offline, self-contained)
// The server bundle is compiler/lsp (with the parser, checker and formatter) and its
// dependencies, so the .vsix needs no moec on PATH and no node_modules.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const ext = join(here, "..");
const root = join(ext, "..", "..");
const dist = join(ext, "dist");
const require = createRequire(import.meta.url);
const mode = process.argv[2] ?? "vsix";

function run(cmd, args, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: '${[cmd, ...args].map((a) => relative(root, a) || a).join(" ")}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

async function grammar() {
  mkdirSync(dist, { recursive: true });
  const out = join(dist, "gen-grammar.mjs");
  // Chevrotain stays external: it resolves from the repository's node_modules.
  await build({ entryPoints: [join(here, "gen-grammar.ts")], bundle: true, platform: "node", format: "esm", packages: "external", outfile: out, logLevel: "warning" });
  run(process.execPath, [out]);
}

async function bundle() {
  run(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(ext, "tsconfig.json")]);
  const common = { bundle: true, platform: "node", target: "node20", logLevel: "warning", minify: true, keepNames: true, sourcemap: false, legalComments: "none" };
  await build({
    ...common,
    entryPoints: [join(root, "compiler/lsp/main.ts")],
    format: "esm",
    outfile: join(dist, "server.mjs"),
    // CommonJS dependencies (vscode-languageserver) call require() for Node built-ins.
    banner: { js: "import { createRequire as __moecRequire } from 'node:module'; const require = __moecRequire(import.meta.url);" },
  });
  await build({ ...common, entryPoints: [join(ext, "src/extension.ts")], format: "cjs", outfile: join(dist, "extension.js"), external: ["vscode"] });
  for (const f of ["server.mjs", "extension.js"]) console.log(`bundled ${relative(root, join(dist, f))} (${(statSync(join(dist, f)).size / 1024).toFixed(0)} KiB)`);
}

function vsix() {
  const { name, version } = JSON.parse(readFileSync(join(ext, "package.json"), "utf8"));
  const out = `${name}-${version}.vsix`;
  rmSync(join(ext, out), { force: true });
  const vsce = join(dirname(require.resolve("@vscode/vsce/package.json")), "vsce");
  run(process.execPath, [vsce, "package", "--no-dependencies", "--allow-missing-repository", "--out", out], ext);
  console.log(`packaged ${relative(root, join(ext, out))}`);
}

await grammar();
if (mode === "bundle" || mode === "vsix") await bundle();
if (mode === "vsix") vsix();
