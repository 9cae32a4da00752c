"""Following the runtimes instead of polling each workspace: what keeps the controller's
cost growing with change, not with the number of workspaces.

Per provider, two tasks:

- :func:`follow_changes` reads the provider's stream of changes
  (:meth:`~providers.base.Provider.subscribe`): a container/VM that started, stopped, died or
  went (a second later, when the runtime has finished), and an agent's new report, each asks
  for a closer look at its workspace (queued in :class:`~controller.checks.Checks`). A lost
  stream is subscribed again (backoff 1 s ... 30 s); every (re)connection asks for a
  listing, so what happened while the stream was down is found all the same;
- :func:`relist_loop` lists the provider's workspaces in one call every ``--resync`` seconds
  (and when asked to) and compares the listing with the cached Workspaces
  (:func:`reconcilers.workspace.needs_attention`): only those not as their status says, and
  running ones whose agent's report changed or went quiet, get a closer look.

A closer look is :func:`check`: :func:`controller.workspaces.resync_workspace` (a GET of the
Workspace, an inspect, drift repaired, the status written when it changed). A report change
of a workspace whose agent is followed only wakes its follower; otherwise it costs a read of
the report file unless the report says something new.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pydantic

from controller import checks, idle, idlestop, memory, metrics, workspaces
from controller.context import Context
from providers import base
from reconcilers import conditions, workspace
from wws import logconfig

log = logconfig.get(__name__)

#: A workspace missing from a listing: neither a container/VM nor a home.
_ABSENT = base.Observed(state=base.State.ABSENT, home_exists=False)


async def follow_changes(ctx: Context, name: str) -> None:
    """Follow provider ``name``'s changes until cancelled (see the module docstring)."""
    delay = 1.0
    said = ""
    while True:
        if name not in ctx.providers.opened():
            # NB: a provider is opened by the first reconcile (or the start's sweep) that
            # needs it; one that cannot be opened is reported there, not here every second.
            await asyncio.sleep(1.0)
            continue
        try:
            provider = await ctx.providers.get(name)
            async for change in provider.subscribe():
                delay, said = 1.0, ""
                metrics.RUNTIME_CHANGES.labels(provider=name, kind=change.kind.value).inc()
                if change.kind is base.ChangeKind.CONNECTED:
                    log.info("runtime events followed", provider=name)
                    ctx.relists.setdefault(name, asyncio.Event()).set()
                elif change.kind is base.ChangeKind.REPORT:
                    _report_written(ctx, change.uid)
                elif change.uid in ctx.workspaces:
                    _settle_then_check(ctx, change.uid)
            log.warning("runtime event stream ended; subscribing again", provider=name)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if str(error) != said:  # NB: once per new trouble, not at every retry
                log.warning(
                    "runtime event stream lost; subscribing again",
                    provider=name,
                    error=str(error),
                    retry_in=delay,
                )
            said = str(error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


#: Seconds between a runtime's event and the look it asks for: what one action behind WWS's
#: back sets off comes as several events (``podman rm -f``: kill, died, remove), and the
#: look (and the Drift event people read) should see where it ended, not the first step.
EVENT_SETTLE_SECONDS = 1.0


def _settle_then_check(ctx: Context, uid: str) -> None:
    if uid in ctx.settling:
        return
    loop = asyncio.get_running_loop()

    def check_now() -> None:
        ctx.settling.discard(uid)
        ctx.checks.put(uid, checks.EVENT)

    ctx.settling.add(uid)
    loop.call_later(EVENT_SETTLE_SECONDS, check_now)


def _report_written(ctx: Context, uid: str) -> None:
    wakeup = ctx.report_wakeups.get(uid)
    if wakeup is not None:
        wakeup.set()  # NB: its follower reads it
    elif uid in ctx.workspaces:
        ctx.checks.put(uid, checks.REPORT)


async def relist_loop(ctx: Context, name: str) -> None:
    """List provider ``name``'s workspaces every resync period and when asked to."""
    asked = ctx.relists.setdefault(name, asyncio.Event())
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asked.wait(), ctx.resync)
        asked.clear()
        if name not in ctx.providers.opened():
            continue  # nothing made through it yet (its reconciles say why it cannot open)
        try:
            await relist(ctx, name)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("listing the workspaces failed", provider=name, error=str(error))
        memory.trim()  # NB: what a burst of changes freed goes back to the system


async def relist(ctx: Context, name: str) -> int:
    """One listing of provider ``name``, compared with the cached Workspaces; how many
    were asked to be looked at."""
    started = time.monotonic()
    provider = await ctx.providers.get(name)
    listed = await asyncio.wait_for(provider.list(), ctx.call_timeout)
    now = conditions.now()
    asked = 0
    for uid, cached in list(ctx.workspaces.items()):
        if cached.provider != name or cached.deleting:
            continue
        try:
            ws = cached.model()
        except pydantic.ValidationError:
            continue  # the handlers say so in its status
        observed = listed.get(uid, _ABSENT)
        if workspace.needs_attention(ws, observed):
            ctx.checks.put(uid, checks.RESYNC)
            asked += 1
        elif observed.state is base.State.RUNNING and uid not in ctx.followers:
            raw = await provider.read_report(workspace.ref_of(ws))
            if workspace.report_needs_look(
                raw, last_fingerprint=ctx.fingerprints.get(uid), at=now, timeouts=ctx.timeouts
            ):
                ctx.checks.put(uid, checks.RESYNC)
                asked += 1
    metrics.RELIST_SECONDS.labels(provider=name).observe(time.monotonic() - started)
    return asked


async def check(ctx: Context, uid: str, reasons: frozenset[str]) -> None:
    """A closer look at one workspace (the :class:`~controller.checks.Checks` worker)."""
    cached = ctx.workspaces.get(uid)
    if cached is None:
        return
    if reasons == {checks.REPORT}:
        provider = await ctx.providers.get(cached.provider)
        ref = base.WorkspaceRef(cached.namespace, cached.name, uid, cached.namespace)
        raw = await provider.read_report(ref)
        if workspace.report_fingerprint(raw) == ctx.fingerprints.get(uid):
            return  # NB: the heartbeat only
    if idle.IDLE in reasons:
        await idlestop.look(ctx, namespace=cached.namespace, name=cached.name, uid=uid)
        return
    await workspaces.resync_workspace(
        ctx,
        namespace=cached.namespace,
        name=cached.name,
        uid=uid,
        credentials=checks.SECRET in reasons,
    )
