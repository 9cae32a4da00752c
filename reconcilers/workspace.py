"""The Workspace reconciler: from spec, status and what the provider sees to actions and status.

One reconcile is three steps, of which only the middle one talks to a runtime (the
controller does it, see ``controller/handlers.py``):

1. :func:`plan` — what the workspace should be now: the :class:`~providers.base.DesiredWorkspace`
   (from the spec), whether it should run (``spec.running``, unless the controller holds it
   stopped for a reason such as Idle), and whether a restart was asked for (the annotation
   ``wws.dev/restartedAt`` differs from ``status.observedRestartedAt``);
2. the controller acts — ``provider.stop`` when restarting, then ``provider.ensure`` — and
   hands back an :class:`Outcome`: what the provider sees afterwards, or why it failed;
3. :func:`status_after` — the new status: conditions, ``phase`` derived from them, ``message``,
   ``endpoints``, ``stopReason``, and the restart it acted on.

Conditions, in this order (``status.message`` is the first failing one's message):

- ``Ready`` — the summary: the workspace is as its spec asks (True with reason Running, or
  Stopped when it should not run); ``kubectl wait --for=condition=Ready`` reads it;
- ``ImageReady`` — the image exists (False, reason ImageNotFound, says how to build it);
- ``HomeReady`` — the persistent home exists;
- ``ContainerReady`` — the container runs;
- ``UserReady``, ``SSHReady``, ``EditorReady``, ``LanguagesReady``, ``DotfilesReady``,
  ``BootstrapReady`` — copied from the in-workspace agent's report (docs/workspace-agent.md),
  each with the ``observedGeneration`` the agent has applied (so a report of an older
  generation never counts for a newer one); Unknown (WaitingForAgent) until this boot's
  agent reports, False (AgentNotReporting) when it has not within :attr:`Timeouts.agent`;
- ``GitHubReady`` — the Secret of ``spec.github.tokenSecretRef`` was found (False, reason
  SecretNotFound or KeyNotFound, names it).

Running, Ready needs ImageReady, HomeReady, ContainerReady, UserReady, LanguagesReady and
the turned-on editors' EditorReady and SSHReady, True for the current generation
(:data:`REQUIRED_AGENT_CONDITIONS`). DotfilesReady, BootstrapReady and GitHubReady are
reported (with reason, message and log path) but never make Ready False: a broken dotfiles
repository, a failing setup script or a missing token leave a workspace that is usable, and
the owner is better served by using it and reading the log than by a workspace that is "not
Ready". ``phase`` follows the container (Running once it runs), as a Pod's does; Ready says
when it is usable.

Every state in which a workspace can be stuck has a deadline: a workspace that should run
and has not been Ready for :attr:`Timeouts.start` is Failed (reason StartTimeout, stopReason
Failed, with the cause in the message); one that should stop and still runs after
:attr:`Timeouts.stop` is Failed with StopTimeout; a deletion that has not finished after
:attr:`Timeouts.delete` says how to give up on it. A running workspace whose agent has not
reported within :attr:`Timeouts.agent` of the container's start (or whose last report is that
old) is Failed with reason AgentNotReporting. The controller keeps retrying in every case, so
a Failed workspace recovers on its own once the cause is gone (an image built, a runtime
back, an agent reporting).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from api import formats, meta, units
from api.workspace import (
    RESTARTED_AT_ANNOTATION,
    AgentStatus,
    ConditionType,
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

TRUE, FALSE, UNKNOWN = (
    meta.ConditionStatus.TRUE,
    meta.ConditionStatus.FALSE,
    meta.ConditionStatus.UNKNOWN,
)
READY = ConditionType.READY
IMAGE_READY = ConditionType.IMAGE_READY
HOME_READY = ConditionType.HOME_READY
CONTAINER_READY = ConditionType.CONTAINER_READY
USER_READY = ConditionType.USER_READY
SSH_READY = ConditionType.SSH_READY
EDITOR_READY = ConditionType.EDITOR_READY
LANGUAGES_READY = ConditionType.LANGUAGES_READY
DOTFILES_READY = ConditionType.DOTFILES_READY
BOOTSTRAP_READY = ConditionType.BOOTSTRAP_READY
GITHUB_READY = ConditionType.GITHUB_READY

#: The agent's conditions, in the order the status lists them (GitHubReady goes after
#: LanguagesReady: the required ones first).
AGENT_CONDITIONS: tuple[str, ...] = (
    USER_READY,
    SSH_READY,
    EDITOR_READY,
    LANGUAGES_READY,
    DOTFILES_READY,
    BOOTSTRAP_READY,
)
#: The agent's conditions that describe what runs now (Unknown while the workspace does not
#: run); the others describe the home (a clone, installs, a script) and are kept.
LIVE_AGENT_CONDITIONS = frozenset({USER_READY, SSH_READY, EDITOR_READY})

#: The code-server password's key in the Secret ``<workspace>-code-server``.
CODE_SERVER_PASSWORD_KEY = "password"

CODE_SERVER_PORT = base.PortSpec("code-server", 8080)
SSH_PORT = base.PortSpec("ssh", 22)

#: Stop reasons that keep a workspace stopped although ``spec.running`` is true, until a new
#: ``wws.dev/restartedAt`` annotation asks for it again (start after an idle stop).
HELD_REASONS = frozenset({StopReason.IDLE, StopReason.QUOTA, StopReason.POLICY})

#: Ready reasons after which the phase is Failed.
START_TIMEOUT = "StartTimeout"
STOP_TIMEOUT = "StopTimeout"
DELETE_TIMEOUT = "DeleteTimeout"
AGENT_NOT_REPORTING = "AgentNotReporting"
FAILED_REASONS = frozenset({START_TIMEOUT, STOP_TIMEOUT, AGENT_NOT_REPORTING})
#: Ready's reason while the agent has not applied the current generation yet.
APPLYING_CHANGES = "ApplyingChanges"
WAITING_FOR_AGENT = "WaitingForAgent"
#: Where to look when the agent does not report (written for people).
AGENT_LOG_HINT = (
    "its log is /home/.wws/logs/agent.log inside the workspace, and the container's output"
    " (podman logs wws-<uid>) shows its start"
)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Deadlines of the states a workspace can be stuck in."""

    start: datetime.timedelta = datetime.timedelta(minutes=5)
    """Should run, not Ready for this long: Failed (StartTimeout)."""
    stop: datetime.timedelta = datetime.timedelta(minutes=2)
    """Should be stopped, still not for this long: Failed (StopTimeout)."""
    delete: datetime.timedelta = datetime.timedelta(minutes=5)
    """Deleting for this long: the message says how to give up (remove the finalizer)."""
    agent: datetime.timedelta = datetime.timedelta(minutes=2)
    """Running, and the in-workspace agent has not reported for this long since the
    container started (or since its last report; it writes one at least every 15 s):
    Failed (AgentNotReporting)."""


# --- step 1: the plan ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the controller should make of a workspace now."""

    desired: base.DesiredWorkspace
    """What :meth:`providers.base.Provider.ensure` gets (``desired.running`` included)."""
    restart: bool
    """Stop the workspace before ``ensure`` starts it again (a new restart annotation)."""
    restarted_at: str | None
    """The restart annotation's value, recorded in ``status.observedRestartedAt`` once acted
    on."""
    stop_reason: str | None
    """Why the workspace should not run (Requested, Idle, ...); ``None``: it should run."""

    @property
    def ref(self) -> base.WorkspaceRef:
        return self.desired.ref

    @property
    def running(self) -> bool:
        return self.desired.running


def ref_of(workspace: Workspace) -> base.WorkspaceRef:
    """The provider's handle of a workspace. The organization is the namespace's (an
    Organization owns the namespace of its own name)."""
    meta_ = workspace.metadata
    namespace = meta_.namespace or ""
    return base.WorkspaceRef(
        namespace=namespace, name=meta_.name, uid=meta_.uid or "", organization=namespace
    )


def ports_of(spec: WorkspaceSpec) -> tuple[base.PortSpec, ...]:
    """The ports to publish: the editors' (code-server, ssh) and those of ``spec.ports``.

    NB: a port of ``spec.ports`` that repeats an editor's name or port number is served by
    the editor's published port (one container port is published once).
    """
    ports: list[base.PortSpec] = []
    if spec.editors.code_server:
        ports.append(CODE_SERVER_PORT)
    if spec.editors.ssh:
        ports.append(
            dataclasses.replace(
                SSH_PORT,
                host_ip=str(spec.ssh.publish_address),
                host_port=spec.ssh.host_port or 0,
            )
        )
    names = {port.name for port in ports}
    numbers = {port.container_port for port in ports}
    for port in spec.ports:
        if port.name in names or port.port in numbers:
            continue
        ports.append(base.PortSpec(port.name, port.port, "tcp"))
        names.add(port.name)
        numbers.add(port.port)
    return tuple(ports)


def code_server_secret_name(workspace_name: str) -> str:
    """The Secret that holds a workspace's code-server password (key ``password``), made by
    the controller when missing and owned by the Workspace."""
    return f"{workspace_name}-code-server"


@dataclasses.dataclass(frozen=True)
class GitHubToken:
    """What the controller found for ``spec.github.tokenSecretRef``: the token (never in a
    repr, a log, an event or the status) or why there is none, as GitHubReady's reason and
    message."""

    token: str | None = dataclasses.field(default=None, repr=False)
    reason: str = "NotRequested"
    message: str = "no GitHub token asked for (spec.github is not set)"

    @property
    def ok(self) -> bool:
        return self.reason in ("NotRequested", "TokenProvided")


def config_files_of(
    workspace: Workspace, *, code_server_password: str, github: GitHubToken
) -> dict[str, bytes]:
    """The in-workspace agent's config files (:mod:`providers.agent`) for this generation."""
    meta_ = workspace.metadata
    config = agent.workspace_config(
        namespace=meta_.namespace or "",
        name=meta_.name,
        uid=meta_.uid or "",
        generation=meta_.generation or 0,
        spec=workspace.spec.model_dump(mode="json", by_alias=True),
    )
    return agent.config_files(
        config, code_server_password=code_server_password, github_token=github.token
    )


def files_digest(files: Mapping[str, bytes]) -> str:
    """A digest of config files (to tell whether the provider has them already)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    return digest.hexdigest()


def desired_of(
    workspace: Workspace,
    *,
    running: bool,
    config_files: Mapping[str, bytes] | None = None,
) -> base.DesiredWorkspace:
    """The provider's view of the spec. Its config hash (derived by
    :meth:`~providers.base.DesiredWorkspace.effective_config_hash` from image, limits and
    ports) changes exactly when the container must be re-created; the agent's
    ``config_files`` are not part of it (the provider updates them in place)."""
    spec = workspace.spec
    return base.DesiredWorkspace(
        ref=ref_of(workspace),
        image=spec.image,
        cpu=float(units.parse_quantity(spec.resources.cpu)),
        memory_bytes=int(units.parse_quantity(spec.resources.memory)),
        disk_bytes=int(units.parse_quantity(spec.resources.disk)),
        home_size_bytes=int(units.parse_quantity(spec.home.size)),
        ports=ports_of(spec),
        # NB: no environment of the spec's: the agent reads it all from its config files,
        # so a new owner, shell or editor setting never re-creates the container.
        running=running,
        config_files=dict(config_files or {}),
    )


def plan(workspace: Workspace, *, config_files: Mapping[str, bytes] | None = None) -> Plan:
    """What the workspace should be now (pure: reads the object only). ``config_files``:
    the agent's (:func:`config_files_of`), when the controller is about to hand them over."""
    status = workspace.status
    annotation = workspace.metadata.annotations.get(RESTARTED_AT_ANNOTATION)
    restart_asked = annotation is not None and annotation != status.observed_restarted_at
    stop_reason: str | None = None
    if not workspace.spec.running:
        stop_reason = StopReason.REQUESTED
    elif status.stop_reason in HELD_REASONS and not restart_asked:
        stop_reason = status.stop_reason
    running = stop_reason is None
    return Plan(
        desired=desired_of(workspace, running=running, config_files=config_files),
        # NB: a held workspace that is asked to restart just starts; there is nothing to stop.
        restart=restart_asked and running and status.stop_reason not in HELD_REASONS,
        restarted_at=annotation,
        stop_reason=stop_reason,
    )


# --- step 2: what happened -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why acting on a workspace failed, in condition terms."""

    reason: str
    message: str
    image_missing: bool = False


@dataclasses.dataclass(frozen=True)
class AgentSnapshot:
    """The in-workspace agent's report as the provider returned it: parsed, or why not."""

    report: agent.AgentReport | None
    started_at: datetime.datetime | None = None
    """When the agent of the report's boot started (``startedAt``)."""
    error: str = ""


def agent_snapshot(raw: Mapping[str, Any] | None) -> AgentSnapshot | None:
    """The snapshot of ``provider.read_report``'s answer (``None``: no report)."""
    if raw is None:
        return None
    try:
        report = agent.parse_report(raw)
    except ValueError as error:
        return AgentSnapshot(None, error=str(error))
    return AgentSnapshot(report, _parse_time(raw.get("startedAt")))


def report_fingerprint(raw: Mapping[str, Any] | None) -> str:
    """What of a report can change the status (everything but the heartbeat ``updatedAt``)."""
    if raw is None:
        return ""
    rest = {key: value for key, value in raw.items() if key != "updatedAt"}
    return json.dumps(rest, sort_keys=True, default=str)


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the controller's actions came to: the provider's view afterwards (``None`` when
    it could not be asked), the failure, if any, the agent's report (``None``: not read, or
    none yet) and what was found of the GitHub token (``None``: not looked at now)."""

    observed: base.Observed | None
    failure: Failure | None = None
    agent: AgentSnapshot | None = None
    github: GitHubToken | None = None


def failure_of(error: BaseException, *, timeout: float | None = None) -> Failure:
    """The condition reason and message of an error raised while acting."""
    if isinstance(error, base.ImageNotFound):
        return Failure(error.reason, str(error), image_missing=True)
    if isinstance(error, base.ProviderError):
        return Failure(error.reason, str(error))
    if isinstance(error, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return Failure("ProviderTimeout", f"the provider did not answer{within}; retrying")
    if isinstance(error, LookupError):  # providers.registry.UnknownProvider
        return Failure("ProviderNotInstalled", str(error))
    return Failure("InternalError", f"{type(error).__name__}: {error}")


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


# --- step 3: the status --------------------------------------------------------------------


def _since(workspace: Workspace, previous: Sequence[meta.Condition]) -> datetime.datetime | None:
    """Since when the workspace has not been Ready (``None``: it was Ready until now)."""
    ready = meta.find_condition(previous, READY)
    if ready is None:
        return workspace.metadata.creation_timestamp
    if ready.status == TRUE:
        return None
    return ready.last_transition_time


def _kept(
    previous: Sequence[meta.Condition],
    type_: str,
    *,
    reason: str,
    message: str,
    generation: int | None,
    at: datetime.datetime,
) -> meta.Condition:
    """The previous condition of ``type_`` (for a step that could not be looked at now), or
    Unknown with ``reason`` when there is none."""
    old = meta.find_condition(previous, type_)
    if old is not None:
        return old.model_copy(update={"observed_generation": generation})
    return conditions.condition(
        previous,
        type_=type_,
        status=UNKNOWN,
        reason=reason,
        message=message,
        generation=generation,
        at=at,
    )


def _container_condition(
    plan_: Plan, observed: base.Observed
) -> tuple[meta.ConditionStatus, str, str]:
    state = observed.state
    if state is base.State.RUNNING:
        return TRUE, "Running", ""
    if not plan_.running and state in (base.State.ABSENT, base.State.STOPPED, base.State.CREATED):
        return FALSE, "Stopped", f"the workspace is stopped: {_why_stopped(plan_.stop_reason)}"
    if state is base.State.ABSENT:
        return FALSE, "Creating", "the container does not exist yet"
    if state is base.State.CREATED:
        return FALSE, "Starting", "the container is created and starting"
    if state is base.State.STOPPED:
        return FALSE, "Stopped", "the container is stopped; starting it"
    if state is base.State.EXITED:
        return FALSE, "ContainerExited", f"the container {observed.message or 'exited'}"
    return FALSE, "ContainerFailed", f"the container failed: {observed.message or 'unknown error'}"


def _why_stopped(stop_reason: str | None) -> str:
    if stop_reason == StopReason.REQUESTED:
        return "spec.running is false"
    if stop_reason in HELD_REASONS:
        return (
            f"{stop_reason.lower()}; set the annotation {RESTARTED_AT_ANNOTATION} to a new"
            " timestamp to start it again"
        )
    return f"stop reason {stop_reason}"


def step_conditions(
    workspace: Workspace, plan_: Plan, outcome: Outcome, *, at: datetime.datetime
) -> list[meta.Condition]:
    """ImageReady, HomeReady and ContainerReady after ``outcome``."""
    previous = workspace.status.conditions
    generation = workspace.metadata.generation
    observed, failure = outcome.observed, outcome.failure
    wanted_hash = plan_.desired.effective_config_hash()

    def cond(
        type_: str, status: meta.ConditionStatus, reason: str, message: str = ""
    ) -> meta.Condition:
        return conditions.condition(
            previous,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            at=at,
        )

    def unknown(type_: str, reason: str, message: str) -> meta.Condition:
        return _kept(previous, type_, reason=reason, message=message, generation=generation, at=at)

    # ImageReady
    if failure is not None and failure.image_missing:
        image = cond(IMAGE_READY, FALSE, "ImageNotFound", failure.message)
    elif (
        plan_.running
        and observed is not None
        and observed.state is not base.State.ABSENT
        and (failure is None or observed.config_hash == wanted_hash)
    ):
        # NB: ensure() checks the image before it creates or re-creates a container.
        image = cond(IMAGE_READY, TRUE, "Present")
    else:
        image = unknown(IMAGE_READY, "NotChecked", "the image is checked when the workspace starts")

    # HomeReady
    if observed is None:
        home = unknown(HOME_READY, "Unknown", "the provider could not be asked")
    elif observed.home_exists:
        home = cond(HOME_READY, TRUE, "Present")
    elif failure is not None and failure.image_missing:
        home = cond(HOME_READY, FALSE, "WaitingForImage", "created once the image exists")
    else:
        home = cond(HOME_READY, FALSE, "Missing", "the home volume does not exist yet")

    # ContainerReady
    if observed is None:
        container = unknown(CONTAINER_READY, "Unknown", "the provider could not be asked")
    elif observed.state is base.State.ABSENT and failure is not None and failure.image_missing:
        container = cond(CONTAINER_READY, FALSE, "WaitingForImage", "created once the image exists")
    else:
        container = cond(CONTAINER_READY, *_container_condition(plan_, observed))
    return [image, home, container]


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


def _sane_reason(value: str) -> str:
    """A condition reason as the API accepts it (CamelCase); the agent's is trusted only
    that far."""
    if len(value) <= 1024 and re.fullmatch(formats.REASON.pattern, value):
        return value
    words = re.findall(r"[A-Za-z0-9]+", value)
    camel = "".join(word[:1].upper() + word[1:] for word in words)[:1024]
    return camel if camel and camel[0].isalpha() else "Unknown"


def _this_boot(snapshot: AgentSnapshot | None, observed: base.Observed) -> agent.AgentReport | None:
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
            reason=_sane_reason(reason),
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
    report = _this_boot(outcome.agent, observed)
    if report is None:
        started = observed.started_at
        if started is not None and at - started >= timeouts.agent:
            message = (
                f"the workspace agent has not reported within {_human(timeouts.agent)} of the"
                f" container's start ({_iso(started)}); {AGENT_LOG_HINT}"
            )
            return [cond(t, FALSE, AGENT_NOT_REPORTING, message) for t in AGENT_CONDITIONS]
        message = "waiting for the workspace agent's first report"
        if outcome.agent is not None and outcome.agent.error:
            message += f" (the last one was unreadable: {outcome.agent.error})"
        return [cond(t, UNKNOWN, WAITING_FOR_AGENT, message) for t in AGENT_CONDITIONS]
    if report.updated_at is not None and at - report.updated_at >= timeouts.agent:
        message = (
            f"the workspace agent has not reported since {_iso(report.updated_at)}"
            f" ({_human(at - report.updated_at)} ago); {AGENT_LOG_HINT}"
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


def _agent_blocker(
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
        blocker = _agent_blocker(workspace, agent_conds)
        if blocker is None:
            status, reason, message = TRUE, good, ""
        else:
            status, (reason, message, exempt) = FALSE, blocker
            exempt = exempt or reason == AGENT_NOT_REPORTING
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
            message = f"not {verb} after {_human(limit)}: {message}"
            reason = late
    return conditions.condition(
        previous,
        type_=READY,
        status=status,
        reason=_sane_reason(reason),
        message=message[:32768],
        generation=workspace.metadata.generation,
        at=at,
    )


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
    timeouts: Timeouts = Timeouts(),
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
    report = (
        _this_boot(outcome.agent, observed)
        if observed is not None and observed.state is base.State.RUNNING
        else None
    )
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
        runtime = Runtime(provider=workspace.spec.provider.value, id=observed.runtime_id or None)
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
        started_at=(observed.started_at if observed and observed.started_at else old.started_at),
        last_activity_time=old.last_activity_time,
        stop_reason=stop_reason,
        observed_restarted_at=plan_.restarted_at if acted else old.observed_restarted_at,
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
    timeouts: Timeouts = Timeouts(),
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
            f"not deleted after {_human(timeouts.delete)}: {failure.message}; still retrying."
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


def _iso(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _human(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"
