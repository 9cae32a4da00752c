"""Fixtures of the controller tests: everything real, one of each per module.

- the embedded store (a subprocess, HTTPS, WWS's CRDs applied);
- Podman's API service and the workspace image (shared with tests/podman: same data dir,
  same session fixtures);
- the controller as users run it: ``python -m wws.cli controller run --kubeconfig ...
  --resync 5`` in a subprocess, killed and restarted by the tests that need it;
- kubectl, the pinned dev dependency, with a fresh cache dir.

Every test keeps to an organization (namespace) of its own, so tests never see each other's
workspaces; everything a module made is deleted at its end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from providers.podman import naming, service
from tests.support.kubectl import PINNED, Kubectl
from tests.support.names import free_port, unique
from tests.support.podman import podman
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually

#: The ClusterRoles and admission policies WWS ships (the controller runs with only these).
SHIPPED_MANIFESTS = (REPO / "deploy" / "controller", REPO / "deploy" / "access")
RESYNC = 5.0


@dataclass
class Controller:
    """``wws controller run`` in a subprocess, as users start it."""

    store: StoreProcess
    folder: Path
    socket_path: Path
    health: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    process: subprocess.Popen[bytes] | None = None
    resync: float = RESYNC

    @property
    def log_path(self) -> Path:
        return self.folder / "controller.log"

    def start(self, *, wait_ready: bool = True) -> Controller:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WWS_PODMAN_SOCKET": str(self.socket_path),
            "WWS_DATA_DIR": str(self.folder / "data"),
        }
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wws.cli",
                    "controller",
                    "run",
                    "--kubeconfig",
                    # NB: the controller's own identity, with only what deploy/ grants it.
                    str(self.store.kubeconfig_of("controller")),
                    "--resync",
                    str(self.resync),
                    "--health-listen",
                    self.health,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        if wait_ready:
            eventually(self.ready, "the controller's /readyz", timeout=30)
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.health}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return 0, str(error)

    def ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            pytest.fail(f"the controller exited:\n{self.log()}")
        return self.get("/readyz")[0] == 200

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the controller did not stop on SIGTERM:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-8000:] if self.log_path.exists() else ""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    process = StoreProcess(
        tmp_path_factory.mktemp("store"),
        crds_dir=REPO / "crds",
        manifests_dirs=SHIPPED_MANIFESTS,
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def controller(
    store: StoreProcess,
    podman_service: service.Service,
    workspace_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Controller]:
    running = Controller(store, tmp_path_factory.mktemp("controller"), podman_service.socket_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def kubectl(store: StoreProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kubectl")
    return Kubectl(binary=PINNED, kubeconfig=store.kubeconfig, cache_dir=home / "cache", version="")


@pytest.fixture
def org(kubectl: Kubectl, controller: Controller) -> Iterator[str]:
    """A fresh Organization (and so namespace) for one test; its workspaces are deleted
    (through the controller) at the end, and whatever is left in Podman is reported."""
    name = unique("org")
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {name}}}
spec:
  members: [{{user: alice, role: owner}}]
"""
    )
    eventually(
        lambda: kubectl.run("get", "namespace", name, check=False).returncode == 0,
        f"namespace {name}",
    )
    yield name
    kubectl.run("-n", name, "delete", "workspaces", "--all", "--timeout=60s", check=False)
    kubectl.run("delete", "organization", name, "--timeout=30s", check=False)
    containers = labelled("container", namespace=name)
    volumes = labelled("volume", namespace=name)
    if containers:
        podman("rm", "-f", "-t", "0", *containers, check=False)
    if volumes:
        podman("volume", "rm", "-f", *volumes, check=False)
    assert not containers and not volumes, f"left behind in Podman: {containers} {volumes}"


def labelled(kind: str, **labels: str) -> list[str]:
    """Names of the Podman containers or volumes carrying the WWS labels given."""
    keys = {"namespace": naming.LABEL_NAMESPACE, "name": naming.LABEL_NAME, "uid": naming.LABEL_UID}
    filters: list[str] = []
    for key, value in labels.items():
        filters += ["--filter", f"label={keys[key]}={value}"]
    if kind == "container":
        out = podman("ps", "-a", *filters, "--format", "{{.Names}}").stdout
    else:
        out = podman("volume", "ls", *filters, "--format", "{{.Name}}").stdout
    return [line for line in out.splitlines() if line.strip()]


def inspect(container: str) -> dict[str, Any]:
    result: list[dict[str, Any]] = json.loads(podman("container", "inspect", container).stdout)
    return result[0]
