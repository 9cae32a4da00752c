"""What a status change should say to people: the events (and log lines) of a reconcile,
and how long a start took (``wws_workspace_start_seconds``). Pure: the controller posts
what these functions return."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from api import meta
from api.workspace import Phase, Workspace, WorkspaceStatus
from reconcilers.workspace.outcome import Outcome
from reconcilers.workspace.vocabulary import AGENT_CONDITIONS, CONTAINER_READY, GITHUB_READY

#: Conditions whose turning False is announced with an event of their own (the controller's
#: steps are announced through Ready's failure and the phase).
REPORTED = frozenset({*AGENT_CONDITIONS, GITHUB_READY})


@dataclasses.dataclass(frozen=True)
class Announcement:
    """One thing to tell: a log line (``log`` with ``fields``, at ``level``) and, unless
    ``event`` is False, an event of type Warning (``warning``) or Normal with ``reason`` and
    ``message``."""

    log: str
    level: str = "info"
    reason: str = ""
    message: str = ""
    warning: bool = False
    event: bool = True
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)


def _running(cond: meta.Condition | None) -> bool:
    return (
        cond is not None and cond.status == meta.ConditionStatus.TRUE and cond.reason == "Running"
    )


def announcements(
    old: Workspace, new_status: WorkspaceStatus, outcome: Outcome
) -> list[Announcement]:
    """Events for what people want to know: a new kind of failure (of the controller's
    steps or the agent's), else a new phase; the workspace turning Ready."""
    said_out: list[Announcement] = []
    failure, posted = outcome.failure, False
    if failure is not None:
        old_ready = meta.find_condition(old.status.conditions, meta.READY)
        if old_ready is None or old_ready.reason != failure.reason:
            said_out.append(
                Announcement(
                    "reconcile failed",
                    level="warning",
                    reason=failure.reason,
                    message=failure.message,
                    warning=True,
                    fields={"reason": failure.reason, "error": failure.message},
                )
            )
            posted = True
    said: set[tuple[str, str]] = set()
    for cond in new_status.conditions:
        if cond.type not in REPORTED or cond.status != meta.ConditionStatus.FALSE:
            continue
        before = meta.find_condition(old.status.conditions, cond.type)
        if before is not None and before.status == cond.status and before.reason == cond.reason:
            continue
        if (cond.reason, cond.message) in said:
            continue  # NB: AgentNotReporting is every agent condition's
        said.add((cond.reason, cond.message))
        said_out.append(
            Announcement(
                "condition failed",
                level="warning",
                reason=cond.reason,
                message=f"{cond.type}: {cond.message}",
                warning=True,
                fields={"condition": cond.type, "reason": cond.reason, "error": cond.message},
            )
        )
    ready = meta.find_condition(new_status.conditions, meta.READY)
    old_ready = meta.find_condition(old.status.conditions, meta.READY)
    if _running(ready) and not _running(old_ready):
        endpoints = new_status.endpoints
        where = [
            f"code-server {endpoints.code_server}" if endpoints.code_server else "",
            endpoints.ssh or "",
        ]
        message = "the workspace is ready" + (
            f": {'; '.join(w for w in where if w)}" if any(where) else ""
        )
        said_out.append(
            Announcement(
                "workspace ready",
                reason="Ready",
                message=message,
                fields={"generation": old.metadata.generation},
            )
        )
    if new_status.phase != old.status.phase and new_status.phase is not None:
        phase = Phase(new_status.phase)
        fields: dict[str, Any] = {"old_phase": old.status.phase, "phase": phase.value}
        # NB: a workspace created stopped gets no event for it (its status says so): one
        # request less per workspace in a burst of new stopped workspaces.
        born_stopped = old.status.phase is None and phase is Phase.STOPPED
        if (posted and phase is not Phase.FAILED) or born_stopped:
            said_out.append(Announcement("phase changed", event=False, fields=fields))
        else:
            said_out.append(
                Announcement(
                    "phase changed",
                    reason=phase.value,
                    message=new_status.message or f"the workspace is {phase.value.lower()}",
                    warning=phase in (Phase.FAILED, Phase.PENDING),
                    fields=fields,
                )
            )
    return said_out


def start_seconds(
    old: Workspace,
    new_status: WorkspaceStatus,
    *,
    began: datetime.datetime,
    now: datetime.datetime,
) -> float | None:
    """How long the start took that ``new_status`` completes (``None``: it completes none).

    Ready became True with reason Running: from the object's creation (a new workspace),
    from when it stopped being Ready (a failed or interrupted start), or from ``began``, the
    start of this reconcile (``running: true`` on a stopped workspace, which was Ready as
    Stopped until now). A change the agent applied in place (Ready False while the container
    ran on) is no start."""
    if not _running(meta.find_condition(new_status.conditions, meta.READY)):
        return None
    old_ready = meta.find_condition(old.status.conditions, meta.READY)
    old_container = meta.find_condition(old.status.conditions, CONTAINER_READY)
    if old_ready is None:
        since = old.metadata.creation_timestamp
    elif old_ready.status != meta.ConditionStatus.TRUE:
        if (
            old_container is not None
            and old_container.status == meta.ConditionStatus.TRUE
            and old_container.last_transition_time < old_ready.last_transition_time
        ):
            return None
        since = old_ready.last_transition_time
    elif old_ready.reason != "Running":
        since = began
    else:
        return None
    if since is None:
        return None
    return max(0.0, (now - since).total_seconds())
