"""The Organization and Team handlers.

Organization — create / update / resume: its namespace, its status; the counts of teams and
workspaces are kept current by :func:`refresh_organizations` (after changes, and every
resync). Delete: nothing to clean up (no finalizer); the namespace stays.

Team — create / update / resume: its organization's access loop (:mod:`controller.access`)
resolves its members and writes its status. Delete: a recount.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import kopf

from api.organization import Organization
from api.workspace import Phase
from controller import kubeapi, metrics, quotas, retention
from controller.context import Context, bound, patch_status
from reconcilers import conditions, organization
from wws import logconfig

log = logconfig.get(__name__)


async def teams_index(namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Index ``wws_teams``: namespace → name of each of its Teams."""
    return {namespace or "": name}


async def organizations_index(name: str, **_: Any) -> dict[str, str]:
    """Index ``wws_organizations``: the names of the Organizations."""
    return {name: name}


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
    ctx.keep_indexes(kwargs)
    started = time.monotonic()
    org = Organization.model_validate(body)
    logger = bound(body, "Organization")
    namespace = organization.namespace_of(org)
    error_text: str | None = None
    try:
        if await ctx.api.ensure_namespace(namespace, labels=organization.namespace_labels(org)):
            logger.info("namespace created", namespace_created=namespace)
            kopf.info(body, reason="NamespaceCreated", message=f"namespace {namespace}")
    except Exception as error:
        error_text = str(error)
    status = organization.status_of(
        org, counts=_counts(ctx, namespace), namespace_error=error_text, at=conditions.now()
    )
    patch_status(patch, org.status.to_dict(), status.to_dict())
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
    retained = retention.sweep(ctx)
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
            await quotas.write_usage(ctx, org, retained.get(namespace))
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
    memo.keep_indexes(kwargs)
    memo.organizations_changed.set()


async def reconcile_team(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    """create / update / resume of a Team: its organization's access loop resolves its
    members and writes its status (:mod:`controller.access`), the one writer of it."""
    memo.keep_indexes(kwargs)
    if body.metadata.namespace:
        memo.access.touch(body.metadata.namespace)
    metrics.RECONCILE_TOTAL.labels(kind="Team", result="ok").inc()


async def organization_deleted(body: kopf.Body, memo: Context, **_: Any) -> None:
    """An Organization is gone: its namespace (and what is in it) stays; say so."""
    name = body.metadata.name or ""
    bound(body, "Organization").info(
        "organization deleted; its namespace is kept (delete it to delete its workspaces)",
        kept_namespace=name,
    )


async def team_deleted(memo: Context, **_: Any) -> None:
    """A Team is gone: recount its organization."""
    memo.organizations_changed.set()
