"""Whether a workspace needs a closer look, judged from what is cheap to know: a batched
listing of the runtime (:meth:`providers.base.Provider.list`) and the agent's report file.
The controller looks closer (an inspect, the status computed, written when it changed) only
when these say so, so a resync of many converged workspaces costs one listing."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from api import times
from api.workspace import Workspace
from providers import base
from reconcilers.workspace.agentside import agent_settled
from reconcilers.workspace.drift import container_converged
from reconcilers.workspace.outcome import report_fingerprint
from reconcilers.workspace.planning import plan
from reconcilers.workspace.vocabulary import Timeouts


def needs_attention(workspace: Workspace, listed: base.Observed) -> bool:
    """Whether a workspace, as the listing sees it (``listed``), is not as its status
    says: drift, a reconcile that failed or has not acted on the current generation, a
    deadline to watch, or an agent with work in progress. A workspace being deleted is the
    delete handler's."""
    if workspace.metadata.deletion_timestamp is not None:
        return False
    plan_ = plan(workspace)
    if not container_converged(workspace, plan_, listed):
        return True
    return plan_.running and not agent_settled(workspace, workspace.status)


def report_needs_look(
    raw: Mapping[str, Any] | None,
    *,
    last_fingerprint: str | None,
    at: datetime.datetime,
    timeouts: Timeouts,
) -> bool:
    """Whether a running, converged workspace's report calls for a new status: it changed
    since the status was last computed from it (``last_fingerprint``; the heartbeat
    ``updatedAt`` aside), there is none, or it is old enough for the agent to count as not
    reporting (half the deadline: the status then says so in time)."""
    if raw is None or last_fingerprint is None:
        return True
    if report_fingerprint(raw) != last_fingerprint:
        return True
    updated = times.parse_time(raw.get("updatedAt"))
    return updated is None or at - updated >= timeouts.agent / 2
