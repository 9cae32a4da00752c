"""A runtime that cannot be reached: every state says why, nothing is stuck for good.

The controller runs without a ``podman`` binary on its PATH and with no Podman API socket,
so the provider cannot be opened (``ProviderUnavailable``). A new workspace shows why it
does not start; deleting it keeps the finalizer (nothing may be left behind unseen) and says
so in the status and in events while it retries; once the controller can reach Podman
again, the deletion completes by itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.podman import service
from tests.controller.conftest import Controller
from tests.controller.test_workspaces import condition, events, workspace_yaml
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]


class BlindController(Controller):
    """A controller that cannot find Podman (no binary on PATH, no socket)."""

    def start(self, *, wait_ready: bool = True) -> Controller:
        saved = os.environ.get("PATH", "")
        os.environ["PATH"] = "/nonexistent"
        try:
            return super().start(wait_ready=wait_ready)
        finally:
            os.environ["PATH"] = saved


@pytest.fixture
def blind(store: StoreProcess, tmp_path: Path) -> Iterator[BlindController]:
    running = BlindController(store, tmp_path, tmp_path / "no-podman.sock")
    try:
        yield running
    finally:
        running.stop()


def test_unreachable_provider_is_reported_and_delete_recovers(
    store: StoreProcess,
    kubectl: Kubectl,
    blind: BlindController,
    podman_service: service.Service,
    tmp_path: Path,
) -> None:
    blind.start()
    org = unique("down")
    kubectl.apply(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {org}}}\n")
    kubectl.apply(workspace_yaml(org, "waiting"))

    obj = eventually(
        lambda: (
            found
            if (found := kubectl.workspace(org, "waiting")).get("status", {}).get("conditions")
            and condition(found, "Ready")["reason"] == "ProviderUnavailable"
            else None
        ),
        "Ready=False, reason ProviderUnavailable",
    )
    assert condition(obj, "Ready")["status"] == "False"
    assert "podman" in obj["status"]["message"]
    assert obj["status"]["phase"] == "Provisioning"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]

    kubectl.run("-n", org, "delete", "workspace", "waiting", "--wait=false")
    obj = eventually(
        lambda: (
            found
            if (found := kubectl.workspace(org, "waiting"))["status"].get("phase") == "Deleting"
            else None
        ),
        "phase Deleting",
    )
    assert "wws.dev/workspace-cleanup" in obj["metadata"]["finalizers"]
    assert obj["status"]["message"].startswith("deleting: ")
    assert any(e["reason"] == "DeleteFailed" for e in events(kubectl, org, "waiting"))

    # Podman is back: the deletion finishes without anyone's help.
    blind.stop()
    healthy = Controller(store, tmp_path / "healthy", podman_service.socket_path)
    healthy.folder.mkdir()
    healthy.start()
    try:
        eventually(
            lambda: (
                kubectl.run("-n", org, "get", "workspace", "waiting", check=False).returncode != 0
            ),
            "the workspace to be gone",
        )
    finally:
        healthy.stop()
        kubectl.run("delete", "namespace", org, "--wait=false", check=False)
