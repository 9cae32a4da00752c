"""Run the real ``wws controller run`` as a subprocess, without Podman (``WWS_PODMAN_SOCKET``
names nothing): for tests of who may do what with objects, not of containers (tests/access,
tests/webui). tests/controller's ``Controller`` runs it with Podman."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.names import free_port
from tests.support.storeproc import REPO


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
