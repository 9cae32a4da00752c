"""The agent contract's pure parts: workspace.json from a spec, the config files, report
parsing, the Podman provider's config folder, and the agent script's own helpers."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from api.workspace import WorkspaceSpec
from providers import agent, base
from providers.podman import PodmanProvider

REPO = Path(__file__).resolve().parents[2]
REF = base.WorkspaceRef(namespace="acme", name="alice-api", uid="u-1", organization="acme")


AGENT_DIR = REPO / "images" / "workspace" / "agent"


@pytest.fixture
def agent_package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The agent's package, imported from the folder the image copies (as its script does)."""
    monkeypatch.syspath_prepend(str(AGENT_DIR))
    return importlib.import_module("wwsagent")


def test_workspace_config_from_the_api_spec() -> None:
    spec = WorkspaceSpec.model_validate(
        {
            "owner": "Alice",
            "git": {"userName": "Alice L", "userEmail": "alice@example.com"},
            "ssh": {"authorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA a@b"]},
            "dotfiles": {"repo": "https://github.com/alice/dotfiles"},
            "bootstrap": {"script": "make setup"},
            "languages": [{"name": "python"}, {"name": "go", "version": "1.19"}],
            "editors": {"ssh": False},
        }
    )
    config = agent.workspace_config(
        namespace="acme",
        name="alice-api",
        uid="u-1",
        generation=7,
        spec=spec.model_dump(mode="json", by_alias=True),
    )
    assert config == {
        "version": 1,
        "workspace": {"namespace": "acme", "name": "alice-api", "uid": "u-1"},
        "generation": 7,
        "owner": "Alice",
        "userId": 1000,
        "shell": "zsh",
        "git": {"userName": "Alice L", "userEmail": "alice@example.com"},
        "ssh": {"authorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA a@b"]},
        "dotfiles": {"repo": "https://github.com/alice/dotfiles", "timeout": "120s"},
        "bootstrap": {"script": "make setup", "timeout": "30m"},
        "languages": [{"name": "python"}, {"name": "go", "version": "1.19"}],
        "editors": {"codeServer": True, "ssh": False},
        "idleTimeout": "30m",
    }
    files = agent.config_files(config, code_server_password="pw", github_token=" tok\n")
    assert set(files) == {"workspace.json", "secrets/code-server-password", "secrets/github-token"}
    assert json.loads(files["workspace.json"]) == config
    assert files["secrets/github-token"] == b"tok"
    assert "secrets/github-token" not in agent.config_files(config, code_server_password="pw")
    with pytest.raises(ValueError):
        agent.config_files(config, code_server_password="")


def test_config_files_stay_out_of_the_config_hash() -> None:
    one = base.DesiredWorkspace(ref=REF, image="i", config_files={"workspace.json": b"1"})
    two = base.DesiredWorkspace(ref=REF, image="i", config_files={"workspace.json": b"2"})
    assert one.effective_config_hash() == two.effective_config_hash()
    for bad in ("/etc/passwd", "../x", "a/../b", "", "a//b"):
        with pytest.raises(ValueError):
            base.DesiredWorkspace(ref=REF, image="i", config_files={bad: b""})


def test_parse_report() -> None:
    report = agent.parse_report(
        {
            "generation": 3,
            "bootId": "b-1",
            "updatedAt": "2026-01-02T03:04:05Z",
            "conditions": [
                {"type": "UserReady", "status": "True", "reason": "UserReady", "message": "ok"},
                {"type": "DotfilesReady", "status": "False", "reason": "CloneFailed"},
            ],
            "languages": [{"name": "go", "state": "Installed", "version": "1.19.8"}],
        }
    )
    assert report.generation == 3 and report.boot_id == "b-1"
    assert report.updated_at is not None and report.updated_at.year == 2026
    dotfiles = report.condition("DotfilesReady")
    assert dotfiles is not None and dotfiles.status == "False" and dotfiles.message == ""
    assert report.condition("SSHReady") is None
    assert report.languages[0].version == "1.19.8"
    with pytest.raises(ValueError):
        agent.parse_report({"conditions": [{"type": "X", "status": "maybe"}]})
    with pytest.raises(ValueError):
        agent.parse_report({"conditions": "nope"})


def test_podman_config_folder_is_synced_atomically(tmp_path: Path) -> None:
    provider = PodmanProvider(socket_path=tmp_path / "podman" / "podman.sock")
    assert provider.data_dir == tmp_path.resolve()
    files = {
        "workspace.json": b"{}",
        "secrets/github-token": b"t",
        "secrets/code-server-password": b"p",
    }
    assert provider.folders.sync_config("u-1", files) is True
    config = tmp_path / "workspaces" / "u-1" / "config"
    assert (config / "workspace.json").read_bytes() == b"{}"
    assert (config / "workspace.json").stat().st_mode & 0o777 == 0o644
    assert (config / "secrets" / "github-token").stat().st_mode & 0o777 == 0o600
    assert (config / "secrets").stat().st_mode & 0o777 == 0o700
    inode = (config / "workspace.json").stat().st_ino
    assert provider.folders.sync_config("u-1", files) is False  # unchanged: untouched
    assert (config / "workspace.json").stat().st_ino == inode
    del files["secrets/github-token"]
    files["workspace.json"] = b'{"generation": 2}'
    assert provider.folders.sync_config("u-1", files) is True
    assert not (config / "secrets" / "github-token").exists()
    assert (config / "workspace.json").stat().st_ino != inode  # replaced, not rewritten
    assert sorted(p.name for p in config.rglob("*")) == [
        "code-server-password",
        "secrets",
        "workspace.json",
    ]
    assert provider.folders.sync_config("u-1", {}) is True
    assert list(config.iterdir()) == []


def test_podman_container_spec_mounts_the_agent_folders(tmp_path: Path) -> None:
    provider = PodmanProvider(socket_path=Path("/x.sock"), data_dir=tmp_path)
    spec = provider._container_spec(base.DesiredWorkspace(ref=REF, image="i"), "h")
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/run/wws/config"]["source"] == str(tmp_path / "workspaces/u-1/config")
    assert "ro" in mounts["/run/wws/config"]["options"]
    assert mounts["/run/wws/status"]["source"] == str(tmp_path / "workspaces/u-1/status")
    assert "rw" in mounts["/run/wws/status"]["options"]


def test_agent_parses_durations_and_writes_reports(
    agent_package: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wwsagent import configuration, reporting, settings

    parse = configuration.parse_duration
    assert parse("120s", 5) == 120
    assert parse("1h30m", 5) == 5400
    assert parse("2d", 5) == 172800
    assert parse(None, 5) == 5
    assert parse(42, 5) == 42
    assert parse("0", 5) == 0
    assert parse("soon", 5) == 5
    monkeypatch.setattr(settings, "STATUS_DIR", tmp_path)
    reporter = reporting.Reporter()
    reporter.set("UserReady", "True", "UserReady", "user alice")
    reporter.set_language("go", state="Installed", version="1.19.8")
    data = json.loads((tmp_path / "report.json").read_text())
    parsed = agent.parse_report(data)
    assert parsed.condition("UserReady") == agent.AgentCondition(
        "UserReady", "True", "UserReady", "user alice"
    )
    assert [c.type for c in parsed.conditions] == list(agent.CONDITION_TYPES)
    assert parsed.languages[0].name == "go"
    assert list(tmp_path.iterdir()) == [tmp_path / "report.json"]  # no temporary files left


def test_agent_script_runs_its_package_also_through_a_link(tmp_path: Path) -> None:
    """``wws-agent status`` is a link to the script in the image; the script finds its
    package beside itself, with the image's plain python3 and no PYTHONPATH."""
    (tmp_path / "status").mkdir()
    report = {
        "version": 1,
        "conditions": [{"type": "SSHReady", "status": "True", "reason": "Listening",
                        "message": "sshd listens on port 22"}],
        "languages": [],
    }  # fmt: skip
    (tmp_path / "status" / "report.json").write_text(json.dumps(report))
    link = tmp_path / "bin" / "wws-agent"
    link.parent.mkdir()
    link.symlink_to(AGENT_DIR / "wws_agent.py")
    env = {"PATH": os.environ["PATH"], "WWS_STATUS_DIR": str(tmp_path / "status")}
    result = subprocess.run(
        ["/usr/bin/python3", str(link), "status"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "SSHReady",
        "True",
        "Listening:",
        *["sshd", "listens", "on", "port", "22"],
    ]


def test_agent_uses_the_standard_library_only() -> None:
    """The image has Python 3 and nothing else: the agent imports the standard library
    and its own package only."""
    found: dict[str, set[str]] = {}
    for path in AGENT_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "wwsagent":
                    found.setdefault(str(path.relative_to(AGENT_DIR)), set()).add(name)
    assert found == {}


def test_an_editor_that_exits_before_it_answered_is_still_starting(
    agent_package: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """code-server missing its own 10 s start-up handshake (a slow VM) is retried as
    Unknown/Restarting a few times, then reported failed; one that answered and died is
    Exited at once."""
    from wwsagent import reporting, services, settings

    monkeypatch.setattr(settings, "STATUS_DIR", tmp_path)
    reporter = reporting.Reporter()
    supervisor = services.Services(reporter)
    editor = supervisor.code_server
    clock = iter(range(1, 1000))

    def exit_at_once() -> None:
        editor.process = subprocess.Popen(["sh", "-c", "exit 1"])
        editor.process.wait()

    def look() -> dict[str, str]:
        supervisor._supervise(
            editor,
            "EditorReady",
            next(clock) * 100.0,  # past every backoff
            exit_at_once,
            tmp_path / "code-server.log",
            lambda: False,
        )
        return reporter.get("EditorReady")

    exit_at_once()
    for attempt in range(1, services.STARTUP_RETRIES + 1):
        found = look()
        assert (found["status"], found["reason"]) == ("Unknown", "Restarting"), found
        assert f"try {attempt} of {services.STARTUP_RETRIES}" in found["message"]
        look()  # started again
    found = look()
    assert (found["status"], found["reason"]) == ("False", "Exited"), found

    editor.failures = 0
    exit_at_once()
    editor.ready = True  # it answered, then died
    found = look()
    assert (found["status"], found["reason"]) == ("False", "Exited"), found


def test_agent_makes_a_host_key_pair_under_a_temporary_name(
    agent_package: types.ModuleType, tmp_path: Path
) -> None:
    from wwsagent import services

    (tmp_path / "ssh_host_ed25519_key.new").write_text("left by a crash")
    services.make_host_key(tmp_path, "ed25519")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
    ]
    assert (tmp_path / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")


def test_one_missed_probe_of_an_answering_service_is_not_a_failure(
    agent_package: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wwsagent import reporting, services, settings

    monkeypatch.setattr(settings, "STATUS_DIR", tmp_path)
    reporter = reporting.Reporter()
    supervisor = services.Services(reporter)
    sshd = supervisor.sshd
    sshd.process = subprocess.Popen(["sleep", "30"])
    try:
        answers = iter([True, False, True, False, False])

        def look(now: float) -> dict[str, str]:
            supervisor._supervise(
                sshd, "SSHReady", now, lambda: None, tmp_path / "sshd.log", lambda: next(answers)
            )
            return reporter.get("SSHReady")

        assert look(100)["status"] == "True"
        assert look(200)["status"] == "True"  # one miss (sshd reloading)
        assert look(300)["status"] == "True"
        look(400)
        assert look(500)["reason"] == "NotAnswering"  # two in a row
    finally:
        sshd.process.kill()
        sshd.process.wait()
