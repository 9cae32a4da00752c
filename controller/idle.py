"""Idle auto-stop in the controller: a deadline per running workspace, kept from watch
events (the last activity the status or the web UI's annotation shows, or the last start,
plus the idle timeout capped by the organization's ``maxIdleTimeout``), and a loop that asks
for a closer look (:mod:`controller.idlestop`) when one is near (the warning) or due.

The deadlines are an in-memory table updated per event; the loop compares numbers once a
second (no API call, no report read) until one is reached.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
from collections.abc import Mapping
from typing import Any

from api import times, units
from api.workspace import ACTIVITY_ANNOTATION
from controller import metrics
from controller.context import Context
from reconcilers.workspace import idle

#: The reason of the closer look (see :mod:`controller.checks`).
IDLE = "idle"
#: Seconds between two closer looks at a workspace whose deadline passed and that was
#: found used after all (its status catches up on the look).
_AGAIN = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class Deadline:
    namespace: str
    name: str
    last: float
    """Epoch seconds of the last activity known from the object."""
    stop_at: float
    warn_at: float


def deadline_of(body: Mapping[str, Any], max_idle: float | None) -> Deadline | None:
    """The workspace's idle deadline, when it runs and has a timeout."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    if (
        not spec.get("running", True)
        or metadata.get("deletionTimestamp") is not None
        or status.get("phase") != "Running"
        or status.get("stopReason")
    ):
        return None
    try:
        timeout = units.parse_duration(str((spec.get("idle") or {}).get("timeout") or "30m"))
    except ValueError:
        return None
    if max_idle:
        cap = datetime.timedelta(seconds=max_idle)
        timeout = min(timeout, cap) if timeout > datetime.timedelta(0) else cap
    if timeout <= datetime.timedelta(0):
        return None
    annotations = metadata.get("annotations") or {}
    candidates = [
        times.parse_time(status.get("lastActivityTime")),
        times.parse_time(status.get("startedAt")),
        times.parse_time(annotations.get(ACTIVITY_ANNOTATION)),
        times.parse_time(metadata.get("creationTimestamp")),
    ]
    known = [moment for moment in candidates if moment is not None]
    if not known:
        return None
    last = max(known).timestamp()
    seconds = timeout.total_seconds()
    return Deadline(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        last=last,
        stop_at=last + seconds,
        warn_at=last + seconds - idle.warning_lead(timeout).total_seconds(),
    )


def track(ctx: Context, body: Mapping[str, Any], *, deleted: bool) -> None:
    """A Workspace's watch event: its deadline updated (or dropped)."""
    metadata = body.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    limits = ctx.quotas.orgs.get(str(metadata.get("namespace") or ""))
    found = None if deleted else deadline_of(body, limits.max_idle if limits else None)
    if found is None:
        ctx.idle_deadlines.pop(uid, None)
    else:
        ctx.idle_deadlines[uid] = found
    last = (body.get("status") or {}).get("lastActivityTime")
    parsed = times.parse_time(last) if not deleted else None
    metrics.activity_seen(
        uid,
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        at=parsed.timestamp() if parsed is not None else None,
    )


async def idle_loop(ctx: Context) -> None:
    """Once a second: the workspaces whose warning or stop is due get a closer look."""
    asked: dict[str, float] = {}
    while True:
        await asyncio.sleep(1.0)
        now = time.time()
        for uid, deadline in list(ctx.idle_deadlines.items()):
            due = now >= deadline.stop_at or (
                now >= deadline.warn_at and ctx.idle_warned.get(uid) != deadline.stop_at
            )
            if due and now - asked.get(uid, 0.0) >= _AGAIN:
                asked[uid] = now
                ctx.checks.put(uid, IDLE)
        for uid in [uid for uid in asked if uid not in ctx.idle_deadlines]:
            del asked[uid]
