"""The store's credentials: a bearer token and the kubeconfig that carries it (TLS: tls.py)."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import yaml


def _write_private(path: Path, data: bytes) -> None:
    """Write a file that only the owner may read, never briefly world-readable, and never
    seen half-written (a client reading the kubeconfig while the store starts): written
    beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def load_or_create_token(data_dir: Path) -> str:
    path = data_dir / "token"
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    _write_private(path, token.encode() + b"\n")
    return token


def write_kubeconfig(
    path: Path, *, server: str, token: str, ca: Path | None, user: str = "wws-admin"
) -> None:
    cluster: dict[str, object] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "wws", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "wws",
                "context": {"cluster": "wws", "user": user, "namespace": "default"},
            }
        ],
        "current-context": "wws",
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
