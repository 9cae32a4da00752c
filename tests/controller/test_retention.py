"""Issue 14: home retention end to end (kubectl → store → kopf → Podman): a deleted
workspace's home is kept for spec.home.retention (listed in the Organization's status), a
re-created workspace of the same name and owner gets its files back (also across a
controller restart), and after the window the home is gone."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.controller.conftest import Controller
from tests.controller.test_workspaces import container_of, events, sh, workspace_yaml
from tests.support.kubectl import Kubectl
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def retained(kubectl: Kubectl, org: str) -> dict[str, dict[str, Any]]:
    status = kubectl.json("get", "organization", org).get("status") or {}
    return {home["workspace"]: home for home in status.get("retainedHomes", [])}


def gone(kubectl: Kubectl, org: str, name: str) -> bool:
    return kubectl.run("-n", org, "get", "workspace", name, check=False).returncode != 0


def test_retained_home_comes_back_then_expires(
    kubectl: Kubectl, org: str, controller: Controller
) -> None:
    kubectl.apply(workspace_yaml(org, "keeper", home="{retention: 1h}"))
    obj = kubectl.wait_ready(org, "keeper", timeout=90)
    sh(container_of(obj), "echo precious > /home/notes.txt")
    kubectl.run("-n", org, "delete", "workspace", "keeper", "--timeout=90s")
    home = eventually(lambda: retained(kubectl, org).get("keeper"), "the retained home listed")
    assert home["owner"] == "alice" and home["expiresAt"] > home["deletedAt"]
    described = kubectl.run("describe", "organization", org).stdout
    assert "Retained Homes" in described and "keeper" in described

    # The controller restarts in the middle; the re-created workspace gets its home back.
    controller.kill()
    controller.start()
    kubectl.apply(workspace_yaml(org, "keeper", home="{retention: 1h}"))
    obj = kubectl.wait_ready(org, "keeper", timeout=90)
    assert sh(container_of(obj), "cat /home/notes.txt") == "precious\n"
    assert "HomeRestored" in {event["reason"] for event in events(kubectl, org, "keeper")}
    eventually(lambda: "keeper" not in retained(kubectl, org), "the listing emptied")

    # A short window: after it, the home is removed and a re-created workspace starts empty.
    kubectl.apply(workspace_yaml(org, "brief", home="{retention: 3s}"))
    obj = kubectl.wait_ready(org, "brief", timeout=90)
    sh(container_of(obj), "echo fleeting > /home/notes.txt")
    kubectl.run("-n", org, "delete", "workspace", "brief", "--timeout=90s")
    assert gone(kubectl, org, "brief")
    time.sleep(4)
    eventually(lambda: "brief" not in retained(kubectl, org), "the expired home removed")
    kubectl.apply(workspace_yaml(org, "brief", home="{retention: 3s}"))
    obj = kubectl.wait_ready(org, "brief", timeout=90)
    assert sh(container_of(obj), "test -e /home/notes.txt && echo there || echo absent") == (
        "absent\n"
    )
