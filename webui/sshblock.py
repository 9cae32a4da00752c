"""The ``~/.ssh/config`` block and the desktop-editor links of a workspace page.

The same block as ``wws ssh-config NAMESPACE/NAME`` prints (docs/operations.md): the host
alias ``wws-<namespace>-<name>`` pinned as ``HostKeyAlias``, so known_hosts remembers the
workspace's key under its name while the host port may change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def host_alias(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"wws-{metadata.get('namespace', '')}-{metadata.get('name', '')}"


def render(obj: dict[str, Any], *, public_host: str) -> str:
    """The block, or "" while the workspace has no SSH endpoint."""
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    endpoints = (obj.get("status") or {}).get("endpoints") or {}
    host, port = endpoints.get("sshHost"), endpoints.get("sshPort")
    if not host or not port or not (spec.get("editors") or {}).get("ssh", True):
        return ""
    if host in ("127.0.0.1", "0.0.0.0", "::"):
        # NB: published on the UI's machine: reach it by the name the browser used.
        host = public_host if host != "127.0.0.1" else host
    alias = host_alias(obj)
    namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
    return (
        f"# WWS workspace {namespace}/{name} (wws ssh-config {namespace}/{name})\n"
        f"Host {alias}\n"
        f"  HostName {host}\n"
        f"  Port {port}\n"
        f"  User {str(spec.get('owner', '')).lower()}\n"
        f"  HostKeyAlias {alias}\n"
    )


def editor_links(obj: dict[str, Any]) -> dict[str, str]:
    """Links that open the workspace over SSH in desktop editors (after the block is in
    ``~/.ssh/config``)."""
    alias = host_alias(obj)
    owner = str((obj.get("spec") or {}).get("owner", "")).lower()
    folder = f"/home/{owner}"
    return {
        "VS Code": f"vscode://vscode-remote/ssh-remote+{alias}{folder}",
        "Cursor": f"cursor://vscode-remote/ssh-remote+{alias}{folder}",
        "JetBrains Gateway": (
            "jetbrains-gateway://connect#type=ssh&deploy=false"
            f"&host={quote(alias)}&port=22&user={quote(owner)}&projectPath={quote(folder)}"
        ),
    }
