#!/usr/bin/env node
// The `cohere-bundle` command of the npm package: finds the prebuilt binary in the per-platform package that
// npm installed as an optional dependency (@cohere-bundle/<os>-<cpu>, chosen by its `os`/`cpu` fields) and
// runs it with this process's arguments, environment and stdio. As @biomejs/biome's bin/biome does, with two
// differences: the child runs asynchronously, so that SIGINT/SIGTERM/SIGHUP sent to this process reach it
// (observe bundles what it recorded before exiting), and a child killed by a signal kills this process with
// the same signal, so the caller sees what it would have seen running the binary itself.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");

// process.platform-process.arch → the package that carries the binary (scripts/package writes them all).
const PLATFORMS = {
  "linux-x64": "@cohere-bundle/linux-x64",
  "linux-arm64": "@cohere-bundle/linux-arm64",
  "darwin-x64": "@cohere-bundle/darwin-x64",
  "darwin-arm64": "@cohere-bundle/darwin-arm64",
  "win32-x64": "@cohere-bundle/win32-x64",
};

function isMusl() {
  // glibc's Node reports the glibc version it runs on; musl's does not.
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

function binaryPath() {
  // An explicit binary (a local build, an unsupported platform): used as it is.
  if (process.env.COHERE_BUNDLE_BINARY) return process.env.COHERE_BUNDLE_BINARY;
  let platform = `${process.platform}-${process.arch}`;
  if (process.platform === "linux" && isMusl()) platform = `linux-musl-${process.arch}`;
  const pkg = PLATFORMS[platform];
  const fail = (why) => {
    console.error(
      `cohere-bundle: no prebuilt binary for ${platform}: ${why}; ` +
        "install it with `pip install cohere-bundle` or `cargo install cohere-bundle`, " +
        "or set COHERE_BUNDLE_BINARY to a cohere-bundle binary",
    );
    process.exit(1);
  };
  if (!pkg) fail("this platform has no package");
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    fail(`${pkg} is not installed (optional dependencies omitted? reinstall without --omit=optional)`);
  }
  return path.join(dir, "bin", process.platform === "win32" ? "cohere-bundle.exe" : "cohere-bundle");
}

const bin = binaryPath();
const child = spawn(bin, process.argv.slice(2), { stdio: "inherit", windowsHide: false });

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"];
const forward = (signal) => {
  // A terminal's Ctrl-C reaches the child too (same process group); a second SIGINT is harmless to it.
  try {
    child.kill(signal);
  } catch {}
};
for (const s of FORWARDED) process.on(s, forward);

child.on("error", (e) => {
  console.error(`cohere-bundle: cannot run ${bin}: ${e.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  for (const s of FORWARDED) process.removeListener(s, forward);
  if (signal) {
    // Die of the same signal; should it not kill us (ignored, or Windows), exit 128 + its number as a shell does.
    process.kill(process.pid, signal);
    process.exit(128 + (require("node:os").constants.signals[signal] || 0));
  }
  process.exit(code ?? 1);
});
