"""Step 3 of a reconcile: the whole new status (and the first one of a new workspace, and
that of a failed deletion), with the endpoints people connect to."""

from __future__ import annotations

import datetime

from api import meta
from api.workspace import (
    RESTARTED_AT_ANNOTATION,
    AgentStatus,
    Endpoints,
    LanguageState,
    LanguageStatus,
    Phase,
    PortEndpoint,
    PortProtocol,
    Runtime,
    SecretKeyRef,
    StopReason,
    Workspace,
    WorkspaceSpec,
    WorkspaceStatus,
)
from providers import agent, base
from reconcilers import conditions
from reconcilers.workspace import idle
from reconcilers.workspace.agentside import (
    REQUIRED_AGENT_CONDITIONS,
    agent_conditions,
    github_condition,
    this_boot,
)
from reconcilers.workspace.outcome import Failure, Outcome
from reconcilers.workspace.planning import Plan, code_server_secret_name, ref_of
from reconcilers.workspace.readiness import derive_phase, ready_condition
from reconcilers.workspace.steps import step_conditions
from reconcilers.workspace.vocabulary import (
    CODE_SERVER_PASSWORD_KEY,
    CODE_SERVER_PORT,
    CONTAINER_READY,
    DEFAULT_TIMEOUTS,
    DELETE_TIMEOUT,
    FALSE,
    HOME_READY,
    IDLE,
    IMAGE_READY,
    QUOTA_EXCEEDED,
    READY,
    SSH_PORT,
    TRUE,
    UNKNOWN,
    Timeouts,
    human,
    iso,
    sane_reason,
)


def linux_user(spec: WorkspaceSpec) -> str:
    """The owner's user inside the workspace: the GitHub login in lowercase."""
    return spec.owner.lower()


def endpoints_of(
    spec: WorkspaceSpec,
    observed: base.Observed | None,
    *,
    workspace_name: str = "",
    public_host: str = "localhost",
) -> Endpoints:
    """Where a running workspace is reachable, from the host ports the provider published
    (nothing while it does not run; the code-server password's Secret always, when
    code-server is on). ``public_host`` stands for a port published on every address
    (``spec.ssh.publishAddress: 0.0.0.0``)."""
    endpoints = Endpoints()
    if spec.editors.code_server and workspace_name:
        endpoints.code_server_password_secret_ref = SecretKeyRef(
            name=code_server_secret_name(workspace_name), key=CODE_SERVER_PASSWORD_KEY
        )
    if observed is None or observed.state is not base.State.RUNNING:
        return endpoints
    published = {port.name: port for port in observed.ports}

    def address(port: base.PublishedPort) -> str:
        return port.host_ip if port.host_ip not in ("", "0.0.0.0", "::") else public_host

    code_server = published.get(CODE_SERVER_PORT.name)
    if spec.editors.code_server and code_server is not None:
        endpoints.code_server = f"http://{address(code_server)}:{code_server.host_port}/"
    ssh = published.get(SSH_PORT.name)
    if spec.editors.ssh and ssh is not None:
        endpoints.ssh = f"ssh -p {ssh.host_port} {linux_user(spec)}@{address(ssh)}"
        endpoints.ssh_host = address(ssh)
        endpoints.ssh_port = ssh.host_port
    by_number = {port.container_port: port for port in observed.ports}
    for wanted in spec.ports:
        found = published.get(wanted.name) or by_number.get(wanted.port)
        entry = PortEndpoint(name=wanted.name, port=wanted.port)
        if found is not None:
            entry.host_port = found.host_port
            if wanted.protocol == PortProtocol.HTTP:
                entry.url = f"http://{address(found)}:{found.host_port}/"
        endpoints.ports.append(entry)
    return endpoints


def _languages_of(report: agent.AgentReport) -> list[LanguageStatus]:
    states = {state.value for state in LanguageState}
    return [
        LanguageStatus(
            name=language.name,
            version=language.version,
            state=LanguageState(language.state) if language.state in states else None,
            message=language.message or None,
        )
        for language in report.languages
    ]


def status_after(
    workspace: Workspace,
    plan_: Plan,
    outcome: Outcome,
    *,
    at: datetime.datetime,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    public_host: str = "localhost",
) -> WorkspaceStatus:
    """The whole new status after acting on ``plan_`` (pure)."""
    old = workspace.status
    observed, failure = outcome.observed, outcome.failure
    steps = step_conditions(workspace, plan_, outcome, at=at)
    agent_conds = agent_conditions(workspace, plan_, outcome, at=at, timeouts=timeouts)
    ready = ready_condition(
        workspace, plan_, outcome, steps, at=at, timeouts=timeouts, agent_conds=agent_conds
    )
    github = github_condition(workspace, outcome, at=at)
    required = [c for c in agent_conds if c.type in REQUIRED_AGENT_CONDITIONS]
    optional = [c for c in agent_conds if c.type not in REQUIRED_AGENT_CONDITIONS]
    conds = [ready, *steps, *required, github, *optional]
    quota = _quota_condition(workspace, plan_, at=at)
    if quota is not None:
        conds.append(quota)
    report = (
        this_boot(outcome.agent, observed)
        if observed is not None and observed.state is base.State.RUNNING
        else None
    )
    started_at = observed.started_at if observed and observed.started_at else old.started_at
    last, source = idle.last_activity(workspace, report, started_at=started_at)
    idle_cond = _idle_condition(workspace, plan_, last, source, at=at)
    if idle_cond is not None:
        conds.append(idle_cond)
    languages, agent_status = old.languages, old.agent
    if report is not None and outcome.agent is not None:
        languages = _languages_of(report)
        agent_status = AgentStatus(
            boot_id=report.boot_id or None,
            generation=report.generation,
            started_at=outcome.agent.started_at,
        )
    phase = derive_phase(conds, running=plan_.running, deleting=False)
    if not plan_.running:
        stop_reason: str | None = plan_.stop_reason
    elif phase is Phase.FAILED:
        stop_reason = StopReason.FAILED
    else:
        stop_reason = None
    runtime = old.runtime
    if observed is not None:
        runtime = Runtime(
            provider=workspace.spec.provider.value,
            id=observed.runtime_id or None,
            accelerator=observed.accelerator or None,
        )
    acted = failure is None
    return WorkspaceStatus(
        phase=phase,
        observed_generation=workspace.metadata.generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        endpoints=(
            endpoints_of(
                workspace.spec,
                observed,
                workspace_name=workspace.metadata.name,
                public_host=public_host,
            )
            if observed is not None
            else old.endpoints
        ),
        runtime=runtime,
        languages=languages,
        agent=agent_status,
        started_at=started_at,
        last_activity_time=last,
        last_activity_source=source,
        stop_reason=stop_reason,
        observed_restarted_at=plan_.restarted_at if acted else old.observed_restarted_at,
    )


def _idle_condition(
    workspace: Workspace,
    plan_: Plan,
    last: datetime.datetime | None,
    source: str | None,
    *,
    at: datetime.datetime,
) -> meta.Condition | None:
    """Idle: True (when, and the last activity) while the workspace is stopped for
    idleness; False once woken; absent for a workspace never stopped so."""
    previous = workspace.status.conditions
    old = meta.find_condition(previous, IDLE)
    if plan_.stop_reason == StopReason.IDLE:
        if old is not None and old.status == TRUE:
            return old.model_copy(update={"observed_generation": workspace.metadata.generation})
        timeout = idle.timeout_of(workspace, None)
        since = f"since {iso(last)} ({source})" if last is not None else "ever"
        status, reason = TRUE, "NoActivity"
        message = (
            f"stopped at {iso(at)}: no activity {since}"
            f"{f' for {human(timeout)}' if timeout else ''}; set the annotation"
            f" {RESTARTED_AT_ANNOTATION} to a new timestamp (or press Start) to wake it"
        )
    elif old is not None:
        status, reason, message = FALSE, "Active", ""
    else:
        return None
    return conditions.condition(
        previous,
        type_=IDLE,
        status=status,
        reason=reason,
        message=message,
        generation=workspace.metadata.generation,
        at=at,
    )


def _quota_condition(
    workspace: Workspace, plan_: Plan, *, at: datetime.datetime
) -> meta.Condition | None:
    """QuotaExceeded: True (the quota, used and limit) while a quota keeps the workspace
    from starting; False once it has room; absent for a workspace never held."""
    previous = workspace.status.conditions
    refusal = plan_.refusal
    if refusal is not None and refusal.reason == QUOTA_EXCEEDED:
        status, reason, message = TRUE, sane_reason(refusal.quota), refusal.message
    elif meta.find_condition(previous, QUOTA_EXCEEDED) is not None:
        status, reason, message = FALSE, "WithinQuota", ""
    else:
        return None
    return conditions.condition(
        previous,
        type_=QUOTA_EXCEEDED,
        status=status,
        reason=reason,
        message=message,
        generation=workspace.metadata.generation,
        at=at,
    )


def provisioning_status(
    workspace: Workspace, plan_: Plan, *, at: datetime.datetime
) -> WorkspaceStatus:
    """The first status of a new workspace, written before the provider is asked, so that
    people see it accepted (phase Provisioning) while its home and container are made."""
    previous = workspace.status.conditions
    generation = workspace.metadata.generation

    def cond(type_: str, status: meta.ConditionStatus, reason: str, message: str) -> meta.Condition:
        return conditions.condition(
            previous,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            at=at,
        )

    conds = [
        cond(READY, FALSE, "Provisioning", "creating the home and the container"),
        cond(IMAGE_READY, UNKNOWN, "Checking", "looking for the image"),
        cond(HOME_READY, UNKNOWN, "Creating", "creating the home volume"),
        cond(CONTAINER_READY, UNKNOWN, "Creating", "creating the container"),
    ]
    return workspace.status.model_copy(
        update={
            "phase": derive_phase(conds, running=plan_.running, deleting=False),
            "observed_generation": generation,
            "conditions": conds,
            "message": conditions.first_failing_message(conds),
        }
    )


def deleting_status(
    workspace: Workspace,
    failure: Failure,
    *,
    at: datetime.datetime,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> WorkspaceStatus:
    """The status of a workspace whose deletion failed (it is retried); past the deadline
    the message says how to give up on the external objects."""
    previous = workspace.status.conditions
    reason, message = failure.reason, f"deleting: {failure.message}"
    deleted_at = workspace.metadata.deletion_timestamp
    if deleted_at is not None and at - deleted_at >= timeouts.delete:
        ref = ref_of(workspace)
        reason = DELETE_TIMEOUT
        message = (
            f"not deleted after {human(timeouts.delete)}: {failure.message}; still retrying."
            f" To give up (the container and home of uid {ref.uid} are then left behind"
            " until the controller's next start removes them as orphans):"
            f" kubectl -n {ref.namespace} patch workspace {ref.name} --type=json"
            ' -p \'[{"op":"remove","path":"/metadata/finalizers"}]\''
        )
    ready = conditions.condition(
        previous,
        type_=READY,
        status=FALSE,
        reason=reason,
        message=message,
        generation=workspace.metadata.generation,
        at=at,
    )
    conds = [ready, *(c for c in previous if c.type != READY)]
    return workspace.status.model_copy(
        update={
            "phase": Phase.DELETING,
            "observed_generation": workspace.metadata.generation,
            "conditions": conds,
            "message": message,
        }
    )
