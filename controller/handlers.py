"""kopf handlers: Workspace, Organization and Team, wired to the reconcilers and providers.

Reconcilers decide (``reconcilers/``), providers act (``providers/``); this module only
connects kopf's causes to them and writes the result back:

Workspace
  - create / update / resume → :func:`reconcile_workspace`: plan, act (stop when
    restarting, then ``provider.ensure``), write the status. A failure is written to the
    status and retried with backoff (1, 2, 4, ... s, at most the resync period).
  - a timer every ``--resync`` seconds → :func:`resync_workspace`: asks the provider what
    it sees; a container stopped or removed behind WWS's back is started or re-created,
    with a Warning event (reason Drift) that says what happened.
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
nothing changed): through kopf's ``patch.status`` in handlers, through the API where no
handler runs (the early Provisioning status, organization counts). The spec is never
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
from typing import Any

import kopf
import pydantic

from api import meta
from api.organization import Organization
from api.team import Team
from api.workspace import Phase, Workspace
from controller import health, kubeapi, metrics, providerpool
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
    locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)
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
        observed = None
        if provider is not None:
            with contextlib.suppress(Exception):
                observed = await asyncio.wait_for(provider.observe(plan.ref), 30)
        return workspace.Outcome(observed, failure)


def _announce(body: kopf.Body, old: Workspace, new_status: Any, outcome: workspace.Outcome) -> None:
    """Events for what people want to know: a new kind of failure, else a new phase."""
    failure, posted = outcome.failure, False
    bound = _bound(body, "Workspace")
    if failure is not None:
        old_ready = meta.find_condition(old.status.conditions, meta.READY)
        if old_ready is None or old_ready.reason != failure.reason:
            bound.warning("reconcile failed", reason=failure.reason, error=failure.message)
            kopf.warn(body, reason=failure.reason, message=failure.message)
            posted = True
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


def _observe_start(
    old: Workspace, new_ready: meta.Condition | None, *, began: datetime.datetime
) -> None:
    """``wws_workspace_start_seconds``: Ready became True with reason Running, from the
    object's creation (a new workspace), from when it stopped being Ready (a failed or
    interrupted start), or from the start of this reconcile (``running: true`` on a stopped
    workspace, which was Ready as Stopped until now)."""
    if new_ready is None or new_ready.status != meta.ConditionStatus.TRUE:
        return
    if new_ready.reason != "Running":
        return
    old_ready = meta.find_condition(old.status.conditions, meta.READY)
    if old_ready is None:
        since = old.metadata.creation_timestamp
    elif old_ready.status != meta.ConditionStatus.TRUE:
        since = old_ready.last_transition_time
    elif old_ready.reason != "Running":
        since = began
    else:
        return
    if since is not None:
        seconds = max(0.0, (datetime.datetime.now(datetime.UTC) - since).total_seconds())
        metrics.WORKSPACE_START_SECONDS.labels(provider=old.spec.provider.value).observe(seconds)


async def _reconcile_workspace(
    ctx: Context, body: kopf.Body, patch: kopf.Patch
) -> workspace.Failure | None:
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
        path = kubeapi.custom_path(
            Workspace, namespace=ws.metadata.namespace, name=ws.metadata.name
        )
        with contextlib.suppress(kubeapi.ApiError):
            await ctx.api.patch_status(path, diff)
            ws = ws.model_copy(update={"status": early})
    outcome = await _act(ctx, ws, plan)
    status = workspace.status_after(ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts)
    if _patch_status(patch, ws.status.to_dict(), status.to_dict()):
        _announce(body, ws, status, outcome)
        _observe_start(original, meta.find_condition(status.conditions, meta.READY), began=began)
        metrics.workspace_seen(
            ws.metadata.uid or "", phase=status.phase, provider=ws.spec.provider.value
        )
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
            failure = await _reconcile_workspace(ctx, body, patch)
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


async def resync_workspace(body: kopf.Body, patch: kopf.Patch, memo: Context, **_: Any) -> None:
    """The timer: find drift and put it right; retry what is not Ready yet."""
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
        converged = (
            observed is not None
            and drift is None
            and not plan.restart
            and ws.status.observed_generation == ws.metadata.generation
            and conditions.holds(ws.status.conditions, meta.READY)
            and (not plan.running or observed.config_hash == plan.desired.effective_config_hash())
        )
        if converged and observed is not None:
            # Only the status may be behind (endpoints, phase); usually this writes nothing.
            status = workspace.status_after(
                ws, plan, workspace.Outcome(observed), at=conditions.now(), timeouts=ctx.timeouts
            )
            _patch_status(patch, ws.status.to_dict(), status.to_dict())
        else:
            if drift is not None:
                _bound(body, "Workspace").warning("drift", drift=drift)
                kopf.warn(body, reason="Drift", message=drift)
            failure = await _reconcile_workspace(ctx, body, patch)
            result = "ok" if failure is None else "retry"
    metrics.RECONCILE_TOTAL.labels(kind="Workspace", result=result).inc()
    metrics.RECONCILE_SECONDS.labels(kind="Workspace").observe(time.monotonic() - started)


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
    try:
        async with ctx.lock(ref.uid):
            provider = await ctx.providers.get(provider_name)
            await asyncio.wait_for(provider.delete(ref), ctx.call_timeout)
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
    bound.info("workspace deleted: container and home removed", uid=ref.uid)


async def workspace_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    """Every watch event: the phase gauge, and a nudge to recount the organizations."""
    ctx = memo
    _keep_indexes(ctx, kwargs)
    uid = body.metadata.uid or ""
    provider = str((body.get("spec") or {}).get("provider") or meta.Provider.PODMAN.value)
    if kwargs.get("type") == "DELETED":
        metrics.workspace_gone(uid)
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
    for task in ctx.background:
        task.cancel()
    for task in ctx.background:
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
