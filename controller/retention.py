"""Home retention (``spec.home.retention``): a deleted workspace's home is kept that long, and
a workspace re-created with the same namespace, name and owner inside the window gets it
back.

- :func:`keep` (from the delete handler, before the provider deletes): the workspace is
  stopped and its home copied exactly (the provider's ``export_home``, as a provider switch
  does) into ``<data dir>/retained-homes/<namespace>/<name>/home``, with ``retained.json``
  (owner, uid, deletedAt, expiresAt, bytes). A copy on the controller's host outlives the
  provider's objects, controller restarts and a re-created namespace alike;
- :func:`restore` (from a reconcile of a workspace that never had a home): a retained home
  of the same namespace, name and owner, not expired, becomes its home (``import_home``)
  before it is first started; the folder is then removed (event HomeRestored);
- :func:`sweep` (every organizations' refresh): expired homes are removed (logged); the rest
  are listed for the Organization's ``status.retainedHomes`` and counted against its storage
  quota (:class:`reconcilers.quota.Index`).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
from pathlib import Path
from typing import Any

import kopf

from api import times, units
from api.organization import RetainedHome
from api.workspace import Workspace
from controller.context import Context, bound
from providers import base
from reconcilers import workspace
from wws import logconfig

log = logconfig.get(__name__)

META = "retained.json"


def root(ctx: Context) -> Path:
    return ctx.providers.settings.data_dir / "retained-homes"


def _folder(ctx: Context, namespace: str, name: str) -> Path:
    return root(ctx) / namespace / name


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(folder, file)).st_blocks * 512
            except OSError:
                continue
    return total


def retention_of(spec: Any) -> datetime.timedelta | None:
    value = ((spec or {}).get("home") or {}).get("retention")
    if not value:
        return None
    try:
        found = units.parse_duration(str(value))
    except ValueError:
        return None
    return found if found > datetime.timedelta(0) else None


async def keep(
    ctx: Context, provider: base.Provider, ref: base.WorkspaceRef, body: kopf.Body
) -> None:
    """Copy the home aside for ``spec.home.retention`` (see the module docstring)."""
    spec = body.get("spec") or {}
    retention = retention_of(spec)
    if retention is None:
        return
    observed = await asyncio.wait_for(provider.observe(ref), ctx.call_timeout)
    if not observed.home_exists:
        return
    folder = _folder(ctx, ref.namespace, ref.name)
    work = folder.with_name(f".{ref.name}.{ref.uid}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    await asyncio.wait_for(provider.stop(ref), ctx.call_timeout)
    await provider.export_home(ref, work / "home")
    now = datetime.datetime.now(datetime.UTC)
    meta = {
        "namespace": ref.namespace,
        "name": ref.name,
        "owner": str(spec.get("owner") or "").lower(),
        "uid": ref.uid,
        "provider": provider.name,
        "deletedAt": workspace.iso(now),
        "expiresAt": workspace.iso(now + retention),
        "bytes": _size(work / "home"),
    }
    (work / META).write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    bound(body, "Workspace").info(
        "home retained", until=meta["expiresAt"], bytes=meta["bytes"], folder=str(folder)
    )


def _meta(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _expired(meta: dict[str, Any], now: datetime.datetime) -> bool:
    until = times.parse_time(meta.get("expiresAt"))
    return until is None or until <= now


async def restore(ctx: Context, provider: base.Provider, ws: Workspace, body: kopf.Body) -> bool:
    """Give a new workspace the retained home of its namespace, name and owner; True when
    it did."""
    folder = _folder(ctx, ws.metadata.namespace or "", ws.metadata.name)
    meta = _meta(folder) if folder.is_dir() else None
    if meta is None or meta.get("owner") != ws.spec.owner.lower():
        return False
    if _expired(meta, datetime.datetime.now(datetime.UTC)):
        return False
    ref = workspace.ref_of(ws)
    size = int(units.parse_quantity(ws.spec.home.size))
    await provider.import_home(ref, folder / "home", size_bytes=size)
    shutil.rmtree(folder, ignore_errors=True)
    message = (
        f"the home of {ws.metadata.name} deleted at {meta.get('deletedAt')} (kept until"
        f" {meta.get('expiresAt')}) is this workspace's home again"
    )
    bound(body, "Workspace").info("home restored", deleted_at=meta.get("deletedAt"))
    kopf.info(body, reason="HomeRestored", message=message)
    return True


def sweep(ctx: Context) -> dict[str, list[RetainedHome]]:
    """Remove expired homes; the others by namespace (and their bytes into the account)."""
    now = datetime.datetime.now(datetime.UTC)
    listed: dict[str, list[RetainedHome]] = {}
    base_folder = root(ctx)
    if not base_folder.is_dir():
        ctx.quotas.retained = {}
        return listed
    for namespace_dir in base_folder.iterdir():
        if not namespace_dir.is_dir():
            continue
        for folder in namespace_dir.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            meta = _meta(folder)
            if meta is None:
                continue
            if _expired(meta, now):
                shutil.rmtree(folder, ignore_errors=True)
                log.info(
                    "retained home removed: its window is over",
                    namespace=namespace_dir.name,
                    name=folder.name,
                    expired_at=meta.get("expiresAt"),
                )
                continue
            listed.setdefault(namespace_dir.name, []).append(
                RetainedHome(
                    workspace=folder.name,
                    owner=str(meta.get("owner") or ""),
                    deleted_at=times.parse_time(meta.get("deletedAt")),
                    expires_at=times.parse_time(meta.get("expiresAt")),
                    size=str(int(meta.get("bytes") or 0)),
                )
            )
    ctx.quotas.retained = {
        namespace: sum(int(home.size or 0) for home in homes) for namespace, homes in listed.items()
    }
    return listed
