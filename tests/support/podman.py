"""A real Podman for tests: the podman CLI with WWS's configuration, and the session fixtures
(data dir, API service, workspace image) that tests/podman, tests/workspace and
tests/controller share. Registered once as a plugin by tests/conftest.py.

The data dir is ``$WWS_TEST_DATA_DIR`` (default ``<repo>/.data/test``) and outlives the run,
so the debootstrap package tarball is downloaded once per machine; the image itself lives in
Podman's storage and is rebuilt only when ``images/workspace`` changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from images.build import image as imagebuild
from providers import base
from providers.podman import service

REPO = Path(__file__).resolve().parents[2]

Factory = Callable[..., base.DesiredWorkspace]


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The podman CLI with WWS's containers.conf (for checks the provider does not offer)."""
    return subprocess.run(
        ["podman", *args],
        env=service.podman_env(),
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("WWS_TEST_DATA_DIR") or REPO / ".data" / "test").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def podman_ready() -> None:
    """Skip (with the reason) only when Podman truly cannot run on this machine."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (bash deploy/host-setup.sh installs it)")
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip()[:300]}")


@pytest.fixture(scope="session")
def podman_service(podman_ready: None, data_dir: Path) -> Iterator[service.Service]:
    svc = service.ensure_service(socket_path=service.default_socket(data_dir))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def workspace_image(podman_ready: None, data_dir: Path) -> str:
    """The default workspace image, built (or found up to date) once per session; tagged
    ``$WWS_TEST_IMAGE`` when set (two checkouts with different recipes then keep out of
    each other's way on one Podman)."""
    image = os.environ.get("WWS_TEST_IMAGE") or imagebuild.IMAGE
    return imagebuild.ensure_image(data_dir, image=image).image
