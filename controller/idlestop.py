"""The closer look at a workspace whose idle deadline is near or due (:mod:`controller.idle`):
the agent's report is read first (the last activity may be newer than the status says);
then the warning event, or the stop — without touching ``spec``: ``stopReason: Idle``, the
condition Idle (when, and the last activity), an event. Otherwise (it was used after all)
the status is brought up to date, which moves the deadline."""

from __future__ import annotations

import asyncio
import datetime
from typing import cast

import kopf
import pydantic

from api.workspace import Phase, Workspace
from controller import kubeapi, steps, workspaces
from controller.context import Context, bound
from providers import base
from reconcilers import conditions, workspace
from reconcilers.workspace import idle


async def look(ctx: Context, *, namespace: str, name: str, uid: str) -> None:
    """See the module docstring."""
    async with ctx.lock(uid):
        path = kubeapi.custom_path(Workspace, namespace=namespace, name=name)
        try:
            body = kopf.Body(cast(kopf.RawBody, await ctx.api.request("GET", path)))
            ws = Workspace.model_validate(body)
        except (kubeapi.ApiError, pydantic.ValidationError):
            return
        if (
            ws.metadata.uid != uid
            or ws.metadata.deletion_timestamp is not None
            or not ws.spec.running
            or ws.status.stop_reason is not None
            or ws.status.phase is not Phase.RUNNING
        ):
            return
        provider = await ctx.providers.get(ws.spec.provider.value)
        observed = await asyncio.wait_for(provider.observe(workspace.ref_of(ws)), ctx.call_timeout)
        if observed.state is base.State.RUNNING:
            outcome = await steps.read_agent(ctx, ws, workspace.Outcome(observed))
            report = workspace.this_boot(outcome.agent, observed)
            last, source = idle.last_activity(ws, report)
            limits = ctx.quotas.orgs.get(namespace)
            cap = limits.max_idle if limits is not None else None
            timeout = idle.timeout_of(
                ws, datetime.timedelta(seconds=cap) if cap is not None else None
            )
            if timeout is None or last is None:
                return
            now = conditions.now()
            stop_at = last + timeout
            logger = bound(body, "Workspace")
            if now >= stop_at:
                logger.info("idle: stopping", last_activity=workspace.iso(last), source=source)
                kopf.info(
                    body,
                    reason="IdleStop",
                    message=(
                        f"no activity since {workspace.iso(last)} ({source}) for"
                        f" {workspace.human(timeout)}: stopping (spec is not changed; set the"
                        " annotation wws.dev/restartedAt to wake it)"
                    ),
                )
                await workspaces.reconcile_locked(ctx, body, idle_stop=True)
                return
            lead = idle.warning_lead(timeout)
            if now >= stop_at - lead and ctx.idle_warned.get(uid) != stop_at.timestamp():
                ctx.idle_warned[uid] = stop_at.timestamp()
                kopf.warn(
                    body,
                    reason="IdleSoon",
                    message=(
                        f"no activity since {workspace.iso(last)} ({source}): stopping at"
                        f" {workspace.iso(stop_at)} unless it is used"
                    ),
                )
    # NB: used after all (or no longer running): the status catches up, the deadline moves.
    await workspaces.resync_workspace(ctx, namespace=namespace, name=name, uid=uid)
