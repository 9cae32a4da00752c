"""Fixtures shared by every layer of tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.storeproc import REPO, StoreProcess


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
