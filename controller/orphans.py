"""The orphan sweep at the controller's start: what the providers hold for Workspaces that no
longer exist goes, by the one rule of :func:`providers.base.orphans` (applied by
:meth:`providers.base.Provider.remove_orphans`, so leftover host folders go too).

Only objects of namespaces this API server knows are touched: objects of another store or
cluster sharing the runtime, or of a store restored empty, are left alone, so pointing a
controller at the wrong API server never deletes homes.
"""

from __future__ import annotations

import asyncio

from api.workspace import Workspace
from controller import kubeapi
from controller.context import Context
from providers import base
from wws import logconfig

log = logconfig.get(__name__)


async def sweep_orphans(ctx: Context) -> list[base.ManagedObject]:
    """Remove the orphans of every installed provider; what was removed.

    NB: the runtime is listed before the Workspaces, so a workspace created meanwhile is
    always in the list.
    """
    removed: list[base.ManagedObject] = []
    for name in ctx.providers.available():
        try:
            provider = await ctx.providers.get(name)
            held = await asyncio.wait_for(provider.inventory(), ctx.call_timeout)
        except Exception as error:
            log.warning("orphan sweep skipped", provider=name, error=str(error))
            continue
        workspaces = await ctx.api.list(kubeapi.custom_path(Workspace))
        known = {str(item["metadata"].get("uid")) for item in workspaces}
        namespaces = {
            str(item["metadata"]["name"]) for item in await ctx.api.list("/api/v1/namespaces")
        }
        removed.extend(await provider.remove_orphans(known, namespaces=namespaces, inventory=held))
    return removed


async def sweep_until_done(ctx: Context) -> None:
    """Sweep once, retrying with backoff while the API server cannot be asked; then the
    controller is ready."""
    delay = 1.0
    while True:
        try:
            await sweep_orphans(ctx)
            break
        except Exception as error:
            log.warning("orphan sweep failed; retrying", error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, ctx.resync)
    ctx.readiness.swept.set()
