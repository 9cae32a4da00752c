"""Failures inside a workspace are reported, never fatal: a dotfiles repository that does
not clone and a bootstrap script that fails leave a usable workspace (SSH, code-server)
with DotfilesReady / BootstrapReady False, a reason, and a log that says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers import base
from tests.workspace.conftest import GitServer, Workspace, WorkspaceFactory

pytestmark = pytest.mark.podman

FAILING_SCRIPT = 'echo "about to fail"\necho "oops" >&2\nexit 3\n'


@pytest.fixture(scope="module")
def ws(workspaces: WorkspaceFactory, git_server_factory: object) -> Iterator[Workspace]:
    network = workspaces.organization()
    server: GitServer = git_server_factory(network.gateway)  # type: ignore[operator]
    workspace = workspaces.make(
        {
            "owner": "bob",
            "shell": "bash",
            "dotfiles": {"repo": f"{server.base_url}/no-such-repo.git", "timeout": "30s"},
            "bootstrap": {"script": FAILING_SCRIPT, "timeout": "60s"},
        },
        organization=network.organization,
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
