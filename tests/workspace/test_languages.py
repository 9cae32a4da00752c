"""Languages: each installer of images/workspace/languages/ installs once per home and a
hello-world builds and runs inside (python venv + pip, node + npm, go build, cargo build);
what was installed survives re-creation of the container without being installed again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from providers import base
from tests.workspace.conftest import Workspace, WorkspaceFactory

pytestmark = pytest.mark.podman

LANGUAGES = [
    {"name": "python", "version": "3.11"},
    {"name": "node", "version": "20"},
    {"name": "go"},
    {"name": "rust"},
]


@pytest.fixture(scope="module")
def ws(workspaces: WorkspaceFactory) -> Iterator[Workspace]:
    network = workspaces.organization()
    workspace = workspaces.make(
        {"owner": "carol", "languages": LANGUAGES}, organization=network.organization
    )
    started = time.monotonic()
    observed = workspace.ensure()
    assert observed.state is base.State.RUNNING, observed.message
    report = workspace.wait(
        lambda r: workspace.condition(r, "LanguagesReady")["status"] != "Unknown",
        timeout=900,
        what="the languages",
    )
    assert workspace.condition(report, "LanguagesReady")["status"] == "True", report
    print(f"\nfirst boot with python, node, go and rust: {time.monotonic() - started:.0f}s")
    yield workspace


def test_report_names_each_language_with_its_version(ws: Workspace) -> None:
    report = ws.report()
    assert report is not None
    languages = {entry["name"]: entry for entry in report["languages"]}
    assert set(languages) == {"python", "node", "go", "rust"}
    assert all(entry["state"] == "Installed" for entry in languages.values()), languages
    assert languages["python"]["version"].startswith("3.11.")
    assert languages["node"]["version"].startswith("20.")
    assert languages["go"]["version"].startswith("1.19")
    assert languages["rust"]["version"].startswith("1.63")


def test_python_venv_and_pip(ws: Workspace) -> None:
    out = ws.ssh(
        "set -e; cd $(mktemp -d); python -m venv venv; venv/bin/pip install -q six;"
        " venv/bin/python -c 'import six; print(\"six\", six.__version__)';"
        " which python pip"
    ).stdout
    assert "six 1." in out
    assert "/.wws/languages/python/bin/python" in out


def test_node_and_npm(ws: Workspace) -> None:
    out = ws.ssh(
        "set -e; cd $(mktemp -d); npm init -y >/dev/null; npm install --silent is-number@7;"
        " node -e 'console.log(process.version, require(\"is-number\")(5))'"
    ).stdout
    assert out.startswith("v20.") and out.strip().endswith("true")


def test_go_build(ws: Workspace) -> None:
    out = ws.ssh(
        "set -e; cd $(mktemp -d); go mod init example.com/hello >/dev/null 2>&1;"
        ' printf \'package main\\nimport "fmt"\\nfunc main() { fmt.Println("hello, go") }\\n\''
        " > main.go; go build -o hello . && ./hello"
    ).stdout
    assert out.strip() == "hello, go"


def test_cargo_build(ws: Workspace) -> None:
    out = ws.ssh(
        "set -e; cd $(mktemp -d); cargo new --quiet --bin hello; cd hello;"
        " cargo build --quiet --offline && ./target/debug/hello"
    ).stdout
    assert out.strip() == "Hello, world!"


def test_languages_survive_stop_and_start_without_reinstalling(ws: Workspace) -> None:
    markers = ws.root("cat /home/.wws/state/language-*.json")
    ws.stop()
    ws.ensure()
    ws.wait_conditions({"LanguagesReady": "True"}, timeout=60)
    assert ws.root("cat /home/.wws/state/language-*.json") == markers
    assert "go1.19" in ws.ssh("go version").stdout


def test_languages_survive_recreation_without_reinstalling(ws: Workspace) -> None:
    markers = ws.root("cat /home/.wws/state/language-*.json")
    before = ws.observed
    assert before is not None
    observed = ws.ensure(env={"WWS_TEST_RECREATE": "1"})
    assert observed.runtime_id != before.runtime_id
    started = time.monotonic()
    ws.wait_conditions({"LanguagesReady": "True"}, timeout=120)
    print(f"\nafter re-creation, languages ready in {time.monotonic() - started:.1f}s")
    assert ws.root("cat /home/.wws/state/language-*.json") == markers
    out = ws.ssh("python --version; node --version; go version; cargo --version").stdout
    assert "Python 3.11" in out and "v20." in out and "go1.19" in out and "cargo 1.6" in out
