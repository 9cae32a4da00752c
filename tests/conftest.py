"""Fixtures shared by every layer of tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.devgithub import DevGitHub
from tests.support.storeproc import REPO, StoreProcess

# The session's Podman (data dir, API service, workspace image) for every layer that needs it.
pytest_plugins = ["tests.support.podman"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreProcess]:
    """A fresh embedded store (real process, real HTTPS) with WWS's CRDs applied."""
    crds = REPO / "crds"
    has_crds = crds.is_dir() and any(crds.glob("*.yaml"))
    process = StoreProcess(tmp_path / "store", crds_dir=crds if has_crds else None).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def dev_github(tmp_path: Path) -> Iterator[DevGitHub]:
    """The GitHub stand-in (real process, real HTTP) serving tests/support/devgithub_users.yaml;
    change its people with its admin helpers or by editing ``dev_github.users_file``."""
    process = DevGitHub(tmp_path / "devgithub").start()
    try:
        yield process
    finally:
        process.stop()
