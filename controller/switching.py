"""Switching a workspace's provider (``spec.provider`` podman ↔ kvm): the home moves along.

The provider a workspace runs on is ``status.runtime.provider``. When the spec names
another one, the reconcile first moves the home (:func:`providers.homes.move_home`: stop,
copy out, copy in, compare every entry, and only then remove the old workspace and home),
showing each step in HomeReady (Unknown, reason MovingHome), then acts on the new provider
as usual. A failed move is HomeReady False (reason HomeMoveFailed) with why; the old home
is untouched and the move is tried again with the reconcile's backoff. A move cut short by
a crash starts over (the new provider's partial home is replaced); once the old home is
gone there is nothing left to move.
"""

from __future__ import annotations

import asyncio
import contextlib

import kopf

from api.workspace import Workspace
from controller import kubeapi, steps
from controller.context import Context, bound
from providers import base, homes
from reconcilers import conditions, workspace

#: How long one move may take (copying a large home out and in, and comparing).
MOVE_TIMEOUT = 3600.0


async def switch_if_needed(
    ctx: Context, body: kopf.Body, ws: Workspace, plan: workspace.Plan
) -> workspace.Outcome | None:
    """Move the home when the spec names another provider than the one it runs on;
    ``None`` when there is nothing (more) to move, else the failed move's outcome."""
    old_name = ws.status.runtime.provider if ws.status.runtime is not None else None
    new_name = ws.spec.provider.value
    if not old_name or old_name == new_name:
        return None
    ref = plan.ref
    logger = bound(body, "Workspace")
    try:
        old = await ctx.providers.get(old_name)
        new = await ctx.providers.get(new_name)
        seen = await asyncio.wait_for(old.observe(ref), ctx.call_timeout)
    except Exception as error:
        return _failed(ws, f"the {old_name} provider cannot be asked: {error}")
    if seen.state is base.State.ABSENT and not seen.home_exists:
        return None  # moved already (or never made)

    async def progress(step: str) -> None:
        message = f"moving the home from {old_name} to {new_name}: {step}"
        logger.info("provider switch", step=step, old=old_name, new=new_name)
        await _show(ctx, ws, plan, workspace.HomeMove("Unknown", "MovingHome", message))

    kopf.info(body, reason="MovingHome", message=f"moving the home from {old_name} to {new_name}")
    work = ctx.providers.settings.data_dir / "moves" / ref.uid
    try:
        count = await asyncio.wait_for(
            homes.move_home(
                old,
                new,
                ref,
                work=work,
                size_bytes=plan.desired.home_size_bytes,
                progress=progress,
            ),
            MOVE_TIMEOUT,
        )
    except (homes.HomeMoveFailed, TimeoutError) as error:
        message = str(error) or f"moving the home took more than {MOVE_TIMEOUT:.0f}s"
        kopf.warn(body, reason="HomeMoveFailed", message=message)
        return _failed(ws, message)
    kopf.info(
        body,
        reason="HomeMoved",
        message=f"home moved from {old_name} to {new_name} ({count} entries)",
    )
    return None


def _failed(ws: Workspace, message: str) -> workspace.Outcome:
    # NB: no observation: the status keeps naming the old provider (status.runtime), where
    # the home still is, so the next reconcile tries the move again.
    return workspace.Outcome(
        None,
        workspace.Failure("HomeMoveFailed", message),
        home=workspace.HomeMove("False", "HomeMoveFailed", message),
    )


async def _show(
    ctx: Context, ws: Workspace, plan: workspace.Plan, move: workspace.HomeMove
) -> None:
    status = workspace.status_after(
        ws,
        plan,
        workspace.Outcome(None, home=move),
        at=conditions.now(),
        timeouts=ctx.timeouts,
        public_host=ctx.public_host,
    )
    diff = conditions.merge_patch(ws.status.to_dict(), status.to_dict())
    if diff:
        with contextlib.suppress(kubeapi.ApiError):
            await ctx.api.patch_status(steps.path_of(ws), diff)
