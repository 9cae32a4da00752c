"""The Workspace handlers: create / update / resume, the resync, delete, and every watch event.

- create / update / resume → :func:`reconcile_workspace`: plan, act (stop when restarting,
  then ``provider.ensure``), write the status. A failure is written to the status and
  retried with backoff (1, 2, 4, ... s, at most the resync period). The agent's config
  files are built first: the GitHub token from ``spec.github.tokenSecretRef``'s Secret,
  code-server's password from the Secret ``<workspace>-code-server`` (made when missing;
  :mod:`controller.secrets`). After ``ensure`` the agent's report is read and merged into
  the status; while the agent has work in progress, :mod:`controller.follower` follows it.
- a closer look → :func:`resync_workspace`, when :mod:`controller.runtime` asks for one (the
  runtime reported a change, a listing found the workspace not as its status says, its agent
  wrote a report, a Secret it reads changed): asks the provider what it sees; a container
  stopped or removed behind WWS's back is started or re-created, with a Warning event
  (reason Drift) that says what happened. A converged workspace gets its report read (and
  its Secrets, after a Secret changed: new files reach the agent in place).
- delete → :func:`delete_workspace`: ``provider.delete`` (container and home), then kopf
  releases the finalizer ``wws.dev/workspace-cleanup``; from any state, Failed included.
  While the provider cannot delete, the status and a Warning event say why, and the
  deletion is retried with backoff (never given up; see the status message for how to
  give up by hand).
- every watch event → the cache of Workspaces, the ``wws_workspaces`` gauge and the
  organizations' counts.

The status is written as the smallest merge patch from the current status (nothing when
nothing changed), through the API while the workspace's lock is held, so that the
handlers, the resync and the agent's follower write one after the other (kopf's
``patch.status`` would land after the lock is released); kopf's patch carries the status
of a Workspace that cannot be read or is being deleted. The spec is never written.
Handlers return nothing (kopf would put return values into the status, which the schema
prunes).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pydantic

from api import meta
from api.workspace import Phase, Workspace
from controller import (
    cache,
    follower,
    idle,
    kubeapi,
    metrics,
    quotas,
    retention,
    secrets,
    slots,
    steps,
    switching,
)
from controller.context import Context, bound, patch_status
from providers import base, registry
from reconcilers import conditions, workspace


async def reconcile_locked(
    ctx: Context, body: kopf.Body, *, idle_stop: bool = False
) -> workspace.Failure | None:
    """One whole reconcile (the caller holds the workspace's lock); the failure, if any.
    ``idle_stop``: stop it for idleness (:mod:`controller.idlestop`)."""
    return await _reconcile_workspace(ctx, body, idle_stop=idle_stop)


async def _reconcile_workspace(
    ctx: Context, body: kopf.Body, *, idle_stop: bool = False
) -> workspace.Failure | None:
    """One whole reconcile (the caller holds the workspace's lock); the failure, if any."""
    began = datetime.datetime.now(datetime.UTC)
    ws = original = Workspace.model_validate(body)
    if ws.metadata.deletion_timestamp is not None:
        return None  # NB: being deleted: never re-create what the delete handler removes
    refusal = quotas.refusal(ctx, body)
    group = quotas.network_group(ctx, body)
    plan = workspace.plan(ws, refusal=refusal, idle=idle_stop, network_group=group)
    if ws.status.phase is None and plan.running:
        # A new workspace: say it is accepted before the provider is asked.
        early = workspace.provisioning_status(ws, plan, at=conditions.now())
        diff = conditions.merge_patch(ws.status.to_dict(), early.to_dict())
        with contextlib.suppress(kubeapi.ApiError):
            await ctx.api.patch_status(steps.path_of(ws), diff)
            ws = ws.model_copy(update={"status": early})
    try:
        credentials = await steps.credentials(
            ctx, body, ws, with_password=steps.needs_password(ws, plan)
        )
    except secrets.SecretProblem as problem:
        outcome = await steps.observe_only(
            ctx, ws, plan, workspace.Failure(problem.reason, str(problem))
        )
    else:
        plan = workspace.plan(
            ws,
            config_files=credentials.files,
            refusal=refusal,
            idle=idle_stop,
            network_group=group,
        )
        await _restore_home(ctx, body, ws)
        moved = await switching.switch_if_needed(ctx, body, ws, plan)
        outcome = moved if moved is not None else await steps.act(ctx, ws, plan)
        outcome = dataclasses.replace(outcome, github=credentials.github)
        if outcome.failure is None:
            ctx.config_digests[ws.metadata.uid or ""] = workspace.files_digest(credentials.files)
    outcome = await steps.read_agent(ctx, ws, outcome)
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await steps.write_status(ctx, body, ws, status, outcome, began=began, original=original)
    follower.follow_if_needed(ctx, ws, plan, status)
    return outcome.failure


async def _restore_home(ctx: Context, body: kopf.Body, ws: Workspace) -> None:
    """A workspace that never had a home gets the retained one of its namespace, name and
    owner (:mod:`controller.retention`), before it first starts."""
    if ws.status.started_at is not None or conditions.holds(
        ws.status.conditions, workspace.HOME_READY
    ):
        return
    try:
        provider = await ctx.providers.get(ws.spec.provider.value)
        await retention.restore(ctx, provider, ws, body)
    except Exception as error:
        bound(body, "Workspace").warning("retained home not restored", error=str(error))
        kopf.warn(body, reason="HomeRestoreFailed", message=str(error))


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


async def reconcile_workspace(
    body: kopf.Body, patch: kopf.Patch, retry: int, memo: Context, **_: Any
) -> None:
    """create / update / resume of a Workspace."""
    ctx = memo
    started = time.monotonic()
    result = "ok"
    try:
        async with (
            ctx.admission.hold(
                provider=slots.ADMISSION,
                host=slots.ADMISSION,
                organization=body.metadata.namespace or "",
            ),
            ctx.lock(body.metadata.uid or ""),
        ):
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
    ctx: Context,
    body: kopf.Body,
    ws: Workspace,
    plan: workspace.Plan,
    observed: base.Observed,
    *,
    credentials: bool,
) -> None:
    """A closer look at a converged workspace: with ``credentials``, its Secrets read again
    (a new token reaches the agent); the agent's report read, the status brought up to date
    (usually no write)."""
    began = datetime.datetime.now(datetime.UTC)
    uid = ws.metadata.uid or ""
    outcome = workspace.Outcome(observed)
    if credentials:
        try:
            found = await steps.credentials(
                ctx, body, ws, with_password=steps.needs_password(ws, plan)
            )
        except secrets.SecretProblem as problem:
            outcome = workspace.Outcome(observed, workspace.Failure(problem.reason, str(problem)))
        else:
            outcome = dataclasses.replace(outcome, github=found.github)
            digest = workspace.files_digest(found.files)
            if ctx.config_digests.get(uid) != digest:
                # NB: ensure() of a converged workspace only rewrites the agent's files.
                again = workspace.plan(
                    ws,
                    config_files=found.files,
                    refusal=plan.refusal,
                    network_group=plan.desired.network_group,
                )
                acted = await steps.act(ctx, ws, again)
                if acted.failure is None:
                    ctx.config_digests[uid] = digest
                    outcome = dataclasses.replace(outcome, observed=acted.observed)
                else:
                    outcome = dataclasses.replace(acted, github=found.github)
    outcome = await steps.read_agent(ctx, ws, outcome)
    status = workspace.status_after(
        ws, plan, outcome, at=conditions.now(), timeouts=ctx.timeouts, public_host=ctx.public_host
    )
    await steps.write_status(ctx, body, ws, status, outcome, began=began)
    follower.follow_if_needed(ctx, ws, plan, status)


async def resync_workspace(
    ctx: Context, *, namespace: str, name: str, uid: str, credentials: bool = False
) -> None:
    """A closer look (asked for by a runtime event, a listing, the agent or a Secret): find
    drift and put it right; retry what is not Ready yet; bring the status up to date
    (written only when it changed). ``credentials``: read the Secrets again too. The
    Workspace is read under its lock, so what a reconcile just wrote is seen."""
    started = time.monotonic()
    result = "ok"
    async with ctx.lock(uid):
        path = kubeapi.custom_path(Workspace, namespace=namespace, name=name)
        try:
            body = kopf.Body(cast(kopf.RawBody, await ctx.api.request("GET", path)))
            ws = Workspace.model_validate(body)
        except kubeapi.ApiError as error:
            if error.status == 404:
                return
            raise
        except pydantic.ValidationError:
            return  # the handlers have said so in the status
        if ws.metadata.uid != uid or ws.metadata.deletion_timestamp is not None:
            return
        plan = workspace.plan(
            ws, refusal=quotas.refusal(ctx, body), network_group=quotas.network_group(ctx, body)
        )
        try:
            provider = await ctx.providers.get(ws.spec.provider.value)
            observed = await asyncio.wait_for(provider.observe(plan.ref), ctx.call_timeout)
        except Exception:
            observed = None
        drift = workspace.drift(plan, ws.status, observed) if observed is not None else None
        converged = workspace.container_converged(ws, plan, observed)
        try:
            if converged and observed is not None:
                await _refresh(ctx, body, ws, plan, observed, credentials=credentials)
            else:
                if drift is not None:
                    bound(body, "Workspace").warning("drift", drift=drift)
                    kopf.warn(body, reason="Drift", message=drift)
                failure = await _reconcile_workspace(ctx, body)
                result = "ok" if failure is None else "retry"
        except Exception as error:
            result = "retry"
            bound(body, "Workspace").warning("resync failed", error=str(error))
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
    logger = bound(body, "Workspace")
    ref = _ref_from_body(body)
    provider_name = str((body.get("spec") or {}).get("provider") or meta.Provider.PODMAN.value)
    started = time.monotonic()
    follower.unfollow(ctx, ref.uid)
    try:
        async with ctx.lock(ref.uid):
            provider = await ctx.providers.get(provider_name)
            async with ctx.slots.hold(
                provider=provider.name, host=provider.host, organization=ref.organization
            ):
                # NB: a home that cannot be kept is not deleted: the deletion is retried.
                await retention.keep(ctx, provider, ref, body)
                await asyncio.wait_for(provider.delete(ref), ctx.call_timeout)
            # NB: a provider switch cut short leaves the home where it ran before
            runtime = ((body.get("status") or {}).get("runtime") or {}).get("provider")
            if runtime and runtime != provider_name and runtime in ctx.providers.available():
                previous = await ctx.providers.get(str(runtime))
                async with ctx.slots.hold(
                    provider=previous.name, host=previous.host, organization=ref.organization
                ):
                    await asyncio.wait_for(previous.delete(ref), ctx.call_timeout)
            if await secrets.delete_code_server_secret(
                ctx.api, namespace=ref.namespace, name=ref.name, uid=ref.uid
            ):
                logger.info("code-server password secret deleted")
    except registry.UnknownProvider:
        # Nothing can have been made by a provider that is not installed.
        logger.warning("provider not installed: nothing to delete", provider=provider_name)
    except Exception as error:
        failure = workspace.failure_of(error, timeout=ctx.call_timeout)
        logger.warning("delete failed; retrying", reason=failure.reason, error=failure.message)
        with contextlib.suppress(pydantic.ValidationError):
            ws = Workspace.model_validate(body)
            status = workspace.deleting_status(
                ws, failure, at=conditions.now(), timeouts=ctx.timeouts
            )
            patch_status(patch, ws.status.to_dict(), status.to_dict())
            metrics.workspace_seen(ref.uid, phase=Phase.DELETING, provider=provider_name)
        kopf.warn(body, reason="DeleteFailed", message=failure.message)
        metrics.RECONCILE_TOTAL.labels(kind="Workspace", result="retry").inc()
        raise kopf.TemporaryError(failure.message, delay=ctx.backoff(retry)) from error
    finally:
        metrics.RECONCILE_SECONDS.labels(kind="Workspace").observe(time.monotonic() - started)
    metrics.RECONCILE_TOTAL.labels(kind="Workspace", result="ok").inc()
    ctx.locks.pop(ref.uid, None)
    ctx.config_digests.pop(ref.uid, None)
    logger.info("workspace deleted: container and home removed", uid=ref.uid)


async def workspace_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    """Every watch event: the cache of Workspaces (what listings and Secrets are matched
    to), the phase gauge, and a nudge to recount the organizations."""
    ctx = memo
    ctx.keep_indexes(kwargs)
    uid = body.metadata.uid or ""
    provider = str((body.get("spec") or {}).get("provider") or meta.Provider.PODMAN.value)
    if kwargs.get("type") == "DELETED":
        ctx.workspaces.pop(uid, None)
        ctx.fingerprints.pop(uid, None)
        metrics.workspace_gone(uid)
        follower.unfollow(ctx, uid)
        ctx.config_digests.pop(uid, None)
        quotas.workspace_changed(ctx, body, deleted=True)
        idle.track(ctx, body, deleted=True)
    else:
        if ctx.checks.context is None:
            ctx.checks.context = contextvars.copy_context()
        ctx.workspaces[uid] = cache.entry(body)
        phase = (body.get("status") or {}).get("phase")
        metrics.workspace_seen(uid, phase=phase, provider=provider)
        quotas.workspace_changed(ctx, body, deleted=False)
        idle.track(ctx, body, deleted=False)
    ctx.organizations_changed.set()


async def workspaces_index(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, str]:
    """Index ``wws_workspaces``: namespace → phase of each of its Workspaces."""
    phase = (body.get("status") or {}).get("phase") or Phase.PENDING.value
    return {namespace or "": str(phase)}
