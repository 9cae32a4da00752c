"""Issue 14: idle auto-stop end to end (kubectl → store → kopf → Podman, real SSH): a
workspace with a short timeout stays up while an SSH session types and stops after it ends
(spec untouched, stopReason Idle, the Idle condition, the events); the restart annotation
wakes it; an unchanged re-apply changes nothing; a controller restart keeps it stopped."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import Controller
from tests.controller.test_workspaces import condition, events
from tests.support.kubectl import Kubectl
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]

TIMEOUT = 30


def manifest(org: str, image: str, key: Path) -> str:
    return json.dumps(
        {
            "apiVersion": "wws.dev/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": "idler", "namespace": org},
            "spec": {
                "owner": "alice",
                "image": image,
                "resources": {"cpu": "1", "memory": "1Gi"},
                "ssh": {"authorizedKeys": [key.with_suffix(".pub").read_text().strip()]},
                "idle": {"timeout": f"{TIMEOUT}s"},
            },
        }
    )


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def typing_session(obj: dict[str, Any], key: Path, folder: Path) -> subprocess.Popen[bytes]:
    """An interactive SSH session (a terminal) whose input the test writes."""
    argv = shlex.split(obj["status"]["endpoints"]["ssh"])
    options = [
        "-tt", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={folder / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR",
    ]  # fmt: skip
    return subprocess.Popen(
        [argv[0], *options, *argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def session_cleanup() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_idle_stop_while_ssh_types_then_wake(
    kubectl: Kubectl,
    org: str,
    controller: Controller,
    workspace_image: str,
    key: Path,
    tmp_path: Path,
    session_cleanup: list[subprocess.Popen[bytes]],
) -> None:
    applied = manifest(org, workspace_image, key)
    kubectl.apply(applied)
    obj = kubectl.wait_ready(org, "idler", timeout=90)
    session = typing_session(obj, key, tmp_path)
    session_cleanup.append(session)
    assert session.stdin is not None
    # Typing for twice the timeout: it stays up.
    until = time.monotonic() + 2 * TIMEOUT
    while time.monotonic() < until:
        session.stdin.write(b"true\n")
        session.stdin.flush()
        time.sleep(2)
        assert session.poll() is None, "the SSH session ended"
    obj = kubectl.workspace(org, "idler")
    assert obj["status"]["phase"] == "Running", obj["status"]
    assert obj["status"].get("lastActivitySource") in ("ssh", "tmux"), obj["status"]
    wide = kubectl.run("-n", org, "get", "workspace", "idler", "-o", "wide").stdout
    assert "LAST ACTIVITY" in wide and "ssh" in wide

    # The session ends: it stops after the timeout, spec untouched.
    session.stdin.close()
    session.kill()
    session.wait(timeout=10)
    generation = obj["metadata"]["generation"]

    def stopped() -> dict[str, Any] | None:
        found = kubectl.workspace(org, "idler")
        return found if (found.get("status") or {}).get("stopReason") == "Idle" else None

    obj = eventually(stopped, "the idle stop", timeout=3 * TIMEOUT)
    obj = eventually(
        lambda: (
            (found := kubectl.workspace(org, "idler"))["status"]["phase"] == "Stopped" and found
        ),
        "phase Stopped",
    )
    assert obj["spec"]["running"] is True
    assert obj["metadata"]["generation"] == generation
    idle = condition(obj, "Idle")
    assert idle["status"] == "True" and "no activity since" in idle["message"]
    reasons = {event["reason"] for event in events(kubectl, org, "idler")}
    assert {"IdleSoon", "IdleStop"} <= reasons, reasons

    # A GitOps re-apply of the unchanged manifest changes nothing.
    version = obj["metadata"]["resourceVersion"]
    kubectl.apply(applied)
    assert kubectl.workspace(org, "idler")["metadata"]["resourceVersion"] == version

    status, text = controller.get("/metrics")
    assert status == 200 and 'wws_workspace_stops_total{reason="Idle"} 1.0' in text

    # A controller restart keeps it stopped.
    controller.kill()
    controller.start()
    time.sleep(5)
    assert kubectl.workspace(org, "idler")["status"]["phase"] == "Stopped"

    # The annotation wakes it; the wake counts as activity.
    kubectl.run(
        "-n", org, "annotate", "--overwrite", "workspace", "idler",
        "wws.dev/restartedAt=2026-11-27T18:00:00Z",
    )  # fmt: skip

    def woken() -> dict[str, Any] | None:
        found = kubectl.workspace(org, "idler")
        status = found.get("status") or {}
        ready = condition(found, "Ready")["status"] == "True"
        return found if status.get("phase") == "Running" and ready else None

    obj = eventually(woken, "the wake", timeout=90)
    assert "stopReason" not in obj["status"]
    assert condition(obj, "Idle")["status"] == "False"
    assert obj["status"]["lastActivitySource"] == "start"
    status, text = controller.get("/metrics")
    assert status == 200 and "wws_workspace_last_activity_seconds{" in text
