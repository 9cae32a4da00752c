"""The controller's start and stop: the background work beside kopf's handlers (the orphan
sweep, the organizations' counts, the access rules, the reads from GitHub), started at
kopf's startup and cancelled at its cleanup."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controller import access, githubsync, metrics, organizations, orphans
from controller.context import Context


async def startup(memo: Context, **_: Any) -> None:
    """Start the background work: the orphan sweep and the organizations' counts."""
    ctx = memo
    metrics.known_providers(ctx.providers.available())
    ctx.background.append(asyncio.create_task(orphans.sweep_until_done(ctx), name="orphan sweep"))
    ctx.background.append(
        asyncio.create_task(organizations.organizations_loop(ctx), name="organizations")
    )
    ctx.background.append(asyncio.create_task(access.access_loop(ctx), name="access"))
    ctx.background.append(asyncio.create_task(githubsync.github_loop(ctx), name="github"))


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
