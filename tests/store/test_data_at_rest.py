"""Data at rest (issue 8): the data directory is private; Secrets can be encrypted; deleted
Secrets do not outlive the history window in the database file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kubeapi import Api
from tests.support.storeproc import StoreProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def old_layout(tmp_path: Path) -> Iterator[StoreProcess]:
    """A data directory as an older version (or a careless umask) left it: 0755 and 0644."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "notes.txt").write_text("left by someone\n")
    os.chmod(data_dir / "notes.txt", 0o644)
    process = StoreProcess(data_dir)
    try:
        yield process
    finally:
        process.stop()


def test_data_directory_is_0700_and_every_file_0600(old_layout: StoreProcess) -> None:
    store = old_layout.start()
    api = Api(store)
    try:
        api.create(
            "/api/v1/namespaces/default/secrets",
            {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}},
        )
    finally:
        api.close()
    data_dir = store.data_dir
    assert _mode(data_dir) == 0o700
    names = {p.name for p in data_dir.rglob("*") if p.is_file()}
    assert {"store.db", "store.db-wal", "store.db-shm", "token", "kubeconfig"} <= names
    for path in data_dir.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, (path, oct(_mode(path)))
    log = store.log_path.read_text()
    assert "store.mode_tightened" in log
    assert "notes.txt" in log
