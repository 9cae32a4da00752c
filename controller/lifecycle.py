"""The controller's start and stop: the background work beside kopf's handlers (the orphan
sweep, the organizations' counts, the access rules, the reads from GitHub, following each
provider's changes and listing its workspaces, the queue of workspaces to look at),
started at kopf's startup and cancelled at its cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Coroutine
from typing import Any

from controller import (
    access,
    githubsync,
    idle,
    metrics,
    organizations,
    orphans,
    quotas,
    runtime,
)
from controller.context import Context


async def startup(memo: Context, **_: Any) -> None:
    """Start the background work (see the module docstring)."""
    ctx = memo
    metrics.known_providers(ctx.providers.available())
    # NB: before any handler decides a start, so a restart never lets one over a quota.
    await quotas.prime(ctx)

    def start(work: Coroutine[Any, Any, None], name: str) -> None:
        ctx.background.append(asyncio.create_task(work, name=name))

    start(orphans.sweep_until_done(ctx), "orphan sweep")
    start(organizations.organizations_loop(ctx), "organizations")
    start(access.access_loop(ctx), "access")
    start(githubsync.github_loop(ctx), "github")
    start(ctx.checks.run(functools.partial(runtime.check, ctx)), "checks")
    start(idle.idle_loop(ctx), "idle")
    for name in ctx.providers.available():
        start(runtime.follow_changes(ctx, name), f"changes of {name}")
        start(runtime.relist_loop(ctx, name), f"listings of {name}")


async def cleanup(memo: Context, **_: Any) -> None:
    ctx = memo
    ctx.readiness.stopping = True
    tasks = [*ctx.background, *ctx.followers.values()]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    for timer in ctx.access.rechecks.values():
        timer.cancel()
    await ctx.access.client.close()
