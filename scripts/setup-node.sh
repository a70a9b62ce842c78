#!/usr/bin/env bash
# Installs the Node clients of the observe end-to-end tests (tests/node_clients.rs, tests/compat.rs) into
# tests/node/node_modules: the Cohere TypeScript SDK `cohere-ai`, the Vercel AI SDK (`ai` + `@ai-sdk/cohere`) and
# the OpenAI SDK `openai` (6.x, the last major that runs on Node 20), for Cohere's compatibility API, at the versions pinned
# in tests/node/package.json and package-lock.json, from the npm registry only (`npm ci`, no install scripts).
# Idempotent: when node_modules was installed from the current lockfile it exits at once.
#
# Usage: scripts/setup-node.sh            (from anywhere; paths are relative to the repository)
# Env:   NODE  the Node.js binary (default: node; 20 or newer)
#        NPM   the npm binary (default: npm)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/node"
node="${NODE:-node}"
npm="${NPM:-npm}"
stamp="$dir/node_modules/.setup-node.stamp"

for tool in "$node" "$npm"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "setup-node: $tool not found; install Node.js 20+ (with npm) first" >&2
        exit 1
    fi
done
major="$("$node" -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "setup-node: Node.js $("$node" --version) is too old; the pinned clients need 20 or newer" >&2
    exit 1
fi

# What the install depends on: the lockfile, package.json and the Node major version.
want="$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1) node$major"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup-node: tests/node/node_modules is up to date"
    exit 0
fi

cd "$dir"
if [ -f package-lock.json ]; then
    "$npm" ci --ignore-scripts --no-audit --no-fund
else
    # No lockfile yet: resolve the pinned versions and write one (commit it).
    "$npm" install --ignore-scripts --no-audit --no-fund
    want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node$major"
fi

# Check that every client resolves before declaring the install done.
"$node" --input-type=module -e '
for (const p of ["cohere-ai", "ai", "@ai-sdk/cohere", "openai"]) await import(p);
' || { echo "setup-node: the clients do not load from $dir/node_modules" >&2; exit 1; }
echo "$want" >"$stamp"
echo "setup-node: installed $("$node" -p '
const v = (p) => JSON.parse(require("fs").readFileSync("node_modules/" + p + "/package.json")).version;
["cohere-ai", "ai", "@ai-sdk/cohere", "openai"].map((p) => p + " " + v(p)).join(", ")') into tests/node/node_modules"
