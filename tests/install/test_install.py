"""Each release artifact of scripts/package, installed as a user would (issue 21), with no Rust toolchain on PATH and
no network: the wheel into a fresh virtualenv, the npm tarballs into an empty folder, the archive unpacked. Each
then does its job: a demo bundle, a failing SDK call recorded into a bundle, the completions and man pages."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from conftest import (
    NODE_MODULES,
    ROOT,
    VERSION_RE,
    PACKAGE_DIR,
    WHEELHOUSE,
    Artifacts,
    _real_python,
    assert_no_secret,
    last_json_line,
    ok,
    run,
    summary,
)

COHERE_SDK = os.environ.get("COHERE_SDK_VERSION", "7.3.1")
# How `cohere-bundle simulator` exits on SIGTERM: 0, it stopped (the signal is how it is meant to stop; the
# command line's own interrupt handler, which exits 143, does not listen for it).
SIGTERM_EXIT = (0,)


def assert_demo_bundle(zip_path: Path, printed: Dict) -> None:
    """The demo's bundle: its replayed 400 for max_tokens above the model's cap, diagnosed on the user's side."""
    assert Path(printed["bundle"]).resolve() == zip_path.resolve(), printed
    s = summary(zip_path)
    assert s["status"] == 400, s
    assert s["model"] == "command-r-08-2024", s
    assert s["causes"][0]["code"] == "max_output_exceeded", s["causes"]
    with zipfile.ZipFile(zip_path) as z:
        assert z.testzip() is None
        assert "manifest.json" in z.namelist()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


# ---------------------------------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def venv(artifacts: Artifacts, user_env: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """A fresh venv with the wheel and the cohere SDK (`pip install --no-index`); returns the env with it first on
    PATH, as `source venv/bin/activate` would."""
    assert WHEELHOUSE.is_dir(), f"{WHEELHOUSE} is missing: run scripts/setup-wheelhouse.sh"
    where = tmp_path_factory.mktemp("venv")
    ok(run([_real_python(), "-m", "venv", str(where / "venv")], user_env, where))
    env = {**user_env, "PATH": f"{where / 'venv' / 'bin'}{os.pathsep}{user_env['PATH']}", "VIRTUAL_ENV": str(where / "venv")}
    ok(run(["pip", "install", "--quiet", "--no-index", "--find-links", str(WHEELHOUSE), str(artifacts.wheel),
            f"cohere=={COHERE_SDK}"], env, where, timeout=300))
    return env


def test_wheel_installs_the_command_and_the_package_not_the_checkout(artifacts: Artifacts, venv: Dict[str, str], tmp_path: Path) -> None:
    exe = shutil.which("cohere-bundle", path=venv["PATH"])
    assert exe and Path(exe).parent == Path(venv["VIRTUAL_ENV"]) / "bin", exe
    assert ok(run(["cohere-bundle", "--version"], venv, tmp_path)).stdout.strip() == f"cohere-bundle {artifacts.version}"
    p = ok(run(["python", "-c", "import cohere_bundle, json; print(json.dumps([cohere_bundle.__file__, cohere_bundle.__version__]))"], venv, tmp_path))
    where, version = json.loads(p.stdout)
    assert Path(where).is_relative_to(venv["VIRTUAL_ENV"]), f"cohere_bundle imported from {where}, not the venv"
    assert version == artifacts.version
    # The wheel is for every CPython >= 3.9 on this platform: abi3, a manylinux tag, no Python source of the checkout.
    assert "-cp39-abi3-manylinux_" in artifacts.wheel.name, artifacts.wheel.name
    with zipfile.ZipFile(artifacts.wheel) as z:
        names = z.namelist()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "cohere-bundle=cohere_bundle.__main__:main" in entry_points.replace(" ", ""), entry_points
    assert any(n.startswith("cohere_bundle/_native") and n.endswith(".so") for n in names), names


def test_wheel_demo_writes_a_bundle_that_verifies(venv: Dict[str, str], tmp_path: Path) -> None:
    zip_path = tmp_path / "demo.zip"
    p = ok(run(["cohere-bundle", "demo", "--out", str(zip_path), "--json"], venv, tmp_path))
    assert_demo_bundle(zip_path, last_json_line(p.stdout))
    v = ok(run(["python", "-m", "cohere_bundle", "verify", str(zip_path)], venv, tmp_path))
    assert v.stdout.strip() == f"{zip_path}: OK (8 members match the manifest; 0 known secrets searched, none found)", v
    # verify does fail: the same bundle with a member changed.
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b" " if item.filename == "summary.json" else data)
    t = run(["python", "-m", "cohere_bundle", "verify", str(bad)], venv, tmp_path)
    assert t.returncode == 1, t


HOOKS_CLIENT = r"""
import json, sys
import cohere, httpx
import cohere_bundle

url, spool, key = sys.argv[1:4]
hooks = cohere_bundle.event_hooks(spool, interval=3600)
co = cohere.ClientV2(api_key=key, base_url=url,
                     httpx_client=httpx.Client(event_hooks=hooks, transport=hooks.transport()))
status = None
try:
    co.chat(model="no-such-model", messages=[{"role": "user", "content": "Say hello."}])
except cohere.core.ApiError as e:
    status = e.status_code
flushed = hooks.flush(60)
print(json.dumps({"status": status, "flushed": flushed, "bundles": [str(b) for b in hooks.bundles()],
                  "stats": hooks.close(30), "cohere": cohere.__version__}))
"""


def test_wheel_event_hooks_record_a_failing_sdk_call(venv: Dict[str, str], simulator_factory, tmp_path: Path) -> None:
    sim = simulator_factory(["cohere-bundle"], venv, tmp_path)
    key = "tk" + secrets.token_hex(19)
    (tmp_path / "client.py").write_text(HOOKS_CLIENT)
    p = ok(run(["python", "client.py", sim.url, str(tmp_path / "spool"), key], venv, tmp_path))
    out = last_json_line(p.stdout)
    assert out["cohere"] == COHERE_SDK
    assert out["status"] == 404 and out["flushed"], out
    assert len(out["bundles"]) == 1, out
    bundle = Path(out["bundles"][0])
    s = summary(bundle)
    assert (s["mode"], s["status"], s["model"], s["endpoint"]) == ("library", 404, "no-such-model", "v2/chat"), s
    assert s["client"]["sdk"] == "cohere", s["client"]
    assert "model_not_found" in [c["code"] for c in s["causes"]], s["causes"]
    assert_no_secret(bundle, key)
    ok(run(["cohere-bundle", "verify", str(bundle), "--secret", key], venv, tmp_path))
    assert out["stats"]["bundles_written"] == 1 and out["stats"]["internal_errors"] == 0, out["stats"]
    assert sim.stop() in SIGTERM_EXIT


# ------------------------------------------------------------------------------------------------------------ npm


@pytest.fixture(scope="module")
def npm_project(artifacts: Artifacts, user_env: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder where `npm install --offline` installed both tarballs."""
    where = tmp_path_factory.mktemp("npm-project")
    ok(run(["npm", "install", "--offline", "--no-audit", "--no-fund", str(artifacts.npm_main), str(artifacts.npm_platform)],
           user_env, where, timeout=180))
    return where


def test_npm_install_takes_the_platform_package(artifacts: Artifacts, npm_project: Path) -> None:
    main = json.loads((npm_project / "node_modules" / "cohere-bundle" / "package.json").read_text())
    assert main["version"] == artifacts.version
    assert main["bin"] == {"cohere-bundle": "bin/cohere-bundle.js"}
    assert all(v == artifacts.version for v in main["optionalDependencies"].values()), main["optionalDependencies"]
    (platform_name,) = [n for n in main["optionalDependencies"] if (npm_project / "node_modules" / n).is_dir()]
    platform = json.loads((npm_project / "node_modules" / platform_name / "package.json").read_text())
    assert platform_name.endswith(f"/{platform['os'][0]}-{platform['cpu'][0]}"), platform
    assert platform["version"] == artifacts.version
    binary = npm_project / "node_modules" / platform_name / "bin" / "cohere-bundle"
    assert os.access(binary, os.X_OK), f"{binary} is not executable after npm install"


def test_npx_demo_writes_a_bundle(artifacts: Artifacts, npm_project: Path, user_env: Dict[str, str]) -> None:
    p = ok(run(["npx", "cohere-bundle", "--version"], user_env, npm_project))
    assert VERSION_RE.match(p.stdout.strip()).group(1) == artifacts.version, p.stdout
    zip_path = npm_project / "demo.zip"
    p = ok(run(["npx", "cohere-bundle", "demo", "--out", str(zip_path), "--json", "--force"], user_env, npm_project))
    assert_demo_bundle(zip_path, last_json_line(p.stdout))


COHERE_AI_CLIENT = r"""
// A failing cohere-ai call (an unknown model: 404) through the proxy of `cohere-bundle observe` (CO_API_URL).
const { CohereClientV2, Cohere } = require("cohere-ai");
const co = new CohereClientV2({ token: process.env.CO_API_KEY, baseUrl: process.env.CO_API_URL });
co.chat({ model: "command-r-nonexistent", messages: [{ role: "user", content: "hello" }] }).then(
  () => { console.error("client: the chat did not fail"); process.exit(3); },
  (e) => {
    if (!(e instanceof Cohere.NotFoundError)) { console.error(`client: ${e}`); process.exit(4); }
    console.error(`client: ${e.statusCode}`);
    process.exit(0);
  });
"""


def test_npx_observe_records_a_failing_cohere_ai_call(npm_project: Path, user_env: Dict[str, str], simulator_factory, tmp_path: Path) -> None:
    assert (NODE_MODULES / "cohere-ai").is_dir(), f"{NODE_MODULES}/cohere-ai is missing: run scripts/setup-node.sh"
    sim = simulator_factory([str(npm_project / "node_modules" / ".bin" / "cohere-bundle")], user_env, npm_project)
    key = "tk" + secrets.token_hex(19)
    (tmp_path / "client.cjs").write_text(COHERE_AI_CLIENT)
    zip_path = tmp_path / "observed.zip"
    p = ok(run(["npx", "cohere-bundle", "observe", "--upstream", sim.url, "--out", str(zip_path), "--json", "--",
                "node", str(tmp_path / "client.cjs")], user_env, npm_project,
               CO_API_KEY=key, NODE_PATH=str(NODE_MODULES)))
    assert "client: 404" in p.stderr, p.stderr
    assert Path(last_json_line(p.stdout)["bundle"]).resolve() == zip_path.resolve()
    s = summary(zip_path)
    assert (s["mode"], s["status"], s["model"]) == ("observe", 404, "command-r-nonexistent"), s
    assert s["client"]["sdk"] == "cohere-ai", s["client"]
    assert s["causes"][0]["code"] == "model_not_found", s["causes"]
    assert_no_secret(zip_path, key)
    assert sim.stop() in SIGTERM_EXIT


def test_npm_launcher_forwards_signals_and_exit_codes(artifacts: Artifacts, npm_project: Path, user_env: Dict[str, str], simulator_factory, tmp_path: Path) -> None:
    # SIGTERM to the launcher (node_modules/.bin/cohere-bundle, what `npm install -g` puts on PATH) reaches the
    # binary: the simulator stops as it does on SIGTERM (exit 0, see SIGTERM_EXIT), and its port closes.
    # Without forwarding, node would die of the signal (-15) and leave the binary serving.
    env = {**user_env, "PATH": f"{npm_project / 'node_modules' / '.bin'}{os.pathsep}{user_env['PATH']}"}
    sim = simulator_factory(["cohere-bundle"], env, npm_project)
    assert not refused(sim.port)
    assert sim.stop(signal.SIGTERM) in SIGTERM_EXIT
    assert refused(sim.port), "the binary outlived its launcher"
    # The binary's exit code, as it is (2: a usage error).
    p = run(["cohere-bundle", "verify", str(tmp_path / "missing.zip")], env, tmp_path)
    assert p.returncode == 2 and "no such file" in p.stderr, p
    # Without the platform package: one line naming the platform, exit 1.
    with tarfile.open(artifacts.npm_main) as t:
        t.extractall(tmp_path / "alone", filter="data")
    p = run(["node", str(tmp_path / "alone" / "package" / "bin" / "cohere-bundle.js"), "--version"], user_env, tmp_path)
    assert p.returncode == 1 and p.stdout == "", p
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert "no prebuilt binary for linux-x64" in p.stderr and "@cohere-bundle/linux-x64 is not installed" in p.stderr, p.stderr


# -------------------------------------------------------------------------------------------------- the archive


def test_archive_checksum_binary_completions_and_man_pages(artifacts: Artifacts, user_env: Dict[str, str], tmp_path: Path) -> None:
    shutil.copy(artifacts.archive, tmp_path)
    shutil.copy(artifacts.checksum, tmp_path)
    p = ok(run(["sha256sum", "-c", artifacts.checksum.name], user_env, tmp_path))
    assert p.stdout.strip() == f"{artifacts.archive.name}: OK", p.stdout
    ok(run(["tar", "xzf", artifacts.archive.name], user_env, tmp_path))
    top = tmp_path / artifacts.archive.name.removesuffix(".tar.gz")
    assert top.is_dir(), list(tmp_path.iterdir())
    assert (top / "README.md").read_text().startswith("# cohere-bundle")
    assert "MIT" in (top / "LICENSE").read_text()
    p = ok(run([str(top / "cohere-bundle"), "--version"], user_env, tmp_path))
    assert p.stdout.strip() == f"cohere-bundle {artifacts.version}"

    commands = ["demo", "replay", "bundle", "observe", "scrub", "verify", "completions", "man"]
    comp = top / "completions"
    bash = (comp / "cohere-bundle.bash").read_text()
    ok(run(["bash", "-n", str(comp / "cohere-bundle.bash")], user_env, tmp_path))
    assert "complete -F _cohere__bundle" in bash and all(c in bash for c in commands), bash[:300]
    zsh = (comp / "_cohere-bundle").read_text()
    assert zsh.startswith("#compdef cohere-bundle") and "--upstream" in zsh, zsh[:300]
    fish = (comp / "cohere-bundle.fish").read_text()
    assert "complete -c cohere-bundle" in fish and "-l upstream" in fish, fish[:300]

    man = top / "man" / "man1"
    page = (man / "cohere-bundle.1").read_text()
    assert ".TH cohere-bundle" in page and ".SH NAME" in page and "observe" in page, page[:300]
    for c in commands:
        sub = (man / f"cohere-bundle-{c}.1").read_text()
        assert ".TH" in sub and ".SH SYNOPSIS" in sub and len(sub) > 300, (c, sub[:300])
    assert "--upstream" in (man / "cohere-bundle-observe.1").read_text().replace("\\-", "-")


CRATES = ("cohere-bundle-knowledge", "cohere-bundle-core", "cohere-bundle-simulator", "cohere-bundle")


def test_crates_hold_what_the_build_reads_and_no_tests(artifacts: Artifacts) -> None:
    names = {}
    for c in CRATES:
        crate = PACKAGE_DIR / f"{c}-{artifacts.version}.crate"
        assert crate.is_file(), f"{crate} is missing (scripts/package --crate)"
        with tarfile.open(crate) as t:
            names[c] = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    # What include_str! reads at build time is inside each crate that reads it.
    assert {"data/models.toml", "data/endpoints.toml", "data/statuses.toml", "data/platform_errors.toml"} <= names["cohere-bundle-knowledge"]
    assert {"templates/report.md.j2", "templates/report.html.j2", "assets/node-preload.mjs"} <= names["cohere-bundle-core"]
    assert "assets/sim-tokenizer.json" in names["cohere-bundle-simulator"]
    assert {"templates/demo-request.json", "templates/demo-app.log", "README.md", "LICENSE", "Cargo.lock"} <= names["cohere-bundle"]
    # Test fixtures, snapshots and the tests themselves are not.
    for c, files in names.items():
        assert not [f for f in files if f.startswith(("tests/", "benches/", "fuzz/"))], (c, sorted(files))


def test_cargo_install_from_the_packaged_crates_gives_a_working_binary(artifacts: Artifacts, user_env: Dict[str, str], tmp_path: Path) -> None:
    # scripts/package --crate-install ran `cargo install --offline` from the .crate files (cargo is needed there);
    # the binary it installed runs here with no Rust toolchain on PATH.
    binary = PACKAGE_DIR / "crate-install" / "root" / "bin" / "cohere-bundle"
    assert binary.is_file(), f"{binary} is missing (scripts/package --crate-install)"
    assert ok(run([str(binary), "--version"], user_env, tmp_path)).stdout.strip() == f"cohere-bundle {artifacts.version}"
    p = ok(run([str(binary), "demo", "--json"], user_env, tmp_path))
    out = last_json_line(p.stdout)
    bundle = tmp_path / out["bundle"]
    assert out["status"] == 400 and bundle.is_file(), out
    with zipfile.ZipFile(bundle) as z:
        assert "summary.json" in z.namelist() and "report.md" in z.namelist()
