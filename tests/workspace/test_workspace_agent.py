"""A workspace as its owner gets it: user, zsh, SSH, yadm dotfiles, bootstrap, gh,
code-server, and a home (with its SSH host keys) that survives stop/start and re-creation.

One workspace for the whole module, made with the Podman provider and the agent's config
files, as the controller will make it.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from providers import base
from tests.support.podman import podman
from tests.workspace.conftest import (
    GitServer,
    Workspace,
    WorkspaceFactory,
    all_true,
    logs_of,
    make_repo,
)

pytestmark = pytest.mark.podman

OWNER = "Alice-Dev"  # a GitHub login: the Linux user is its lowercase form
USER = OWNER.lower()
BOOTSTRAP_V1 = 'echo "bootstrap v1 for $USER in $PWD"\necho v1 >> "$HOME/bootstrap-runs"\n'
BOOTSTRAP_V2 = BOOTSTRAP_V1.replace("v1", "v2")
DOTFILES_BOOTSTRAP = """#!/bin/sh
echo "yadm bootstrap ran"
date >> "$HOME/.dotfiles-bootstrap-runs"
"""
FIRST_BOOT_TIMEOUT = 240


@pytest.fixture(scope="module")
def ws(
    workspaces: WorkspaceFactory,
    git_server_factory: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workspace]:
    network = workspaces.organization()
    server: GitServer = git_server_factory(network.gateway)  # type: ignore[operator]
    repo = make_repo(
        tmp_path_factory.mktemp("dotfiles") / "work",
        {
            ".wws-test-dotfile": ("from the dotfiles repo\n", 0o644),
            ".zshrc": ("export WWS_DOTFILES=yes\n", 0o644),
            ".config/yadm/bootstrap": (DOTFILES_BOOTSTRAP, 0o755),
        },
    )
    url = server.publish("dotfiles", repo)
    token = "ghp_" + secrets.token_hex(18)
    workspace = workspaces.make(
        {
            "owner": OWNER,
            "shell": "zsh",
            "git": {"userName": "Alice Dev", "userEmail": "alice@example.com"},
            "dotfiles": {"repo": url, "timeout": "60s"},
            "bootstrap": {"script": BOOTSTRAP_V1},
            "languages": [],
            "editors": {"codeServer": True, "ssh": True},
        },
        organization=network.organization,
        token=token,
    )
    started = time.monotonic()
    observed = workspace.ensure()
    assert observed.state is base.State.RUNNING, observed.message
    workspace.wait_conditions(
        {"UserReady": "True", "SSHReady": "True", "EditorReady": "True"},
        timeout=60,
        what="user, SSH and code-server",
    )
    usable = time.monotonic() - started
    workspace.wait(all_true, timeout=FIRST_BOOT_TIMEOUT, what="every condition True")
    print(
        f"\nfirst boot: SSH and code-server ready in {usable:.1f}s, dotfiles and bootstrap "
        f"done in {time.monotonic() - started:.1f}s"
    )
    yield workspace


def test_report_has_every_condition_true_for_this_generation(ws: Workspace) -> None:
    report = ws.report()
    assert report is not None
    assert report["generation"] == ws.generation
    assert report["bootId"]
    kinds = [c["type"] for c in report["conditions"]]
    assert set(kinds) == {
        "UserReady",
        "SSHReady",
        "EditorReady",
        "DotfilesReady",
        "LanguagesReady",
        "BootstrapReady",
    }
    assert all(c["status"] == "True" for c in report["conditions"]), report
    assert ws.condition(report, "LanguagesReady")["reason"] == "NotRequested"
    assert report["languages"] == []


def test_ssh_login_is_the_owner_with_zsh_and_sudo(ws: Workspace) -> None:
    out = ws.ssh('echo "$SHELL"; whoami; id -u; sudo -n true && echo sudo-ok; echo "$LANG"')
    shell, whoami, uid, sudo, lang = out.stdout.split()
    assert shell.endswith("/zsh")
    assert whoami == USER
    assert uid == "1000"
    assert sudo == "sudo-ok"
    assert lang == "en_US.UTF-8"
    assert ws.ssh("git config user.name; git config user.email").stdout.splitlines() == [
        "Alice Dev",
        "alice@example.com",
    ]


def test_password_login_is_refused(ws: Workspace) -> None:
    result = ws.ssh("true", check=False)
    assert result.returncode == 0
    config = ws.root("/usr/sbin/sshd -T")
    assert "passwordauthentication no" in config
    assert "kbdinteractiveauthentication no" in config
    assert "permitrootlogin no" in config


def test_dotfiles_are_cloned_with_yadm_and_their_bootstrap_ran_once(ws: Workspace) -> None:
    listed = ws.ssh("yadm list -a").stdout.split()
    assert {".wws-test-dotfile", ".zshrc", ".config/yadm/bootstrap"} <= set(listed)
    assert ws.ssh("cat ~/.wws-test-dotfile").stdout == "from the dotfiles repo\n"
    # The repository's .zshrc replaced the one the home started with (kept aside).
    assert ws.ssh("zsh -ic 'echo $WWS_DOTFILES'").stdout.strip() == "yes"
    assert ws.ssh("ls ~/.wws/dotfiles-backup/*/.zshrc").returncode == 0
    assert len(ws.ssh("cat ~/.dotfiles-bootstrap-runs").stdout.splitlines()) == 1
    log = ws.ssh("cat ~/.wws/logs/dotfiles.log").stdout
    assert "yadm bootstrap ran" in log
    report = ws.report()
    assert report is not None
    dotfiles = ws.condition(report, "DotfilesReady")
    assert dotfiles["reason"] == "Cloned"
    assert f"/home/{USER}/.wws/logs/dotfiles.log" in dotfiles["message"]


def test_bootstrap_script_ran_once_with_its_output_in_the_log(ws: Workspace) -> None:
    assert ws.ssh("cat ~/bootstrap-runs").stdout == "v1\n"
    log = ws.ssh("cat ~/.wws/logs/bootstrap.log").stdout
    assert f"bootstrap v1 for {USER} in /home/{USER}" in log
    assert "exit code 0" in log


def test_gh_has_the_token_and_is_gits_credential_helper(ws: Workspace) -> None:
    assert ws.token
    assert ws.ssh("gh auth token").stdout.strip() == ws.token
    helper = ws.ssh("git config --global --get-all credential.https://github.com.helper").stdout
    assert "gh auth git-credential" in helper
    filled = ws.ssh("printf 'protocol=https\\nhost=github.com\\n\\n' | git credential fill").stdout
    assert f"password={ws.token}" in filled.splitlines()
    assert ws.root(f"stat -c %a /home/{USER}/.config/gh/hosts.yml").strip() == "600"


def test_code_server_wants_the_password(ws: Workspace) -> None:
    base_url = f"http://127.0.0.1:{ws.host_port('code-server')}"
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
        assert client.get("/healthz").status_code == 200
        # Without a session: the login page.
        first = client.get("/")
        assert first.status_code in (302, 303) and "login" in first.headers["location"]
        assert client.get("/login").status_code == 200
        wrong = client.post("/login", data={"password": "not-the-password"})
        assert wrong.status_code != 302 and "code-server-session" not in wrong.cookies
        right = client.post("/login", data={"password": ws.password})
        assert right.status_code == 302, right.text[:500]
        assert "code-server-session" in client.cookies
        page = client.get("/", follow_redirects=True)
        assert page.status_code == 200
        # The VS Code workbench, not a login form.
        assert "vscode-workbench-web-configuration" in page.text or "workbench" in page.text
        assert 'name="password"' not in page.text


def test_secrets_appear_in_no_log_or_report(ws: Workspace) -> None:
    everything = logs_of(ws)
    assert ws.token and ws.token not in everything
    assert ws.password not in everything
    host_status = Path(ws.provider.data_dir) / "workspaces" / ws.ref.uid / "status"
    for path in host_status.iterdir():
        assert ws.token not in path.read_text()
    # The secrets reach the workspace only in 0600 files.
    config = Path(ws.provider.data_dir) / "workspaces" / ws.ref.uid / "config"
    assert (config / "secrets" / "github-token").stat().st_mode & 0o777 == 0o600
    assert (config / "secrets" / "code-server-password").stat().st_mode & 0o777 == 0o600


def test_a_changed_bootstrap_script_runs_again_without_recreating(ws: Workspace) -> None:
    before = ws.observed
    assert before is not None
    observed = ws.update_spec(bootstrap={"script": BOOTSTRAP_V2})
    assert observed.runtime_id == before.runtime_id
    assert observed.started_at == before.started_at
    ws.wait(
        lambda r: (
            ws.condition(r, "BootstrapReady")["status"] == "True"
            and ws.ssh("cat ~/bootstrap-runs").stdout == "v1\nv2\n"
        ),
        timeout=60,
        what="the new bootstrap script",
    )
    assert "bootstrap v2" in ws.ssh("cat ~/.wws/logs/bootstrap.log").stdout


def test_new_authorized_keys_apply_at_once(ws: Workspace, tmp_path: Path) -> None:
    import subprocess

    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    keys = [*ws.spec["ssh"]["authorizedKeys"], other.with_suffix(".pub").read_text().strip()]
    ws.update_spec(ssh={"authorizedKeys": keys})
    ws.wait(lambda r: r["generation"] == ws.generation, timeout=30, what="the new generation")
    assert other.with_suffix(".pub").read_text().split()[1] in ws.read(
        f"/etc/wws/ssh/authorized_keys/{USER}"
    )


def _host_key_fingerprints(ws: Workspace) -> str:
    return ws.root("for k in /home/.wws/ssh-host-keys/*.pub; do ssh-keygen -lf $k; done")


def test_home_and_host_keys_survive_stop_and_start(ws: Workspace) -> None:
    fingerprints = _host_key_fingerprints(ws)
    ws.ssh("echo kept > ~/precious.txt")
    ws.stop()
    started = time.monotonic()
    observed = ws.ensure()
    assert observed.state is base.State.RUNNING
    report = ws.wait(all_true, timeout=90, what="every condition True after a restart")
    print(f"\nwarm start: every condition True in {time.monotonic() - started:.1f}s")
    assert report["bootId"]
    # Known hosts are strict from here: the same host key, or ssh refuses.
    assert ws.ssh("cat ~/precious.txt").stdout == "kept\n"
    assert _host_key_fingerprints(ws) == fingerprints
    # Once per home: neither the dotfiles' bootstrap nor the script ran again.
    assert len(ws.ssh("cat ~/.dotfiles-bootstrap-runs").stdout.splitlines()) == 1
    assert ws.ssh("cat ~/bootstrap-runs").stdout == "v1\nv2\n"
    assert ws.ssh("gh auth token").stdout.strip() == ws.token


def test_home_and_host_keys_survive_recreation(ws: Workspace) -> None:
    fingerprints = _host_key_fingerprints(ws)
    before = ws.observed
    assert before is not None
    observed = ws.ensure(env={"WWS_TEST_RECREATE": "1"})  # a new config hash
    assert observed.runtime_id != before.runtime_id
    ws.wait(all_true, timeout=90, what="every condition True after re-creation")
    assert ws.ssh("cat ~/precious.txt").stdout == "kept\n"
    assert _host_key_fingerprints(ws) == fingerprints
    assert len(ws.ssh("cat ~/.dotfiles-bootstrap-runs").stdout.splitlines()) == 1
    assert ws.ssh("cat ~/bootstrap-runs").stdout == "v1\nv2\n"
    assert ws.ssh('echo "$SHELL"; whoami').stdout.split()[1] == USER


def test_report_is_from_this_boot(ws: Workspace) -> None:
    report = ws.report()
    assert report is not None
    first = report["bootId"]
    ws.stop()
    assert ws.report() is not None  # the last report stays readable while stopped
    ws.ensure()
    report = ws.wait(lambda r: r["bootId"] != first, timeout=30, what="a new boot's report")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["updatedAt"])


def test_container_log_names_the_steps(ws: Workspace) -> None:
    out = podman("logs", ws.container).stderr + podman("logs", ws.container).stdout
    assert "wws-agent" in out and "UserReady=True" in out
