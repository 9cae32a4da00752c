"""Fixtures of the access tests: the embedded store, the controller, kubectl, the GitHub
stand-in; every one real and in its own process, one of each per module.

These tests look at who may do what with Workspace objects, not at containers (the
controller still makes them, on a Podman service it starts itself; see
tests/support/controllerproc.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.controllerproc import ControllerProcess
from tests.support.devgithub import DevGitHub
from tests.support.kubectl import PINNED, Kubectl
from tests.support.names import unique
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from wws import manifests


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    folder = tmp_path_factory.mktemp("store")
    process = StoreProcess(
        folder,
        crds_dir=REPO / "crds",
        extra_args=(
            "--audit-log-path",
            str(folder / "audit.log"),
            "--audit-policy-file",
            str(REPO / "deploy" / "audit-policy.yaml"),
        ),
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def controller(
    store: StoreProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    # NB: the shipped roles first, as wws up applies them; then the controller runs as
    # itself (wws:controller), with exactly deploy/controller and deploy/access.
    assert manifests.apply(store.kubeconfig, manifests.documents(manifests.SHIPPED)) == []
    running = ControllerProcess(
        store.kubeconfig_of("controller"), tmp_path_factory.mktemp("controller")
    ).start()
    try:
        yield running
    finally:
        running.tidy(store)
        running.stop()


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevGitHub]:
    process = DevGitHub(tmp_path_factory.mktemp("devgithub")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def kubectl(store: StoreProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """The pinned kubectl with the store's admin kubeconfig."""
    home = tmp_path_factory.mktemp("kubectl")
    return Kubectl(binary=PINNED, kubeconfig=store.kubeconfig, cache_dir=home / "cache", version="")


def apply(kubectl: Kubectl, manifest: str) -> None:
    kubectl.run("apply", "-f", "-", stdin=manifest)


def get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl.out("get", *args, "-o", "json")))


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for found in obj.get("status", {}).get("conditions", []):
        if found["type"] == type_:
            return dict(found)
    return {}


@pytest.fixture
def org(kubectl: Kubectl, controller: ControllerProcess) -> Iterator[str]:
    """A fresh Organization: alice owner, bob and carol members; its namespace exists."""
    name = unique("acme")
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {name}}}
spec:
  members: [{{user: alice, role: owner}}, {{user: bob}}, {{user: carol}}]
""",
    )
    eventually(
        lambda: kubectl.run("get", "namespace", name, check=False).returncode == 0,
        f"namespace {name}",
    )
    yield name
    kubectl.run("delete", "organization", name, "--timeout=30s", check=False)


def audit_events(store: StoreProcess) -> list[dict[str, Any]]:
    """The store's audit log (audit.k8s.io/v1 Events, one JSON object a line)."""
    path = store.data_dir / "audit.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]
