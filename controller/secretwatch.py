"""Following Secrets instead of reading them per workspace: a Secret that a workspace reads
(``spec.github.tokenSecretRef``'s, ``<workspace>-code-server``) and that changed, appeared
or went asks for a closer look at that workspace with its Secrets read again, so a rotated
token reaches the workspace within seconds and an unchanged one costs nothing.

Versions the controller has read or written itself (and every Secret listed at start, which
the start's reconciles read anyway) are remembered, so the events of its own writes and of
the initial listing change nothing.
"""

from __future__ import annotations

from typing import Any

import kopf

from controller import checks
from controller.context import Context


async def secret_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    """Every watch event of a Secret (never logged: it holds the values)."""
    ctx = memo
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    key = (namespace, name)
    version = str(metadata.get("resourceVersion") or "")
    kind = kwargs.get("type")
    if kind is None:  # NB: kopf's initial listing
        ctx.secret_versions[key] = version
        return
    if kind == "DELETED":
        ctx.secret_versions.pop(key, None)
    elif ctx.secret_versions.get(key) == version:
        return
    else:
        ctx.secret_versions[key] = version
    for uid, cached in list(ctx.workspaces.items()):
        if cached.namespace == namespace and name in cached.secrets:
            ctx.checks.put(uid, checks.SECRET)
