"""Run the real ``wws store serve`` as a subprocess, as users and CI do."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class StoreProcess:
    data_dir: Path
    crds_dir: Path | None = None
    listen: str = "127.0.0.1:0"
    #: Extra environment variables for the server (e.g. WWS_STORE_BOOKMARK_INTERVAL).
    env: dict[str, str] | None = None
    #: ``--authentication-config`` (JWT issuers), ``--manifests`` (RBAC objects, policies).
    authentication_config: Path | None = None
    manifests_dirs: tuple[Path, ...] = ()
    #: Extra ``wws store serve`` arguments (audit flags, ...).
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "store.log"

    def config(self) -> dict[str, object]:
        return yaml.safe_load(self.kubeconfig.read_text())  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        return str(self.config()["clusters"][0]["cluster"]["server"])  # type: ignore[index]

    @property
    def token(self) -> str:
        return str(self.config()["users"][0]["user"]["token"])  # type: ignore[index]

    def kubeconfig_of(self, identity: str) -> Path:
        """The kubeconfig of a WWS identity: ``admin``, ``controller`` or ``webui``."""
        return self.data_dir / ("kubeconfig" if identity == "admin" else f"{identity}.kubeconfig")

    def token_of(self, username: str) -> str:
        """A user's token in the store's static token file (``wws:controller``, ...)."""
        for line in (self.data_dir / "tokens.csv").read_text().splitlines():
            token, user, *_ = line.split(",")
            if user == username:
                return token
        raise KeyError(username)

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def start(self, timeout: float = 30.0) -> StoreProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()
        command = [
            sys.executable,
            "-m",
            "wws.cli",
            "store",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            self.listen,
        ]
        if self.crds_dir is not None:
            command += ["--crds", str(self.crds_dir)]
        if self.authentication_config is not None:
            command += ["--authentication-config", str(self.authentication_config)]
        for folder in self.manifests_dirs:
            command += ["--manifests", str(folder)]
        command += list(self.extra_args)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **(self.env or {})},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"store exited: {self.log_path.read_text()[-3000:]}")
            if self.kubeconfig.exists():
                try:
                    with urllib.request.urlopen(
                        self.url + "/readyz", context=self.ssl_context(), timeout=2
                    ) as response:
                        if response.status == 200 and self._applied():
                            return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"store did not become ready: {self.log_path.read_text()[-3000:]}")

    def _applied(self) -> bool:
        """The CRDs of --crds are applied once the 'store.serving' line is logged."""
        return "store.serving" in self.log_path.read_text()[-20000:]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
