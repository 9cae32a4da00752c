"""kopf handlers: Workspace, Organization and Team, wired to the reconcilers and providers.

Reconcilers decide (``reconcilers/``), providers act (``providers/``); this module only
connects kopf's causes to them and writes the result back:

Workspace
  - create / update / resume → :func:`reconcile_workspace`: plan, act (stop when
    restarting, then ``provider.ensure``), write the status. A failure is written to the
    status and retried with backoff (1, 2, 4, ... s, at most the resync period).
    The agent's config files are built first: the GitHub token from
    ``spec.github.tokenSecretRef``'s Secret, code-server's password from the Secret
    ``<workspace>-code-server`` (made when missing; :mod:`controller.secrets`). After
    ``ensure`` the agent's report is read and merged into the status.
  - a timer every ``--resync`` seconds → :func:`resync_workspace`: asks the provider what
    it sees; a container stopped or removed behind WWS's back is started or re-created,
    with a Warning event (reason Drift) that says what happened. A converged workspace gets
    its Secrets read again (new files reach the agent in place) and its report read.
  - while a running workspace's agent has work in progress for the current generation, a
    follower task (:func:`_follow_agent`) reads its report every quarter of a second (every
    second from ten seconds after the start or change on) and writes the status when the
    report changed (no write otherwise).
  - delete → :func:`delete_workspace`: ``provider.delete`` (container and home), then kopf
    releases the finalizer ``wws.dev/workspace-cleanup``; from any state, Failed included.
    While the provider cannot delete, the status and a Warning event say why, and the
    deletion is retried with backoff (never given up; see the status message for how to
    give up by hand).
  - every watch event → the ``wws_workspaces`` gauge and the organizations' counts.

Organization — create / update / resume: its namespace, its status; the counts of teams and
workspaces are kept current by :func:`refresh_organizations` (after changes, and every resync).
Delete: nothing to clean up (no finalizer); the namespace stays.

Team — create / update / resume: the effective members in the status. Delete: a recount.

The status is written as the smallest merge patch from the current status (nothing when
nothing changed). A Workspace's status is written through the API while its lock is held,
so that the handlers, the resync and the agent's follower write one after the other (kopf's
``patch.status`` would land after the lock is released); kopf's patch carries the other
kinds' status and a Workspace's that cannot be read or is being deleted. The spec is never
written. Handlers return nothing (kopf would put return values into the status, which the
schema prunes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import kopf
import pydantic

from api import meta
from api.organization import Organization
from api.team import Team
from api.workspace import Phase, Workspace, WorkspaceStatus
from controller import health, kubeapi, metrics, providerpool, secrets
from providers import base, registry
from reconcilers import conditions, organization, team, workspace
from wws import logconfig

log = logconfig.get(__name__)

WORKSPACES = (meta.GROUP, meta.VERSION, Workspace.RESOURCE.plural)
ORGANIZATIONS = (meta.GROUP, meta.VERSION, Organization.RESOURCE.plural)
TEAMS = (meta.GROUP, meta.VERSION, Team.RESOURCE.plural)

#: The finalizer kopf keeps on every Workspace until its container and home are deleted.
FINALIZER = f"{meta.GROUP}/workspace-cleanup"


@dataclasses.dataclass
class Context:
    """What every handler shares (kopf's ``memo``)."""

    api: kubeapi.KubeApi
    providers: providerpool.Providers
    readiness: health.Readiness
    resync: float = 30.0
    """Seconds between drift checks of a workspace (``--resync``)."""
    call_timeout: float = 120.0
    """How long one provider call may take before it counts as failed (and is retried)."""
    timeouts: workspace.Timeouts = dataclasses.field(default_factory=workspace.Timeouts)
    agent_poll: float = 1.0
    """Seconds between looks at the agent's report while it has work in progress."""
    agent_poll_fast: float = 0.25
    """... for the first ``agent_fast_window`` seconds after a start or a change (the
    agent's boot steps take a second or two: the user, sshd, code-server)."""
    agent_fast_window: float = 10.0
    follow_limit: float = 600.0
    """How long the agent's report is looked at that often (then: every resync)."""
    public_host: str = "localhost"
    """What stands for a port published on every address (``ssh.publishAddress: 0.0.0.0``)
    in the endpoints: this machine's name."""
    locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)
    followers: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    """uid → the task that follows the workspace's agent while it starts."""
    follow_until: dict[str, float] = dataclasses.field(default_factory=dict)
    fast_until: dict[str, float] = dataclasses.field(default_factory=dict)
    """uid → until when (monotonic) its follower reads the report every ``agent_poll_fast``:
    the first seconds after a start or a change."""
    config_digests: dict[str, str] = dataclasses.field(default_factory=dict)
    """uid → digest of the agent's config files the provider was last given."""
    indexes: dict[str, Any] = dataclasses.field(default_factory=dict)
    """kopf's indexes, kept from the first handler that got them (for the refresh loop)."""
    organizations_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    background: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)

    @contextlib.asynccontextmanager
    async def lock(self, uid: str) -> AsyncIterator[None]:
        """One reconcile of a workspace at a time (handlers and the resync timer)."""
        lock = self.locks.setdefault(uid, asyncio.Lock())
        async with lock:
            yield

    def backoff(self, retry: int) -> float:
        """Seconds before retry number ``retry + 1``: 1, 2, 4, ... up to the resync period."""
        return float(min(self.resync, 2 ** min(retry, 16)))


def _patch_status(patch: kopf.Patch, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Put the merge patch from ``old`` to ``new`` into kopf's ``patch``; False when empty."""
    diff = conditions.merge_patch(old, new)
    for key, value in diff.items():
        patch.status[key] = value
    return bool(diff)


def _bound(body: Mapping[str, Any], kind: str) -> Any:
    metadata = body.get("metadata") or {}
    return logconfig.for_resource(
        log, namespace=metadata.get("namespace"), name=str(metadata.get("name", "")), kind=kind
    )


# --- Workspace ------------------------------------------------------------------------------


def _path_of(ws: Workspace) -> str:
    return kubeapi.custom_path(Workspace, namespace=ws.metadata.namespace, name=ws.metadata.name)


@dataclasses.dataclass(frozen=True)
class _Credentials:
    """What the workspace is given from Secrets: the agent's config files (never in a repr)
    and what was found of the GitHub token."""

    github: workspace.GitHubToken
    files: dict[str, bytes] = dataclasses.field(repr=False)


async def _credentials(ctx: Context, body: kopf.Body, ws: Workspace) -> _Credentials:
    """The GitHub token and code-server's password (made when missing), as the agent's
    config files. Raises :class:`secrets.SecretProblem` when the API server cannot be asked."""
    github = await secrets.github_token(ctx.api, ws)
    password, made = await secrets.code_server_password(ctx.api, ws)
    if made:
        name = workspace.code_server_secret_name(ws.metadata.name)
        _bound(body, "Workspace").info("code-server password secret made", secret=name)
        kopf.info(
            body, reason="SecretCreated", message=f"secret {name} holds code-server's password"
        )
    files = workspace.config_files_of(ws, code_server_password=password, github=github)
    return _Credentials(github=github, files=files)


async def _act(ctx: Context, ws: Workspace, plan: workspace.Plan) -> workspace.Outcome:
    """Do what ``plan`` says through the workspace's provider; never raises."""
    provider: base.Provider | None = None
    try:
        provider = await ctx.providers.get(ws.spec.provider.value)
        if plan.restart:
            await asyncio.wait_for(provider.stop(plan.ref), ctx.call_timeout)
        observed = await asyncio.wait_for(provider.ensure(plan.desired), ctx.call_timeout)
        return workspace.Outcome(observed)
    except Exception as error:  # every failure becomes a condition and a retry
        failure = workspace.failure_of(error, timeout=ctx.call_timeout)
        if failure.reason == "InternalError":
            _bound(ws.to_dict(), "Workspace").exception("reconcile failed unexpectedly")
        return await _observe_only(ctx, ws, plan, failure)


async def _observe_only(
    ctx: Context, ws: Workspace, plan: workspace.Plan, failure: workspace.Failure
) -> workspace.Outcome:
    """The outcome of a failure: what the provider sees, if it can be asked."""
    observed = None
    with contextlib.suppress(Exception):
        provider = await ctx.providers.get(ws.spec.provider.value)
        observed = await asyncio.wait_for(provider.observe(plan.ref), 30)
    return workspace.Outcome(observed, failure)


async def _read_agent(ctx: Context, ws: Workspace, outcome: workspace.Outcome) -> workspace.Outcome:
    """``outcome`` with the agent's report, when the workspace runs."""
    observed = outcome.observed
    if observed is None or observed.state is not base.State.RUNNING:
        return outcome
    try:
        provider = await ctx.providers.get(ws.spec.provider.value)
        raw = await asyncio.wait_for(provider.read_report(workspace.ref_of(ws)), ctx.call_timeout)
    except Exception as error:
        _bound(ws.to_dict(), "Workspace").warning("agent report not read", error=str(error))
        return outcome
    return dataclasses.replace(outcome, agent=workspace.agent_snapshot(raw))


def _announce(
    body: kopf.Body,
    old: Workspace,
    new_status: WorkspaceStatus,
    outcome: workspace.Outcome,
) -> None:
    """Events for what people want to know: a new kind of failure (of the controller's
    steps or the agent's), else a new phase; the workspace turning Ready."""
    failure, posted = outcome.failure, False
    bound = _bound(body, "Workspace")
    if failure is not None:
        old_ready = meta.find_condition(old.status.conditions, meta.READY)
        if old_ready is None or old_ready.reason != failure.reason:
            bound.warning("reconcile failed", reason=failure.reason, error=failure.message)
            kopf.warn(body, reason=failure.reason, message=failure.message)
            posted = True
    said: set[tuple[str, str]] = set()
    for cond in new_status.conditions:
        if cond.type not in _REPORTED or cond.status != meta.ConditionStatus.FALSE:
            continue
        before = meta.find_condition(old.status.conditions, cond.type)
        if before is not None and before.status == cond.status and before.reason == cond.reason:
            continue
        if (cond.reason, cond.message) in said:
            continue  # NB: AgentNotReporting is every agent condition's
        said.add((cond.reason, cond.message))
        bound.warning(
            "condition failed", condition=cond.type, reason=cond.reason, error=cond.message
        )
        kopf.warn(body, reason=cond.reason, message=f"{cond.type}: {cond.message}")
    ready = meta.find_condition(new_status.conditions, meta.READY)
    old_ready = meta.find_condition(old.status.conditions, meta.READY)
    if (
        ready is not None
        and ready.status == meta.ConditionStatus.TRUE
        and ready.reason == "Running"
        and not (
            old_ready is not None
            and old_ready.status == meta.ConditionStatus.TRUE
            and old_ready.reason == "Running"
        )
    ):
        endpoints = new_status.endpoints
        where = [
            f"code-server {endpoints.code_server}" if endpoints.code_server else "",
            endpoints.ssh or "",
        ]
        message = "the workspace is ready" + (
            f": {'; '.join(w for w in where if w)}" if any(where) else ""
        )
        bound.info("workspace ready", generation=old.metadata.generation)
        kopf.info(body, reason="Ready", message=message)
    if new_status.phase != old.status.phase and new_status.phase is not None:
        phase = Phase(new_status.phase)
        bound.info("phase changed", old_phase=old.status.phase, phase=phase.value)
        if posted and phase is not Phase.FAILED:
            return
        message = new_status.message or f"the workspace is {phase.value.lower()}"
        if phase in (Phase.FAILED, Phase.PENDING):
            kopf.warn(body, reason=phase.value, message=message)
        else:
            kopf.info(body, reason=phase.value, message=message)


#: Conditions whose turning False is announced with an event of their own (the controller's
#: steps are announced through Ready's failure and the phase).
_REPORTED = frozenset({*workspace.AGENT_CONDITIONS, workspace.GITHUB_READY})


def _observe_start(
    old: Workspace, new_status: WorkspaceStatus, *, began: datetime.datetime
) -> None:
    """``wws_workspace_start_seconds``: Ready became True with reason Running, from the
    object's creation (a new workspace), from when it stopped being Ready (a failed or
    interrupted start), or from the start of this reconcile (``running: true`` on a stopped
    workspace, which was Ready as Stopped until now). A change the agent applied in place
    (Ready False while the container ran on) is no start."""
    new_ready = meta.find_condition(new_status.conditions, meta.READY)
    if new_ready is None or new_ready.status != meta.ConditionStatus.TRUE:
        return
    if new_ready.reason != "Running":
        return
    old_ready = meta.find_condition(old.status.conditions, meta.READY)
    old_container = meta.find_condition(old.status.conditions, workspace.CONTAINER_READY)
    if old_ready is None:
        since = old.metadata.creation_timestamp
    elif old_ready.status != meta.ConditionStatus.TRUE:
        if (
            old_container is not None
            and old_container.status == meta.ConditionStatus.TRUE
            and old_container.last_transition_time < old_ready.last_transition_time
        ):
            return
        since = old_ready.last_transition_time
    elif old_ready.reason != "Running":
        since = began
    else:
        return
    if since is not None:
        seconds = max(0.0, (datetime.datetime.now(datetime.UTC) - since).total_seconds())
        metrics.WORKSPACE_START_SECONDS.labels(provider=old.spec.provider.value).observe(seconds)


async def _write_status(
    ctx: Context,
    body: kopf.Body,
    ws: Workspace,
    status: WorkspaceStatus,
    outcome: workspace.Outcome,
    *,
    began: datetime.datetime,
    original: Workspace | None = None,
) -> bool:
    """Write the smallest merge patch from ``ws.status`` to ``status`` through the API (the
    caller holds the workspace's lock, so the agent's follower and the handlers write one
    after the other); then the events and metrics. False when nothing changed."""
    diff = conditions.merge_patch(ws.status.to_dict(), status.to_dict())
    if not diff:
        return False
    await ctx.api.patch_status(_path_of(ws), diff)
    _announce(body, ws, status, outcome)
    _observe_start(original or ws, status, began=began)
    metrics.workspace_seen(
        ws.metadata.uid or "", phase=status.phase, provider=ws.spec.provider.value
    )
    return True


def _container_converged(
    ws: Workspace, plan: workspace.Plan, observed: base.Observed | None
) -> bool:
    """The container is as the spec asks and the status says so already: only the agent's
    side (and endpoints, the deadlines) may be behind."""
    if observed is None or plan.restart:
        return False
    if workspace.drift(plan, ws.status, observed) is not None:
        return False
    if ws.status.observed_generation != ws.metadata.generation:
        return False
    if not plan.running:
        return conditions.holds(ws.status.conditions, meta.READY)
    return (
        observed.state is base.State.RUNNING
        and observed.config_hash == plan.desired.effective_config_hash()
        and conditions.holds(ws.status.conditions, workspace.CONTAINER_READY)
    )


async def _reconcile_workspace(ctx: Context, body: kopf.Body) -> workspace.Failure | None:
    """One whole reconcile (the caller holds the workspace's lock); the failure, if any."""
    began = datetime.datetime.now(datetime.UTC)
    ws = original = Workspace.model_validate(body)
    if ws.metadata.deletion_timestamp is not None:
        return None  # NB: being deleted: never re-create what the delete handler removes
    plan = workspace.plan(ws)
    if ws.status.phase is None and plan.running:
        # A new workspace: say it is accepted before the provider is asked.
        early = workspace.provisioning_status(ws, plan, at=conditions.now())
        diff = conditions.merge_patch(ws.status.to_dict(), early.to_dict())
        with contextlib.suppress(kubeapi.ApiError):
            await ctx.api.patch_status(_path_of(ws), diff)
            ws = ws.model_copy(update={"status": early})
    try:
        credentials = await _credentials(ctx, body, ws)
    except secrets.SecretProblem as problem:
        outcome = await _observe_only(
            ctx, ws, plan, workspace.Failure(problem.reason, str(problem))
        )
    else:
        plan = workspace.plan(ws, config_files=credentials.files)
        outcome = await _act(ctx, ws, plan)
        outcome = dataclasses.replace(outcome, github=credentials.github)
        if outcome.failure is None:
            ctx.config_digests[ws.metadata.uid or ""] = workspace.files_digest(credentials.files)
    outcome = await _read_agent(ctx, ws, outcome)
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await _write_status(ctx, body, ws, status, outcome, began=began, original=original)
    _follow_if_needed(ctx, ws, plan, status)
    return outcome.failure


def _invalid(body: Mapping[str, Any], patch: kopf.Patch, error: pydantic.ValidationError) -> None:
    """A stored object the models refuse (e.g. written under an older schema)."""
    message = f"the workspace cannot be read: {error.errors()[0].get('msg', error)}"
    generation = (body.get("metadata") or {}).get("generation")
    ready = meta.Condition(
        type=meta.READY,
        status=meta.ConditionStatus.FALSE,
        reason="InvalidSpec",
        message=message,
        last_transition_time=conditions.now(),
        observed_generation=generation,
    )
    patch.status["phase"] = Phase.FAILED.value
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = [ready.to_dict()]
    patch.status["message"] = message


def _warn_unsupported(body: kopf.Body) -> None:
    """Say so when the spec asks for what this controller does not do yet, before it
    matters (an event on create, update and resume)."""
    spec = body.get("spec") or {}
    if (spec.get("home") or {}).get("retention"):
        kopf.warn(
            body,
            reason="RetentionUnsupported",
            message=(
                "spec.home.retention is not supported yet: deleting this workspace deletes"
                " its home at once"
            ),
        )


async def reconcile_workspace(
    body: kopf.Body, patch: kopf.Patch, retry: int, memo: Context, **_: Any
) -> None:
    """create / update / resume of a Workspace."""
    ctx = memo
    started = time.monotonic()
    result = "ok"
    if retry == 0:
        _warn_unsupported(body)
    try:
        async with ctx.lock(body.metadata.uid or ""):
            failure = await _reconcile_workspace(ctx, body)
        if failure is not None:
            result = "retry"
            raise kopf.TemporaryError(failure.message, delay=ctx.backoff(retry))
    except pydantic.ValidationError as error:
        _invalid(body, patch, error)
        result = "error"
        raise kopf.PermanentError(str(error)) from error
    except kopf.TemporaryError:
        raise
    except Exception:
        result = "error"
        raise
    finally:
        metrics.RECONCILE_TOTAL.labels(kind="Workspace", result=result).inc()
        metrics.RECONCILE_SECONDS.labels(kind="Workspace").observe(time.monotonic() - started)


async def _refresh(
    ctx: Context, body: kopf.Body, ws: Workspace, plan: workspace.Plan, observed: base.Observed
) -> None:
    """The resync of a converged workspace: Secrets read again (a new token reaches the
    agent), the agent's report read, the status brought up to date (usually no write)."""
    began = datetime.datetime.now(datetime.UTC)
    uid = ws.metadata.uid or ""
    outcome = workspace.Outcome(observed)
    try:
        credentials = await _credentials(ctx, body, ws)
    except secrets.SecretProblem as problem:
        outcome = workspace.Outcome(observed, workspace.Failure(problem.reason, str(problem)))
    else:
        outcome = dataclasses.replace(outcome, github=credentials.github)
        digest = workspace.files_digest(credentials.files)
        if ctx.config_digests.get(uid) != digest:
            # NB: ensure() of a converged workspace only rewrites the agent's files.
            acted = await _act(ctx, ws, workspace.plan(ws, config_files=credentials.files))
            if acted.failure is None:
                ctx.config_digests[uid] = digest
                outcome = dataclasses.replace(outcome, observed=acted.observed)
            else:
                outcome = dataclasses.replace(acted, github=credentials.github)
    outcome = await _read_agent(ctx, ws, outcome)
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await _write_status(ctx, body, ws, status, outcome, began=began)
    _follow_if_needed(ctx, ws, plan, status)


async def resync_workspace(body: kopf.Body, memo: Context, **_: Any) -> None:
    """The timer: find drift and put it right; retry what is not Ready yet; read the
    Secrets and the agent's report again."""
    ctx = memo
    started = time.monotonic()
    try:
        ws = Workspace.model_validate(body)
    except pydantic.ValidationError:
        return  # the handlers have said so in the status
    if ws.metadata.deletion_timestamp is not None:
        return
    plan = workspace.plan(ws)
    result = "ok"
    async with ctx.lock(ws.metadata.uid or ""):
        try:
            provider = await ctx.providers.get(ws.spec.provider.value)
            observed = await asyncio.wait_for(provider.observe(plan.ref), ctx.call_timeout)
        except Exception:
            observed = None
        drift = workspace.drift(plan, ws.status, observed) if observed is not None else None
        try:
            if _container_converged(ws, plan, observed) and observed is not None:
                await _refresh(ctx, body, ws, plan, observed)
            else:
                if drift is not None:
                    _bound(body, "Workspace").warning("drift", drift=drift)
                    kopf.warn(body, reason="Drift", message=drift)
                failure = await _reconcile_workspace(ctx, body)
                result = "ok" if failure is None else "retry"
        except Exception as error:
            result = "retry"
            _bound(body, "Workspace").warning("resync failed", error=str(error))
    metrics.RECONCILE_TOTAL.labels(kind="Workspace", result=result).inc()
    metrics.RECONCILE_SECONDS.labels(kind="Workspace").observe(time.monotonic() - started)


# --- following the agent while it starts ---------------------------------------------------


def _follow_if_needed(
    ctx: Context, ws: Workspace, plan: workspace.Plan, status: WorkspaceStatus
) -> None:
    """Watch the agent's report closely while the workspace runs and the agent has work in
    progress for this generation."""
    if not plan.running or not conditions.holds(status.conditions, workspace.CONTAINER_READY):
        return
    if workspace.agent_settled(ws, status):
        return
    uid = ws.metadata.uid or ""
    now = time.monotonic()
    ctx.follow_until[uid] = now + ctx.follow_limit
    ctx.fast_until[uid] = now + ctx.agent_fast_window
    task = ctx.followers.get(uid)
    if task is not None and not task.done():
        return
    ref = workspace.ref_of(ws)
    ctx.followers[uid] = asyncio.create_task(
        _follow_agent(ctx, ref, ws.spec.provider.value), name=f"agent {ref.namespace}/{ref.name}"
    )


def _unfollow(ctx: Context, uid: str) -> None:
    task = ctx.followers.pop(uid, None)
    ctx.follow_until.pop(uid, None)
    ctx.fast_until.pop(uid, None)
    if task is not None and task is not asyncio.current_task():
        task.cancel()


#: A follower brings the status up to date at least this often (deadlines), also when the
#: report did not change.
FOLLOW_REFRESH_SECONDS = 5.0


async def _follow_agent(ctx: Context, ref: base.WorkspaceRef, provider_name: str) -> None:
    """Read the agent's report every ``ctx.agent_poll`` seconds (``agent_poll_fast`` at
    first); when it changed, bring the status up to date (one GET, one inspect, a patch
    only when something changed). Ends when the agent has settled, the workspace stops or
    goes, or after ``ctx.follow_limit`` seconds without news (the resync timer keeps
    reading the report)."""
    uid = ref.uid
    last_fingerprint: str | None = None
    last_refresh = 0.0
    bound = logconfig.for_resource(log, namespace=ref.namespace, name=ref.name, kind="Workspace")
    try:
        while time.monotonic() < ctx.follow_until.get(uid, 0.0):
            fast = time.monotonic() < ctx.fast_until.get(uid, 0.0)
            await asyncio.sleep(ctx.agent_poll_fast if fast else ctx.agent_poll)
            provider = await ctx.providers.get(provider_name)
            raw = await asyncio.wait_for(provider.read_report(ref), ctx.call_timeout)
            fingerprint = workspace.report_fingerprint(raw)
            now = time.monotonic()
            if fingerprint == last_fingerprint and now - last_refresh < FOLLOW_REFRESH_SECONDS:
                continue
            last_fingerprint, last_refresh = fingerprint, now
            async with ctx.lock(uid):
                settled = await _refresh_from_agent(ctx, ref)
            if settled is not False:
                break
    except asyncio.CancelledError:
        raise
    except Exception as error:
        bound.warning("following the agent's report failed; the resync goes on", error=str(error))
    finally:
        if ctx.followers.get(uid) is asyncio.current_task():
            del ctx.followers[uid]


async def _refresh_from_agent(ctx: Context, ref: base.WorkspaceRef) -> bool | None:
    """One look of the follower: True when the agent has settled, False when not (or the
    container is not converged yet: the handlers are at it), None when there is nothing to
    follow any more."""
    path = kubeapi.custom_path(Workspace, namespace=ref.namespace, name=ref.name)
    try:
        body = kopf.Body(cast(kopf.RawBody, await ctx.api.request("GET", path)))
    except kubeapi.ApiError as error:
        if error.status == 404:
            return None
        raise
    try:
        ws = Workspace.model_validate(body)
    except pydantic.ValidationError:
        return None
    if ws.metadata.uid != ref.uid or ws.metadata.deletion_timestamp is not None:
        return None
    plan = workspace.plan(ws)
    if not plan.running:
        return None
    provider = await ctx.providers.get(ws.spec.provider.value)
    observed = await asyncio.wait_for(provider.observe(ref), ctx.call_timeout)
    if not _container_converged(ws, plan, observed):
        return False
    outcome = await _read_agent(ctx, ws, workspace.Outcome(observed))
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await _write_status(ctx, body, ws, status, outcome, began=datetime.datetime.now(datetime.UTC))
    return workspace.agent_settled(ws, status)


def _ref_from_body(body: Mapping[str, Any]) -> base.WorkspaceRef:
    metadata = body.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "")
    return base.WorkspaceRef(
        namespace=namespace,
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        organization=namespace,
    )


async def delete_workspace(
    body: kopf.Body, patch: kopf.Patch, retry: int, memo: Context, **_: Any
) -> None:
    """Delete the container and the home; kopf then releases the finalizer."""
    ctx = memo
    bound = _bound(body, "Workspace")
    ref = _ref_from_body(body)
    provider_name = str((body.get("spec") or {}).get("provider") or meta.Provider.PODMAN.value)
    started = time.monotonic()
    _unfollow(ctx, ref.uid)
    try:
        async with ctx.lock(ref.uid):
            provider = await ctx.providers.get(provider_name)
            await asyncio.wait_for(provider.delete(ref), ctx.call_timeout)
            if await secrets.delete_code_server_secret(
                ctx.api, namespace=ref.namespace, name=ref.name, uid=ref.uid
            ):
                bound.info("code-server password secret deleted")
    except registry.UnknownProvider:
        # Nothing can have been made by a provider that is not installed.
        bound.warning("provider not installed: nothing to delete", provider=provider_name)
    except Exception as error:
        failure = workspace.failure_of(error, timeout=ctx.call_timeout)
        bound.warning("delete failed; retrying", reason=failure.reason, error=failure.message)
        with contextlib.suppress(pydantic.ValidationError):
            ws = Workspace.model_validate(body)
            status = workspace.deleting_status(
                ws, failure, at=conditions.now(), timeouts=ctx.timeouts
            )
            _patch_status(patch, ws.status.to_dict(), status.to_dict())
            metrics.workspace_seen(ref.uid, phase=Phase.DELETING, provider=provider_name)
        kopf.warn(body, reason="DeleteFailed", message=failure.message)
        metrics.RECONCILE_TOTAL.labels(kind="Workspace", result="retry").inc()
        raise kopf.TemporaryError(failure.message, delay=ctx.backoff(retry)) from error
    finally:
        metrics.RECONCILE_SECONDS.labels(kind="Workspace").observe(time.monotonic() - started)
    metrics.RECONCILE_TOTAL.labels(kind="Workspace", result="ok").inc()
    ctx.locks.pop(ref.uid, None)
    ctx.config_digests.pop(ref.uid, None)
    bound.info("workspace deleted: container and home removed", uid=ref.uid)


async def workspace_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    """Every watch event: the phase gauge, and a nudge to recount the organizations."""
    ctx = memo
    _keep_indexes(ctx, kwargs)
    uid = body.metadata.uid or ""
    provider = str((body.get("spec") or {}).get("provider") or meta.Provider.PODMAN.value)
    if kwargs.get("type") == "DELETED":
        metrics.workspace_gone(uid)
        _unfollow(ctx, uid)
        ctx.config_digests.pop(uid, None)
    else:
        phase = (body.get("status") or {}).get("phase")
        metrics.workspace_seen(uid, phase=phase, provider=provider)
    ctx.organizations_changed.set()


async def workspaces_index(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, str]:
    """Index ``wws_workspaces``: namespace → phase of each of its Workspaces."""
    phase = (body.get("status") or {}).get("phase") or Phase.PENDING.value
    return {namespace or "": str(phase)}


# --- Organization and Team -----------------------------------------------------------------


async def teams_index(namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Index ``wws_teams``: namespace → name of each of its Teams."""
    return {namespace or "": name}


async def organizations_index(name: str, **_: Any) -> dict[str, str]:
    """Index ``wws_organizations``: the names of the Organizations."""
    return {name: name}


def _keep_indexes(ctx: Context, kwargs: Mapping[str, Any]) -> None:
    if not ctx.indexes:
        for key in ("wws_workspaces", "wws_teams", "wws_organizations"):
            if key in kwargs:
                ctx.indexes[key] = kwargs[key]


def _counts(ctx: Context, namespace: str) -> organization.Counts:
    workspaces = ctx.indexes.get("wws_workspaces")
    teams = ctx.indexes.get("wws_teams")
    phases = list(workspaces.get(namespace, ())) if workspaces is not None else []
    return organization.Counts(
        teams=len(list(teams.get(namespace, ()))) if teams is not None else 0,
        workspaces=len(phases),
        running_workspaces=sum(1 for phase in phases if phase == Phase.RUNNING.value),
    )


async def reconcile_organization(
    body: kopf.Body, patch: kopf.Patch, retry: int, memo: Context, **kwargs: Any
) -> None:
    """create / update / resume of an Organization: its namespace and its status."""
    ctx = memo
    _keep_indexes(ctx, kwargs)
    started = time.monotonic()
    org = Organization.model_validate(body)
    bound = _bound(body, "Organization")
    namespace = organization.namespace_of(org)
    error_text: str | None = None
    try:
        if await ctx.api.ensure_namespace(namespace, labels=organization.namespace_labels(org)):
            bound.info("namespace created", namespace_created=namespace)
            kopf.info(body, reason="NamespaceCreated", message=f"namespace {namespace}")
    except Exception as error:
        error_text = str(error)
    status = organization.status_of(
        org, counts=_counts(ctx, namespace), namespace_error=error_text, at=conditions.now()
    )
    _patch_status(patch, org.status.to_dict(), status.to_dict())
    metrics.RECONCILE_SECONDS.labels(kind="Organization").observe(time.monotonic() - started)
    if error_text is not None:
        metrics.RECONCILE_TOTAL.labels(kind="Organization", result="retry").inc()
        kopf.warn(body, reason="NamespaceFailed", message=error_text)
        raise kopf.TemporaryError(error_text, delay=ctx.backoff(retry))
    metrics.RECONCILE_TOTAL.labels(kind="Organization", result="ok").inc()


async def refresh_organizations(ctx: Context) -> None:
    """Bring every Organization's counts up to date and re-create a namespace that went
    missing (after a burst of changes, and every resync period)."""
    orgs = ctx.indexes.get("wws_organizations")
    if orgs is None:
        return
    for name in list(orgs):
        path = kubeapi.custom_path(Organization, name=name)
        try:
            org = Organization.model_validate(await ctx.api.request("GET", path))
            namespace = organization.namespace_of(org)
            if not await ctx.api.namespace_exists(namespace):
                await ctx.api.ensure_namespace(namespace, labels=organization.namespace_labels(org))
                log.warning("namespace re-created", name=name, namespace=namespace)
            diff = organization.counts_patch(org, _counts(ctx, namespace))
            if diff:
                await ctx.api.patch_status(path, diff)
        except kubeapi.ApiError as error:
            if error.status != 404:
                log.warning("organization refresh failed", name=name, error=str(error))
        except Exception as error:
            log.warning("organization refresh failed", name=name, error=str(error))


async def organizations_loop(ctx: Context) -> None:
    """Recount after changes (batched over a second) and at least every resync period."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.organizations_changed.wait(), ctx.resync)
        await asyncio.sleep(1.0)
        ctx.organizations_changed.clear()
        await refresh_organizations(ctx)


async def team_event(memo: Context, **kwargs: Any) -> None:
    _keep_indexes(memo, kwargs)
    memo.organizations_changed.set()


async def reconcile_team(body: kopf.Body, patch: kopf.Patch, memo: Context, **kwargs: Any) -> None:
    """create / update / resume of a Team: its effective members."""
    _keep_indexes(memo, kwargs)
    started = time.monotonic()
    item = Team.model_validate(body)
    status = team.status_of(item, at=conditions.now())
    _patch_status(patch, item.status.to_dict(), status.to_dict())
    metrics.RECONCILE_TOTAL.labels(kind="Team", result="ok").inc()
    metrics.RECONCILE_SECONDS.labels(kind="Team").observe(time.monotonic() - started)


async def organization_deleted(body: kopf.Body, memo: Context, **_: Any) -> None:
    """An Organization is gone: its namespace (and what is in it) stays; say so."""
    name = body.metadata.name or ""
    _bound(body, "Organization").info(
        "organization deleted; its namespace is kept (delete it to delete its workspaces)",
        kept_namespace=name,
    )


async def team_deleted(memo: Context, **_: Any) -> None:
    """A Team is gone: recount its organization."""
    memo.organizations_changed.set()


# --- start: the orphan sweep ---------------------------------------------------------------


async def sweep_orphans(ctx: Context) -> list[base.ManagedObject]:
    """Remove what a provider holds for Workspaces that no longer exist.

    An object is an orphan when its Workspace UID is unknown *and* its namespace exists in
    this API server: objects of namespaces this server does not know (another store, another
    cluster sharing the runtime, a store restored empty) are left alone, so pointing a
    controller at the wrong API server never deletes homes. NB: the runtime is listed
    before the Workspaces, so a workspace created meanwhile is always in the list.
    """
    removed: list[base.ManagedObject] = []
    for name in ctx.providers.available():
        try:
            provider = await ctx.providers.get(name)
            managed = await provider.list_managed()
        except Exception as error:
            log.warning("orphan sweep skipped", provider=name, error=str(error))
            continue
        workspaces = await ctx.api.list(kubeapi.custom_path(Workspace))
        known = {str(item["metadata"].get("uid")) for item in workspaces}
        namespaces = {
            str(item["metadata"]["name"]) for item in await ctx.api.list("/api/v1/namespaces")
        }
        orphans = {
            obj.uid: obj
            for obj in managed
            if obj.uid and obj.uid not in known and obj.namespace in namespaces
        }
        for uid, obj in orphans.items():
            ref = base.WorkspaceRef(
                namespace=obj.namespace,
                name=obj.workspace,
                uid=uid,
                organization=obj.organization or obj.namespace,
            )
            try:
                await asyncio.wait_for(provider.delete(ref), ctx.call_timeout)
            except Exception as error:
                log.warning(
                    "orphan not removed",
                    namespace=obj.namespace,
                    name=obj.workspace,
                    uid=uid,
                    error=str(error),
                )
                continue
            log.info(
                "orphan removed",
                provider=name,
                namespace=obj.namespace,
                name=obj.workspace,
                uid=uid,
            )
            removed.append(obj)
    return removed


async def _sweep_until_done(ctx: Context) -> None:
    delay = 1.0
    while True:
        try:
            await sweep_orphans(ctx)
            break
        except Exception as error:
            log.warning("orphan sweep failed; retrying", error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, ctx.resync)
    ctx.readiness.swept.set()


async def startup(memo: Context, **_: Any) -> None:
    """Start the background work: the orphan sweep and the organizations' counts."""
    ctx = memo
    metrics.known_providers(ctx.providers.available())
    ctx.background.append(asyncio.create_task(_sweep_until_done(ctx), name="orphan sweep"))
    ctx.background.append(asyncio.create_task(organizations_loop(ctx), name="organizations"))


async def cleanup(memo: Context, **_: Any) -> None:
    ctx = memo
    ctx.readiness.stopping = True
    tasks = [*ctx.background, *ctx.followers.values()]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


# --- registration ---------------------------------------------------------------------------


def register(reg: kopf.OperatorRegistry, *, resync: float) -> None:
    """Register every handler of the controller in ``reg``."""
    kopf.on.startup(registry=reg)(startup)
    kopf.on.cleanup(registry=reg)(cleanup)

    kopf.index(*WORKSPACES, id="wws_workspaces", registry=reg)(workspaces_index)
    kopf.index(*TEAMS, id="wws_teams", registry=reg)(teams_index)
    kopf.index(*ORGANIZATIONS, id="wws_organizations", registry=reg)(organizations_index)

    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(*WORKSPACES, id="reconcile", registry=reg)(reconcile_workspace)
        on(*ORGANIZATIONS, id="reconcile", registry=reg)(reconcile_organization)
        on(*TEAMS, id="reconcile", registry=reg)(reconcile_team)
    kopf.on.delete(*WORKSPACES, id="cleanup", registry=reg)(delete_workspace)
    # NB: optional: no finalizer, nothing external to clean up for these two kinds.
    kopf.on.delete(*ORGANIZATIONS, id="deleted", optional=True, registry=reg)(organization_deleted)
    kopf.on.delete(*TEAMS, id="deleted", optional=True, registry=reg)(team_deleted)
    kopf.timer(*WORKSPACES, id="resync", interval=resync, initial_delay=resync, registry=reg)(
        resync_workspace
    )
    kopf.on.event(*WORKSPACES, id="observe", registry=reg)(workspace_event)
    kopf.on.event(*TEAMS, id="observe", registry=reg)(team_event)
