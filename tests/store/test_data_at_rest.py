"""Data at rest (issue 8): the data directory is private; Secrets can be encrypted; deleted
Secrets do not outlive the history window in the database file."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

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


# ------------------------------------------------------------------------ encryption at rest

MARKER = b"correct-horse-battery-staple-0123456789"  # 39 bytes: whole base64 groups
MARKER_B64 = base64.b64encode(MARKER)
KEY1 = base64.b64encode(bytes(range(32))).decode()
KEY2 = base64.b64encode(bytes(range(100, 132))).decode()


def _raw(data_dir: Path) -> bytes:
    """The database files as another local user with read access would see them."""
    return b"".join(
        path.read_bytes()
        for path in (data_dir / "store.db", data_dir / "store.db-wal")
        if path.exists()
    )


def _config(path: Path, providers: list[dict[str, object]]) -> Path:
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": providers}],
    }
    path.write_text(yaml.safe_dump(document))
    os.chmod(path, 0o600)
    return path


AESGCM_KEY1: dict[str, object] = {"aesgcm": {"keys": [{"name": "key1", "secret": KEY1}]}}
SECRETBOX_KEY2: dict[str, object] = {"secretbox": {"keys": [{"name": "key2", "secret": KEY2}]}}
IDENTITY: dict[str, object] = {"identity": {}}


def _secret(api: Api, name: str) -> dict[str, Any]:
    return api.get_json(f"/api/v1/namespaces/default/secrets/{name}")


def test_secrets_are_encrypted_at_rest_and_keys_rotate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Written in plain first: adding the configuration encrypts what is there.
    store = StoreProcess(data_dir).start()
    api = Api(store)
    try:
        api.create(
            "/api/v1/namespaces/default/secrets",
            {"metadata": {"name": "old"}, "data": {"v": MARKER_B64.decode()}},
        )
    finally:
        api.close()
        store.stop()
    assert MARKER_B64 in _raw(data_dir)

    config = _config(tmp_path / "enc.yaml", [AESGCM_KEY1, IDENTITY])
    store.extra_args = ("--encryption-provider-config", str(config))
    store.start()
    api = Api(store)
    try:
        api.create(
            "/api/v1/namespaces/default/secrets",
            {"metadata": {"name": "new"}, "data": {"v": MARKER_B64.decode()}},
        )
        api.create(
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "plain"}, "data": {"v": "configmaps-stay-plain"}},
        )
        assert _secret(api, "new")["data"]["v"] == MARKER_B64.decode()
        assert _secret(api, "old")["data"]["v"] == MARKER_B64.decode()
        raw = _raw(data_dir)
        assert MARKER_B64 not in raw
        assert b"k8s:enc:aesgcm:v1:key1:" in raw
        assert b"configmaps-stay-plain" in raw
    finally:
        api.close()
        store.stop()

    # Rotation: the new key first (it writes), the old one after (it reads).
    _config(config, [SECRETBOX_KEY2, AESGCM_KEY1, IDENTITY])
    store.start()
    store.stop()
    raw = _raw(data_dir)
    assert b"k8s:enc:secretbox:v1:key2:" in raw
    assert b"k8s:enc:aesgcm:v1:key1:" not in raw  # re-encrypted at start
    # So the old key can go.
    _config(config, [SECRETBOX_KEY2])
    store.start()
    api = Api(store)
    try:
        assert _secret(api, "new")["data"]["v"] == MARKER_B64.decode()
        assert _secret(api, "old")["data"]["v"] == MARKER_B64.decode()
    finally:
        api.close()
        store.stop()

    # Without the key, the store does not start and says why.
    store.extra_args = ()
    with pytest.raises(RuntimeError, match="encryption-provider-config"):
        store.start()
    store.stop()
    _config(config, [{"aesgcm": {"keys": [{"name": "key1", "secret": KEY1}]}}])
    store.extra_args = ("--encryption-provider-config", str(config))
    with pytest.raises(RuntimeError, match="secretbox:v1:key2"):
        store.start()
    store.stop()


def test_the_encryption_configuration_must_be_private_and_valid(tmp_path: Path) -> None:
    config = _config(tmp_path / "enc.yaml", [AESGCM_KEY1])
    os.chmod(config, 0o644)
    store = StoreProcess(
        tmp_path / "data", extra_args=("--encryption-provider-config", str(config))
    )
    with pytest.raises(RuntimeError, match="chmod 600"):
        store.start()
    store.stop()
    _config(config, [{"aesgcm": {"keys": [{"name": "k", "secret": "c2hvcnQ="}]}}])
    with pytest.raises(RuntimeError, match=r"providers\[0\]\.aesgcm\.keys\[0\]\.secret"):
        store.start()
    store.stop()
    _config(config, [{"kms": {"name": "x"}}])
    with pytest.raises(RuntimeError, match="kms: Unsupported value"):
        store.start()
    store.stop()


# ------------------------------------------------------------------------ compaction


def test_a_deleted_secret_leaves_the_files_with_the_history_window(tmp_path: Path) -> None:
    store = StoreProcess(tmp_path / "data", env={"WWS_STORE_HISTORY_WINDOW": "50"}).start()
    api = Api(store)
    try:
        path = "/api/v1/namespaces/default/secrets"
        api.create(path, {"metadata": {"name": "gone"}, "data": {"v": MARKER_B64.decode()}})
        assert MARKER_B64 in _raw(store.data_dir)
        assert api.delete(f"{path}/gone").status_code == 200
        # Past the history window (50 revisions) and the compaction that follows it.
        maps = "/api/v1/namespaces/default/configmaps"
        api.create(maps, {"metadata": {"name": "tick"}, "data": {"n": "0"}})
        for number in range(1, 160):
            assert api.patch(f"{maps}/tick", {"data": {"n": str(number)}}).status_code == 200
        assert MARKER_B64 not in _raw(store.data_dir)
    finally:
        api.close()
        store.stop()
