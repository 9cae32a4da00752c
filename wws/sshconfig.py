"""``wws ssh-config NAMESPACE/NAME``: a ``~/.ssh/config`` block for a running workspace.

Desktop editors (VS Code Remote-SSH, JetBrains Gateway) and plain ``ssh`` connect to a
host name of the config file::

    wws ssh-config acme/alice-api >> ~/.ssh/config
    ssh wws-acme-alice-api

The block names the workspace's SSH endpoint from its status (``status.endpoints``: host,
port, the owner's Linux user) and pins ``HostKeyAlias wws-<namespace>-<name>``, so
``known_hosts`` remembers the workspace's host key under its name rather than under
``[127.0.0.1]:<port>``: the key stays the same across stop/start and re-creation (it lives
in the home), while the host port may not.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api import meta
from api.workspace import Workspace
from reconcilers import workspace as reconciler

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SSHConfigError(RuntimeError):
    """Why no block can be printed, in one line."""


def host_alias(namespace: str, name: str) -> str:
    return f"wws-{namespace}-{name}"


def parse_target(target: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` → (namespace, name)."""
    namespace, slash, name = target.partition("/")
    if not slash or not _NAME.match(namespace) or not _NAME.match(name):
        raise SSHConfigError(f"expected NAMESPACE/NAME (e.g. acme/alice-api), got {target!r}")
    return namespace, name


def render(obj: dict[str, Any], *, identity_file: str | None = None) -> str:
    """The ``~/.ssh/config`` block of a Workspace object, or :class:`SSHConfigError`."""
    ws = Workspace.model_validate(obj)
    namespace, name = ws.metadata.namespace or "", ws.metadata.name
    where = f"workspace {namespace}/{name}"
    if not ws.spec.editors.ssh:
        raise SSHConfigError(f"{where} has SSH turned off (spec.editors.ssh: false)")
    endpoints = ws.status.endpoints
    running = meta.find_condition(ws.status.conditions, reconciler.CONTAINER_READY)
    if (
        not ws.spec.running
        or running is None
        or running.status != meta.ConditionStatus.TRUE
        or not endpoints.ssh_host
        or not endpoints.ssh_port
    ):
        phase = ws.status.phase or "unknown"
        raise SSHConfigError(f"{where} is not running (phase {phase})")
    alias = host_alias(namespace, name)
    lines = [
        f"# WWS workspace {namespace}/{name} (wws ssh-config {namespace}/{name})",
        f"Host {alias}",
        f"  HostName {endpoints.ssh_host}",
        f"  Port {endpoints.ssh_port}",
        f"  User {reconciler.linux_user(ws.spec)}",
        f"  HostKeyAlias {alias}",
    ]
    if identity_file:
        lines += [f"  IdentityFile {identity_file}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n"


def fetch(namespace: str, name: str, *, kubeconfig: Path | None) -> dict[str, Any]:
    """The Workspace object from the API server that ``kubeconfig`` names."""
    from controller import kubeapi, login

    credentials = login.load(kubeconfig)
    path = kubeapi.custom_path(Workspace, namespace=namespace, name=name)
    request = urllib.request.Request(
        credentials.server + path,
        headers={"Accept": "application/json", **credentials.headers()},
    )
    try:
        with urllib.request.urlopen(
            request, context=credentials.ssl_context(), timeout=30
        ) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise SSHConfigError(f"workspace {namespace}/{name} not found") from None
        raise SSHConfigError(
            f"workspace {namespace}/{name}: the API server answered HTTP {error.code}"
        ) from None
    except OSError as error:
        raise SSHConfigError(f"cannot reach the API server {credentials.server}: {error}") from None


def main(*, target: str, kubeconfig: Path | None, identity_file: str | None) -> int:
    """The entry point of ``wws ssh-config``."""
    from controller import login

    try:
        namespace, name = parse_target(target)
        obj = fetch(namespace, name, kubeconfig=kubeconfig)
        sys.stdout.write(render(obj, identity_file=identity_file))
    except (SSHConfigError, login.LoginError) as error:
        print(f"wws ssh-config: {error}", file=sys.stderr)
        return 1
    return 0
