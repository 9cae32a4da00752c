"""Failures inside a workspace are reported, never fatal: a dotfiles repository that does
not clone and a bootstrap script that fails leave a usable workspace (SSH, code-server)
with DotfilesReady / BootstrapReady False, a reason, and a log that says why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers import base
from tests.workspace.conftest import GitServer, Workspace, WorkspaceFactory, make_repo

pytestmark = pytest.mark.podman

FAILING_SCRIPT = 'echo "about to fail"\necho "oops" >&2\nexit 3\n'


@pytest.fixture(scope="module")
def network_and_server(
    workspaces: WorkspaceFactory, git_server_factory: object
) -> tuple[str, GitServer]:
    network = workspaces.organization()
    server: GitServer = git_server_factory(network.gateway)  # type: ignore[operator]
    return network.organization, server


@pytest.fixture(scope="module")
def ws(
    workspaces: WorkspaceFactory, network_and_server: tuple[str, GitServer]
) -> Iterator[Workspace]:
    organization, server = network_and_server
    workspace = workspaces.make(
        {
            "owner": "bob",
            "shell": "bash",
            "dotfiles": {"repo": f"{server.base_url}/no-such-repo.git", "timeout": "30s"},
            "bootstrap": {"script": FAILING_SCRIPT, "timeout": "60s"},
        },
        organization=organization,
    )
    observed = workspace.ensure()
    assert observed.state is base.State.RUNNING, observed.message
    workspace.wait_conditions(
        {"DotfilesReady": "False", "BootstrapReady": "False", "SSHReady": "True",
         "EditorReady": "True", "UserReady": "True"},
        timeout=120,
    )  # fmt: skip
    yield workspace


def test_broken_dotfiles_repo_is_reported_with_a_readable_log(ws: Workspace) -> None:
    report = ws.report()
    assert report is not None
    dotfiles = ws.condition(report, "DotfilesReady")
    assert dotfiles["reason"] == "CloneFailed"
    assert "/home/bob/.wws/logs/dotfiles.log" in dotfiles["message"]
    log = ws.ssh("cat ~/.wws/logs/dotfiles.log").stdout
    assert "no-such-repo.git" in log
    assert "not found" in log or "404" in log or "fatal" in log


def test_failing_bootstrap_is_reported_with_exit_code_and_log(ws: Workspace) -> None:
    report = ws.report()
    assert report is not None
    bootstrap = ws.condition(report, "BootstrapReady")
    assert bootstrap["reason"] == "ScriptFailed"
    assert "exited with code 3" in bootstrap["message"]
    assert "/home/bob/.wws/logs/bootstrap.log" in bootstrap["message"]
    log = ws.ssh("cat ~/.wws/logs/bootstrap.log").stdout
    assert "about to fail" in log and "oops" in log and "exit code 3" in log


def test_the_workspace_stays_usable(ws: Workspace) -> None:
    out = ws.ssh('echo "$SHELL"; whoami; sudo -n true && echo sudo-ok').stdout.split()
    assert out[0].endswith("/bash") and out[1:] == ["bob", "sudo-ok"]
    report = ws.report()
    assert report is not None
    for kind in ("UserReady", "SSHReady", "EditorReady", "LanguagesReady"):
        assert ws.condition(report, kind)["status"] == "True", report


def test_a_failed_bootstrap_is_not_retried_at_the_next_boot_but_a_failed_clone_is(
    ws: Workspace,
) -> None:
    ws.stop()
    ws.ensure()
    ws.wait_conditions({"DotfilesReady": "False", "BootstrapReady": "False"}, timeout=120)
    bootstrap_log = ws.ssh("cat ~/.wws/logs/bootstrap.log").stdout
    assert bootstrap_log.count("about to fail") == 1
    dotfiles_log = ws.ssh("cat ~/.wws/logs/dotfiles.log").stdout
    assert dotfiles_log.count("yadm clone") >= 2


def test_a_fixed_script_runs_and_clears_the_condition(ws: Workspace) -> None:
    ws.update_spec(bootstrap={"script": "echo fixed"})
    report = ws.wait_conditions({"BootstrapReady": "True"}, timeout=60)
    assert ws.condition(report, "BootstrapReady")["reason"] == "Succeeded"


def test_a_dotfiles_bootstrap_past_the_timeout_is_stopped(
    ws: Workspace, network_and_server: tuple[str, GitServer], tmp_path: Path
) -> None:
    _, server = network_and_server
    repo = make_repo(
        tmp_path / "slow",
        {".config/yadm/bootstrap": ("#!/bin/sh\necho slow bootstrap\nsleep 300\n", 0o755)},
    )
    url = server.publish("slow-dotfiles", repo)
    started = time.monotonic()
    ws.update_spec(dotfiles={"repo": url, "timeout": "5s"})
    report = ws.wait(
        lambda r: ws.condition(r, "DotfilesReady")["reason"] == "BootstrapTimeout",
        timeout=60,
        what="the dotfiles bootstrap to time out",
    )
    assert time.monotonic() - started < 30
    assert ws.condition(report, "DotfilesReady")["status"] == "False"
    assert "slow bootstrap" in ws.ssh("cat ~/.wws/logs/dotfiles.log").stdout
    assert ws.root("pgrep -u bob -f 'sleep 300' || true") == ""


def test_code_server_is_restarted_when_it_dies(ws: Workspace) -> None:
    pid = ws.root("pgrep -u bob -f -o 'code-server/out/node/entry.js'").strip()
    assert pid
    ws.root(f"kill -KILL {pid}")
    ws.wait(
        lambda r: ws.condition(r, "EditorReady")["reason"] == "Exited",
        timeout=15,
        what="EditorReady to report the exit",
    )
    ws.wait_conditions({"EditorReady": "True"}, timeout=60, what="code-server back")
    assert ws.root("pgrep -u bob -f -o 'code-server/out/node/entry.js'").strip() != pid


def test_a_crashed_agent_is_started_again_and_takes_over(ws: Workspace) -> None:
    before = ws.report()
    assert before is not None
    pid = ws.root("pgrep -o -f 'wws_agent.py run'").strip()
    ws.root(f"kill -KILL {pid}")
    report = ws.wait(
        lambda r: (
            r["updatedAt"] > before["updatedAt"]
            and ws.root("pgrep -o -f 'wws_agent.py run'").strip() not in ("", pid)
            and ws.condition(r, "EditorReady")["status"] == "True"
            and ws.condition(r, "SSHReady")["status"] == "True"
        ),
        timeout=60,
        what="a new agent with SSH and code-server",
    )
    assert report["bootId"] == before["bootId"]  # the same boot
    assert ws.ssh("whoami").stdout.strip() == "bob"
    assert "previous agent left running" in ws.read("/home/.wws/logs/agent.log")
    assert len(ws.root("pgrep -f '/usr/sbin/sshd -D -e'").split()) == 1
