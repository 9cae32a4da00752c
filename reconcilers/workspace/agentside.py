"""The in-workspace agent's side of the status: its conditions copied from its report
(for this boot and generation), GitHubReady, and whether the agent has settled."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from api import meta
from api.workspace import (
    Workspace,
    WorkspaceSpec,
    WorkspaceStatus,
)
from providers import agent, base
from reconcilers import conditions
from reconcilers.workspace.outcome import AgentSnapshot, Outcome
from reconcilers.workspace.planning import GitHubToken, Plan
from reconcilers.workspace.vocabulary import (
    AGENT_CONDITIONS,
    AGENT_LOG_HINT,
    AGENT_NOT_REPORTING,
    APPLYING_CHANGES,
    EDITOR_READY,
    FALSE,
    GITHUB_READY,
    LANGUAGES_READY,
    LIVE_AGENT_CONDITIONS,
    SSH_READY,
    TRUE,
    UNKNOWN,
    USER_READY,
    WAITING_FOR_AGENT,
    Timeouts,
    human,
    iso,
    sane_reason,
)


def required_agent_conditions(spec: WorkspaceSpec) -> tuple[str, ...]:
    """The agent's conditions that Ready needs (True, for the current generation)."""
    required = [USER_READY]
    if spec.editors.ssh:
        required.append(SSH_READY)
    if spec.editors.code_server:
        required.append(EDITOR_READY)
    required.append(LANGUAGES_READY)
    return tuple(required)


#: Kept for readers: Ready needs these of the agent's (with both editors on).
REQUIRED_AGENT_CONDITIONS = (USER_READY, SSH_READY, EDITOR_READY, LANGUAGES_READY)


def this_boot(snapshot: AgentSnapshot | None, observed: base.Observed) -> agent.AgentReport | None:
    """The report, when it is of the container's current boot. The provider drops the
    previous boot's report when it starts the workspace; a report whose agent started
    before the container did (a container started behind WWS's back, a provider that kept
    it) is a previous boot's all the same and counts for nothing."""
    if snapshot is None or snapshot.report is None:
        return None
    started = snapshot.started_at or snapshot.report.updated_at
    container = observed.started_at
    # NB: the agent writes whole seconds.
    if (
        started is not None
        and container is not None
        and started < container.replace(microsecond=0) - datetime.timedelta(seconds=1)
    ):
        return None
    return snapshot.report


def agent_conditions(
    workspace: Workspace,
    plan_: Plan,
    outcome: Outcome,
    *,
    at: datetime.datetime,
    timeouts: Timeouts,
) -> list[meta.Condition]:
    """The agent's conditions (:data:`AGENT_CONDITIONS`) after ``outcome``."""
    previous = workspace.status.conditions
    generation = workspace.metadata.generation
    observed = outcome.observed

    def cond(
        type_: str,
        status: meta.ConditionStatus,
        reason: str,
        message: str,
        observed_generation: int | None = generation,
    ) -> meta.Condition:
        return conditions.condition(
            previous,
            type_=type_,
            status=status,
            reason=sane_reason(reason),
            message=message[:32768],
            generation=observed_generation,
            at=at,
        )

    def keep(type_: str, reason: str, message: str) -> meta.Condition:
        old = meta.find_condition(previous, type_)
        return old if old is not None else cond(type_, UNKNOWN, reason, message)

    if observed is None:
        return [keep(t, "Unknown", "the provider could not be asked") for t in AGENT_CONDITIONS]
    if not plan_.running or observed.state is not base.State.RUNNING:
        stopped = "the workspace is not running"
        return [
            cond(t, UNKNOWN, "NotRunning", stopped)
            if t in LIVE_AGENT_CONDITIONS
            else keep(t, "NotRunning", stopped)
            for t in AGENT_CONDITIONS
        ]
    report = this_boot(outcome.agent, observed)
    if report is None:
        started = observed.started_at
        if started is not None and at - started >= timeouts.agent:
            message = (
                f"the workspace agent has not reported within {human(timeouts.agent)} of the"
                f" container's start ({iso(started)}); {AGENT_LOG_HINT}"
            )
            return [cond(t, FALSE, AGENT_NOT_REPORTING, message) for t in AGENT_CONDITIONS]
        message = "waiting for the workspace agent's first report"
        if outcome.agent is not None and outcome.agent.error:
            message += f" (the last one was unreadable: {outcome.agent.error})"
        return [cond(t, UNKNOWN, WAITING_FOR_AGENT, message) for t in AGENT_CONDITIONS]
    if report.updated_at is not None and at - report.updated_at >= timeouts.agent:
        message = (
            f"the workspace agent has not reported since {iso(report.updated_at)}"
            f" ({human(at - report.updated_at)} ago); {AGENT_LOG_HINT}"
        )
        return [cond(t, FALSE, AGENT_NOT_REPORTING, message) for t in AGENT_CONDITIONS]
    reported = []
    for type_ in AGENT_CONDITIONS:
        found = report.condition(type_)
        if found is None:
            reported.append(
                cond(
                    type_,
                    UNKNOWN,
                    "NotReported",
                    "the workspace agent does not report this condition",
                    report.generation,
                )
            )
        else:
            status = meta.ConditionStatus(found.status)
            reported.append(cond(type_, status, found.reason, found.message, report.generation))
    return reported


def github_condition(
    workspace: Workspace, outcome: Outcome, *, at: datetime.datetime
) -> meta.Condition:
    """GitHubReady: the token's Secret was found (kept as it was when not looked at now)."""
    previous = workspace.status.conditions
    generation = workspace.metadata.generation
    found = outcome.github
    if found is None:
        old = meta.find_condition(previous, GITHUB_READY)
        if old is not None:
            return old
        found = (
            GitHubToken()
            if workspace.spec.github is None
            else GitHubToken(reason="NotChecked", message="the token's Secret is read at start")
        )
        status = TRUE if found.ok else UNKNOWN
    else:
        status = TRUE if found.ok else FALSE
    return conditions.condition(
        previous,
        type_=GITHUB_READY,
        status=status,
        reason=found.reason,
        message=found.message,
        generation=generation,
        at=at,
    )


def agent_blocker(
    workspace: Workspace, agent_conds: Sequence[meta.Condition]
) -> tuple[str, str, bool] | None:
    """Why the agent's side keeps a running workspace from being Ready: (reason, message,
    whether that is a settled failure rather than something in progress); ``None``: it
    does not."""
    generation = workspace.metadata.generation
    by_type = {c.type: c for c in agent_conds}
    for type_ in required_agent_conditions(workspace.spec):
        found = by_type.get(type_)
        if found is None:
            return WAITING_FOR_AGENT, f"{type_}: not reported yet", False
        current = found.observed_generation == generation
        if found.status == TRUE and current:
            continue
        if not current and found.reason != AGENT_NOT_REPORTING:
            applied = found.observed_generation
            return (
                APPLYING_CHANGES,
                f"the workspace agent is applying generation {generation}"
                + (f" (it has applied generation {applied})" if applied is not None else ""),
                False,
            )
        settled = found.status == FALSE and found.reason != AGENT_NOT_REPORTING
        return found.reason, f"{type_}: {found.message}".rstrip(": "), settled
    return None


def agent_settled(workspace: Workspace, status: WorkspaceStatus) -> bool:
    """Whether the agent has nothing in progress for the current generation (every one of
    its conditions True or False and current), so its report needs no close watch."""
    generation = workspace.metadata.generation
    for type_ in AGENT_CONDITIONS:
        found = meta.find_condition(status.conditions, type_)
        if found is None:
            return False
        if found.reason == AGENT_NOT_REPORTING:
            continue  # NB: the resync keeps looking; nothing to watch closely
        if found.status == UNKNOWN or found.observed_generation != generation:
            return False
    return True
