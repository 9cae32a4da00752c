"""The provider's half of the agent contract (docs/workspace-agent.md), on real Podman:
config files in at /run/wws/config (read-only, secrets 0600, updated in place without
re-creating the container), the report out through /run/wws/status, the folder gone with
the workspace."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from providers import agent, base
from providers.podman import naming
from tests.support.podman import podman
from tests.workspace.conftest import Workspace, WorkspaceFactory, run

pytestmark = pytest.mark.podman


def agent_folder(ws: Workspace) -> Path:
    return Path(ws.provider.data_dir) / "workspaces" / ws.ref.uid


def test_without_config_the_agent_waits_for_it(workspaces: WorkspaceFactory) -> None:
    network = workspaces.organization()
    ws = workspaces.make({"owner": "dora"}, organization=network.organization)
    ws.desired = base.DesiredWorkspace(ref=ws.ref, image=ws.desired.image)  # no files
    observed = run(ws.provider.ensure(ws.desired))
    assert observed.state is base.State.RUNNING
    ws.observed = observed
    ws.generation = None  # type: ignore[assignment]
    report = ws.wait(
        lambda r: ws.condition(r, "UserReady")["reason"] == "WaitingForConfig",
        timeout=30,
        what="WaitingForConfig",
    )
    assert report["generation"] is None
    # The config arrives later (no re-creation): the agent applies it.
    ws.generation = 1
    again = ws.ensure()
    assert again.runtime_id == observed.runtime_id
    ws.wait_conditions({"UserReady": "True", "SSHReady": "True"}, timeout=60)
    assert ws.ssh("whoami").stdout.strip() == "dora"


def test_config_files_go_in_read_only_and_change_in_place(workspaces: WorkspaceFactory) -> None:
    network = workspaces.organization()
    ws = workspaces.make({"owner": "erin"}, organization=network.organization, token="tok-1")
    first = ws.ensure()
    folder = agent_folder(ws)
    assert (folder / "config" / agent.CONFIG_FILE).is_file()
    assert (folder / "config" / "secrets" / "github-token").stat().st_mode & 0o777 == 0o600
    assert (folder / "config" / "secrets").stat().st_mode & 0o777 == 0o700
    inside = json.loads(ws.read("/run/wws/config/workspace.json"))
    assert inside["owner"] == "erin" and inside["generation"] == 1
    assert inside["workspace"] == {"namespace": ws.ref.namespace, "name": "ws", "uid": ws.ref.uid}
    assert ws.read("/run/wws/config/secrets/github-token") == "tok-1"
    denied = podman("exec", ws.container, "touch", "/run/wws/config/x", check=False)
    assert denied.returncode != 0 and "Read-only" in denied.stderr
    mounts = {m["Destination"]: m for m in _inspect(ws)["Mounts"]}
    assert mounts[base.AGENT_CONFIG_DIR]["RW"] is False
    assert mounts[base.AGENT_STATUS_DIR]["RW"] is True

    # A new token, then none: the files change in place, the container stays.
    ws.token = "tok-2"
    second = ws.update_spec(shell="bash")
    assert second.runtime_id == first.runtime_id
    assert ws.read("/run/wws/config/secrets/github-token") == "tok-2"
    assert json.loads(ws.read("/run/wws/config/workspace.json"))["generation"] == 2
    ws.wait(lambda r: r["generation"] == 2, timeout=30, what="generation 2 applied")
    ws.token = None
    ws.update_spec()
    assert not (folder / "config" / "secrets" / "github-token").exists()
    assert ws.root("ls /run/wws/config/secrets") == "code-server-password\n"
    ws.wait(lambda r: r["generation"] == 3, timeout=30, what="generation 3 applied")

    # The report comes back through the provider and parses.
    raw = run(ws.provider.read_report(ws.ref))
    assert raw is not None
    parsed = agent.parse_report(raw)
    assert parsed.generation == 3
    assert parsed.condition("UserReady") is not None

    run(ws.provider.delete(ws.ref))
    assert not folder.exists()
    assert run(ws.provider.read_report(ws.ref)) is None


def test_stale_report_is_dropped_when_the_workspace_starts(workspaces: WorkspaceFactory) -> None:
    network = workspaces.organization()
    ws = workspaces.make({"owner": "fay"}, organization=network.organization)
    ws.ensure()
    first = ws.wait(lambda r: True, timeout=30, what="a report")
    ws.stop()
    report_file = agent_folder(ws) / "status" / base.AGENT_REPORT_FILE
    assert report_file.exists()
    ws.ensure()
    second = ws.wait(lambda r: r["bootId"] != first["bootId"], timeout=30, what="a new boot")
    assert second["bootId"] != first["bootId"]


def test_orphaned_agent_folders_are_removed(workspaces: WorkspaceFactory) -> None:
    folders = Path(workspaces.provider.data_dir) / "workspaces"
    orphan = folders / f"orphan-{uuid.uuid4()}"
    (orphan / "config").mkdir(parents=True, exist_ok=True)
    # NB: everything else is "known", so nothing of another test (or session) is touched.
    known = {o.uid for o in run(workspaces.provider.list_managed()) if o.uid}
    known |= {p.name for p in folders.iterdir() if p != orphan}
    removed = run(workspaces.provider.remove_orphans(known_uids=known))
    assert [o.kind for o in removed] == ["folder"]
    assert removed[0].uid == orphan.name
    assert not orphan.exists()


def _inspect(ws: Workspace) -> dict[str, Any]:
    info: list[dict[str, Any]] = json.loads(
        podman("container", "inspect", naming.container_name(ws.ref.uid)).stdout
    )
    return info[0]


def test_a_new_owner_takes_over_the_home(workspaces: WorkspaceFactory) -> None:
    network = workspaces.organization()
    ws = workspaces.make({"owner": "gina"}, organization=network.organization)
    first = ws.ensure()
    ws.wait_conditions({"UserReady": "True", "SSHReady": "True"}, timeout=60)
    ws.ssh("echo mine > ~/notes.txt")
    again = ws.update_spec(owner="Hana")  # applied in place: no re-creation
    assert again.runtime_id == first.runtime_id
    ws.wait_conditions({"UserReady": "True", "SSHReady": "True", "EditorReady": "True"}, timeout=60)
    assert ws.ssh("whoami; cat ~/notes.txt; pwd").stdout.split() == ["hana", "mine", "/home/hana"]
    assert ws.root("ls /home") == "hana\n"
    # And after a re-creation (a fresh /etc/passwd), the same.
    ws.ensure(env={"WWS_TEST_RECREATE": "1"})
    ws.wait_conditions({"UserReady": "True", "SSHReady": "True"}, timeout=60)
    assert ws.ssh("cat ~/notes.txt").stdout == "mine\n"
