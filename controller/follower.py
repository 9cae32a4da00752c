"""Following a starting workspace's agent: while a running workspace's agent has work in
progress for the current generation, a task reads its report when the agent writes one
(the provider's :meth:`~providers.base.Provider.subscribe` says so; a provider that does not
report reports is asked every quarter of a second, every second from ten seconds after the
start or change on) and writes the status when the report changed (no write otherwise), and
brings the status up to date every few seconds all the same (deadlines)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from typing import cast

import kopf
import pydantic

from api.workspace import Workspace, WorkspaceStatus
from controller import kubeapi, quotas, steps
from controller.context import Context
from providers import base
from reconcilers import conditions, workspace
from wws import logconfig

log = logconfig.get(__name__)


def follow_if_needed(
    ctx: Context, ws: Workspace, plan: workspace.Plan, status: WorkspaceStatus
) -> None:
    """Watch the agent's report closely while the workspace runs and the agent has work in
    progress for this generation."""
    if not plan.running or not conditions.holds(status.conditions, workspace.CONTAINER_READY):
        return
    if workspace.agent_settled(ws, status):
        return
    uid = ws.metadata.uid or ""
    now = time.monotonic()
    ctx.follow_until[uid] = now + ctx.follow_limit
    ctx.fast_until[uid] = now + ctx.agent_fast_window
    ctx.report_wakeups.setdefault(uid, asyncio.Event())
    task = ctx.followers.get(uid)
    if task is not None and not task.done():
        return
    ref = workspace.ref_of(ws)
    ctx.followers[uid] = asyncio.create_task(
        _follow_agent(ctx, ref, ws.spec.provider.value), name=f"agent {ref.namespace}/{ref.name}"
    )


def unfollow(ctx: Context, uid: str) -> None:
    task = ctx.followers.pop(uid, None)
    ctx.follow_until.pop(uid, None)
    ctx.fast_until.pop(uid, None)
    ctx.report_wakeups.pop(uid, None)
    if task is not None and task is not asyncio.current_task():
        task.cancel()


#: A follower brings the status up to date at least this often (deadlines), also when the
#: report did not change.
FOLLOW_REFRESH_SECONDS = 5.0


async def _follow_agent(ctx: Context, ref: base.WorkspaceRef, provider_name: str) -> None:
    """Read the agent's report when it wrote one (or every ``ctx.agent_poll`` seconds,
    ``agent_poll_fast`` at first, from a provider that does not report reports); when it
    changed, bring the status up to date (one GET, one inspect, a patch only when something
    changed). Ends when the agent has settled, the workspace stops or goes, or after
    ``ctx.follow_limit`` seconds without news (the resync listing keeps an eye on it)."""
    uid = ref.uid
    last_fingerprint: str | None = None
    last_refresh = 0.0
    bound = logconfig.for_resource(log, namespace=ref.namespace, name=ref.name, kind="Workspace")
    try:
        while time.monotonic() < ctx.follow_until.get(uid, 0.0):
            provider = await ctx.providers.get(provider_name)
            if provider.reports_changes:
                wakeup = ctx.report_wakeups.setdefault(uid, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), FOLLOW_REFRESH_SECONDS)
                wakeup.clear()
            else:
                fast = time.monotonic() < ctx.fast_until.get(uid, 0.0)
                await asyncio.sleep(ctx.agent_poll_fast if fast else ctx.agent_poll)
            raw = await asyncio.wait_for(provider.read_report(ref), ctx.call_timeout)
            fingerprint = workspace.report_fingerprint(raw)
            now = time.monotonic()
            if fingerprint == last_fingerprint and now - last_refresh < FOLLOW_REFRESH_SECONDS:
                continue
            last_fingerprint, last_refresh = fingerprint, now
            async with ctx.lock(uid):
                settled = await _refresh_from_agent(ctx, ref)
            if settled is not False:
                break
    except asyncio.CancelledError:
        raise
    except Exception as error:
        bound.warning("following the agent's report failed; the resync goes on", error=str(error))
    finally:
        if ctx.followers.get(uid) is asyncio.current_task():
            del ctx.followers[uid]


async def _refresh_from_agent(ctx: Context, ref: base.WorkspaceRef) -> bool | None:
    """One look of the follower: True when the agent has settled, False when not (or the
    container is not converged yet: the handlers are at it), None when there is nothing to
    follow any more."""
    path = kubeapi.custom_path(Workspace, namespace=ref.namespace, name=ref.name)
    try:
        body = kopf.Body(cast(kopf.RawBody, await ctx.api.request("GET", path)))
    except kubeapi.ApiError as error:
        if error.status == 404:
            return None
        raise
    try:
        ws = Workspace.model_validate(body)
    except pydantic.ValidationError:
        return None
    if ws.metadata.uid != ref.uid or ws.metadata.deletion_timestamp is not None:
        return None
    plan = workspace.plan(
        ws, refusal=quotas.refusal(ctx, body), network_group=quotas.network_group(ctx, body)
    )
    if not plan.running:
        return None
    provider = await ctx.providers.get(ws.spec.provider.value)
    observed = await asyncio.wait_for(provider.observe(ref), ctx.call_timeout)
    if not workspace.container_converged(ws, plan, observed):
        return False
    outcome = await steps.read_agent(ctx, ws, workspace.Outcome(observed))
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await steps.write_status(
        ctx, body, ws, status, outcome, began=datetime.datetime.now(datetime.UTC)
    )
    return workspace.agent_settled(ws, status)
