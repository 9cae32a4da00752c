"""Ready, the summary condition (with the start and stop deadlines), and the phase derived
from the conditions."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from api import meta
from api.workspace import (
    Phase,
    Workspace,
)
from providers import base
from reconcilers import conditions
from reconcilers.workspace.agentside import agent_blocker
from reconcilers.workspace.outcome import Outcome
from reconcilers.workspace.planning import Plan
from reconcilers.workspace.vocabulary import (
    AGENT_NOT_REPORTING,
    CONTAINER_READY,
    FAILED_REASONS,
    FALSE,
    HOME_READY,
    IMAGE_READY,
    READY,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TRUE,
    Timeouts,
    human,
    sane_reason,
)


def _since(workspace: Workspace, previous: Sequence[meta.Condition]) -> datetime.datetime | None:
    """Since when the workspace has not been Ready (``None``: it was Ready until now)."""
    ready = meta.find_condition(previous, READY)
    if ready is None:
        return workspace.metadata.creation_timestamp
    if ready.status == TRUE:
        return None
    return ready.last_transition_time


def ready_condition(
    workspace: Workspace,
    plan_: Plan,
    outcome: Outcome,
    steps: Sequence[meta.Condition],
    *,
    at: datetime.datetime,
    timeouts: Timeouts,
    agent_conds: Sequence[meta.Condition] = (),
) -> meta.Condition:
    """The summary: True when the workspace is as its spec asks, else why not (with the
    deadline applied)."""
    previous = workspace.status.conditions
    observed, failure = outcome.observed, outcome.failure
    if plan_.running:
        ok = (
            failure is None
            and observed is not None
            and observed.state is base.State.RUNNING
            and observed.config_hash == plan_.desired.effective_config_hash()
        )
        good = "Running"
    else:
        ok = failure is None and observed is not None and observed.state is not base.State.RUNNING
        good = "Stopped"
    exempt = False  # from the start deadline: a settled failure the agent reported
    if ok and plan_.running:
        blocker = agent_blocker(workspace, agent_conds)
        if blocker is None:
            status, reason, message = TRUE, good, ""
        else:
            status, (reason, message, exempt) = FALSE, blocker
            exempt = exempt or reason == AGENT_NOT_REPORTING
    elif ok and plan_.refusal is not None:
        # NB: held by a quota or the policy: not as the spec asks, but nothing is late.
        status, reason, message = FALSE, plan_.refusal.reason, plan_.refusal.message
        exempt = True
    elif ok:
        status, reason, message = TRUE, good, ""
    elif failure is not None:
        status, reason, message = FALSE, failure.reason, failure.message
    elif plan_.running:
        failing = next((c for c in steps if c.status != TRUE), None)
        if failing is not None:
            status, reason, message = FALSE, failing.reason, failing.message
        else:  # running, but made from an older configuration
            status, reason, message = FALSE, "Recreating", "the container is being re-created"
    else:
        status, reason, message = FALSE, "Stopping", "the container is stopping"
    if status != TRUE and not exempt:
        since = _since(workspace, previous)
        limit = timeouts.start if plan_.running else timeouts.stop
        if since is not None and at - since >= limit:
            late = START_TIMEOUT if plan_.running else STOP_TIMEOUT
            verb = "running" if plan_.running else "stopped"
            message = f"not {verb} after {human(limit)}: {message}"
            reason = late
    return conditions.condition(
        previous,
        type_=READY,
        status=status,
        reason=sane_reason(reason),
        message=message[:32768],
        generation=workspace.metadata.generation,
        at=at,
    )


def derive_phase(conds: Sequence[meta.Condition], *, running: bool, deleting: bool) -> Phase:
    """The phase people read, derived from the conditions (never stored as a state
    machine of its own)."""
    if deleting:
        return Phase.DELETING
    ready = meta.find_condition(conds, READY)
    if ready is not None and ready.status != TRUE and ready.reason in FAILED_REASONS:
        return Phase.FAILED
    if running:
        if conditions.holds(conds, CONTAINER_READY):
            return Phase.RUNNING
        image = meta.find_condition(conds, IMAGE_READY)
        if image is not None and image.status == FALSE:
            return Phase.PENDING
        if not conditions.holds(conds, HOME_READY):
            return Phase.PROVISIONING
        return Phase.STARTING
    if ready is not None and ready.status == TRUE:
        return Phase.STOPPED
    if conditions.holds(conds, CONTAINER_READY):
        return Phase.STOPPING
    return Phase.STOPPED
