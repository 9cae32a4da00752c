"""Drift: what changed behind WWS's back, judged from what the status last said; and
whether a workspace's container is converged (only the agent's side may be behind)."""

from __future__ import annotations

from api import meta
from api.workspace import Workspace, WorkspaceStatus
from providers import base
from reconcilers import conditions
from reconcilers.workspace.planning import Plan
from reconcilers.workspace.vocabulary import CONTAINER_READY, HOME_READY


def drift(plan_: Plan, status: WorkspaceStatus, observed: base.Observed) -> str | None:
    """What changed behind WWS's back (a person or another tool), judged from what the
    status last said; ``None`` when nothing did.

    The message is what the controller announces in an event before it puts things right.
    A workspace that never got as far (its image is missing, its start failed) has no
    drift: it is simply retried.
    """
    state = observed.state
    had_container = status.runtime is not None and status.runtime.id is not None
    was_running = conditions.holds(status.conditions, CONTAINER_READY)
    had_home = conditions.holds(status.conditions, HOME_READY)
    if plan_.running:
        if state is base.State.ABSENT and had_container:
            if had_home and not observed.home_exists:
                return (
                    "the container and its home volume were removed outside WWS;"
                    " re-creating both (the home starts empty)"
                )
            return "the container was removed outside WWS; re-creating it (the home is kept)"
        if state not in (base.State.RUNNING, base.State.ABSENT) and was_running:
            why = observed.message or state.value
            return f"the container stopped outside WWS ({why}); starting it again"
    elif state is base.State.RUNNING and not was_running:
        return "the container was started outside WWS; stopping it (spec.running is false)"
    return None


def container_converged(ws: Workspace, plan_: Plan, observed: base.Observed | None) -> bool:
    """The container is as the spec asks and the status says so already: only the agent's
    side (and endpoints, the deadlines) may be behind."""
    if observed is None or plan_.restart:
        return False
    if drift(plan_, ws.status, observed) is not None:
        return False
    if ws.status.observed_generation != ws.metadata.generation:
        return False
    if not plan_.running:
        return conditions.holds(ws.status.conditions, meta.READY)
    return (
        observed.state is base.State.RUNNING
        and observed.config_hash == plan_.desired.effective_config_hash()
        and conditions.holds(ws.status.conditions, CONTAINER_READY)
    )
