"""Idle auto-stop (pure): the last activity of a workspace, its idle timeout, and whether it
is due. The controller (:mod:`controller.idle`) keeps the deadlines and asks at them.

The last activity is the newest of: what the status said, the in-workspace agent's report
(SSH or tmux input, code-server's heartbeat), the web UI's annotation
``wws.dev/lastActivityTime`` (editor proxy traffic) and the workspace's last start (a start
or a wake counts as activity, so a woken workspace is never stopped right away). The
timeout is ``spec.idle.timeout`` ("0": never), capped by the organization's
``policy.maxIdleTimeout``.
"""

from __future__ import annotations

import datetime

from api import times, units
from api.workspace import ACTIVITY_ANNOTATION, Workspace
from providers import agent

START = "start"
WEBUI = "webui"


def last_activity(
    workspace: Workspace,
    report: agent.AgentReport | None,
    *,
    started_at: datetime.datetime | None = None,
) -> tuple[datetime.datetime | None, str | None]:
    """The newest activity and its source (see the module docstring); ``started_at``: the
    last start, when newer than the status says."""
    status = workspace.status
    found: list[tuple[datetime.datetime, str]] = []
    if status.last_activity_time is not None:
        found.append((status.last_activity_time, status.last_activity_source or START))
    marked = times.parse_time(workspace.metadata.annotations.get(ACTIVITY_ANNOTATION))
    if marked is not None:
        found.append((marked, WEBUI))
    if report is not None and report.activity_at is not None:
        found.append((report.activity_at, report.activity_source or "ssh"))
    for start in (status.started_at, started_at):
        if start is not None:
            found.append((start, START))
    if not found:
        return None, None
    newest = max(found, key=lambda item: item[0])
    return newest[0].replace(microsecond=0), newest[1]


def timeout_of(
    workspace: Workspace, max_idle: datetime.timedelta | None
) -> datetime.timedelta | None:
    """The idle timeout (``None``: never stopped for idleness)."""
    try:
        timeout = units.parse_duration(workspace.spec.idle.timeout)
    except ValueError:
        return None
    if max_idle is not None and max_idle > datetime.timedelta(0):
        timeout = min(timeout, max_idle) if timeout > datetime.timedelta(0) else max_idle
    return timeout if timeout > datetime.timedelta(0) else None


def warning_lead(timeout: datetime.timedelta) -> datetime.timedelta:
    """How long before the stop the warning event goes: 5 minutes, or a fifth of a short
    timeout."""
    return min(datetime.timedelta(minutes=5), timeout / 5)
