"""Run the real ``wws controller run`` as a subprocess for tests of who may do what with
objects (tests/access, tests/webui). ``WWS_PODMAN_SOCKET`` names a socket in the test's folder;
the Podman provider starts a ``podman system service`` there itself, so workspaces do become
containers on the machine's Podman (hence :meth:`ControllerProcess.tidy`). tests/controller's
``Controller`` runs it with a Podman service of its own making."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.names import free_port
from tests.support.storeproc import REPO, StoreProcess

_GROUP = "/apis/wws.dev/v1alpha1"


@dataclass
class ControllerProcess:
    kubeconfig: Path
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    health: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.health}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    @property
    def log_path(self) -> Path:
        return self.folder / "controller.log"

    def start(self) -> ControllerProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WWS_PODMAN_SOCKET": str(self.folder / "no-podman.sock"),
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
                    str(self.kubeconfig),
                    "--resync",
                    "5",
                    "--health-listen",
                    self.health,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        return self

    def tidy(self, store: StoreProcess, timeout: float = 90) -> None:
        """Delete every Workspace, then every Organization, and wait for the controller to
        finish: its Podman is the machine's, so a module that stops it with workspaces still
        running leaves their containers, homes and networks behind (and each takes one of
        Podman's 2,048 locks). A warning, not a failure, if it does not finish in time."""
        if self.process is None or self.process.poll() is not None:
            return
        with httpx.Client(
            base_url=store.url,
            headers={"Authorization": f"Bearer {store.token}"},
            verify=store.ssl_context(),
            timeout=30,
        ) as client:
            for plural in ("workspaces", "organizations"):
                items = client.get(f"{_GROUP}/{plural}").json().get("items", [])
                for item in items:
                    meta = item["metadata"]
                    where = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
                    client.delete(f"{_GROUP}{where}/{plural}/{meta['name']}")
                deadline = time.monotonic() + timeout
                while client.get(f"{_GROUP}/{plural}").json().get("items"):
                    if time.monotonic() > deadline:
                        warnings.warn(f"{plural} left after {timeout:.0f} s", stacklevel=2)
                        return
                    time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text()[-6000:] if self.log_path.exists() else ""
