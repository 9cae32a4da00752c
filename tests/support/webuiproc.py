"""Run the real ``wws webui serve`` as a subprocess signing people in through the GitHub
stand-in: for tests that need the UI behind a real HTTP server (event streams, a browser,
the store trusting the UI as its OIDC issuer). tests/webui's handler tests use Starlette's
TestClient instead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.names import free_port
from tests.support.storeproc import REPO
from tests.support.waiting import eventually


@dataclass
class WebUIProcess:
    kubeconfig: Path
    folder: Path
    github_url: str
    extra_args: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "webui.log"

    def start(self) -> WebUIProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "id").write_text("wws")
        (self.folder / "secret").write_text("dev")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wws.cli", "webui", "serve",
                 "--kubeconfig", str(self.kubeconfig), "--listen", f"127.0.0.1:{self.port}",
                 "--github-url", self.github_url,
                 "--github-client-id-file", str(self.folder / "id"),
                 "--github-client-secret-file", str(self.folder / "secret"),
                 *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        eventually(self._answers, "the web UI", timeout=30)
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log_path.read_text()[-3000:]
        try:
            return httpx.get(self.url + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, *, log_tail: int = 4000) -> None:
        """Stop it; the end of its log is printed (pytest shows it when the test failed)."""
        if self.log_path.exists():
            print(self.log_path.read_text()[-log_tail:])
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
