"""Quotas and the organization's policy in the controller: the in-memory account
(:class:`reconcilers.quota.Index`) fed by watch events, the start decisions, the waiting
workspaces looked at again when room frees up, and usage in the statuses and metrics.

- :func:`prime` lists Organizations, Teams and Workspaces once at start (before kopf's
  watches and handlers), so that the first decisions after a restart already see every
  running workspace;
- :func:`organization_event`, :func:`team_event` and :func:`workspace_changed` keep it
  current, one object per event; when an organization's usage drops or a limit changes,
  its waiting workspaces are queued for a closer look, oldest first
  (:mod:`controller.checks`);
- :func:`refusal` is asked by every reconcile before it plans;
- :func:`write_usage` (from the organizations' refresh) writes ``status.quota`` and
  ``status.waitingWorkspaces`` of Organizations and ``status.quota`` of Teams with a limit,
  and the gauges ``wws_quota_used`` / ``wws_quota_limit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from api.organization import Organization, RetainedHome
from api.team import Team
from api.workspace import Workspace
from controller import kubeapi, metrics
from controller.context import Context
from reconcilers import conditions, quota
from wws import logconfig

log = logconfig.get(__name__)

#: The reason of the closer look at a waiting workspace (see :mod:`controller.checks`).
ROOM = "room"
#: The reason of a look after the organization's network policy changed.
NETWORK = "network"


async def prime(ctx: Context) -> None:
    """Fill the account from one listing of each kind (see the module docstring)."""
    index = ctx.quotas
    for body in await ctx.api.list(kubeapi.custom_path(Organization)):
        name = str((body.get("metadata") or {}).get("name") or "")
        index.set_organization(name, quota.organization_limits(body.get("spec") or {}))
    for body in await ctx.api.list(kubeapi.custom_path(Team)):
        metadata = body.get("metadata") or {}
        index.set_team(
            str(metadata.get("namespace") or ""),
            str(metadata.get("name") or ""),
            quota.team_limits(body.get("spec") or {}),
        )
    for body in await ctx.api.list(kubeapi.custom_path(Workspace)):
        index.put(quota.member_of(body))
    log.info("quota account primed", organizations=len(index.orgs), workspaces=len(index.members))


def wake(ctx: Context, namespace: str) -> None:
    """Look again at ``namespace``'s waiting workspaces, oldest first."""
    for uid in ctx.quotas.waiting(namespace):
        ctx.checks.put(uid, ROOM)
    ctx.organizations_changed.set()


def workspace_changed(ctx: Context, body: Mapping[str, Any], *, deleted: bool) -> None:
    """A Workspace's watch event."""
    if deleted:
        namespace = ctx.quotas.remove(str((body.get("metadata") or {}).get("uid") or ""))
        if namespace is not None:
            wake(ctx, namespace)
        return
    member = quota.member_of(body)
    if ctx.quotas.put(member):
        wake(ctx, member.namespace)


def refusal(ctx: Context, body: Mapping[str, Any]) -> quota.Refusal | None:
    """Whether the workspace may start now (it counts from now on when it may)."""
    return ctx.quotas.gate(quota.member_of(body))


async def organization_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    name = body.metadata.name or ""
    deleted = kwargs.get("type") == "DELETED"
    limits = None if deleted else quota.organization_limits(body.get("spec") or {})
    old = memo.quotas.orgs.get(name)
    if memo.quotas.set_organization(name, limits):
        wake(memo, name)
        if (
            limits is not None
            and old is not None
            and old.allow_within_team != limits.allow_within_team
        ):
            # NB: every workspace of a team may move to or from its team's network.
            for uid in memo.quotas.uids_in(name):
                memo.checks.put(uid, NETWORK)


def network_group(ctx: Context, body: Mapping[str, Any]) -> str:
    """The workspace's network group under its organization's policy (see
    :meth:`reconcilers.quota.Index.network_group`)."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    return ctx.quotas.network_group(
        str(metadata.get("namespace") or ""),
        spec.get("team"),
        str(spec.get("provider") or "podman"),
    )


async def team_event(body: kopf.Body, memo: Context, **kwargs: Any) -> None:
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    deleted = kwargs.get("type") == "DELETED"
    limits = None if deleted else quota.team_limits(body.get("spec") or {})
    if memo.quotas.set_team(namespace, name, limits):
        wake(memo, namespace)


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [row.to_dict() for row in rows]


async def write_usage(
    ctx: Context, org: Organization, retained: list[RetainedHome] | None = None
) -> None:
    """Usage against each limit into the Organization's and its Teams' statuses (merge
    patches, only when something changed) and the gauges."""
    namespace = org.metadata.name
    index = ctx.quotas
    rows = index.organization_usage(namespace)
    waiting = index.waiting_count(namespace)
    metrics.quota_usage(namespace, "", rows)
    kept = sorted(retained or [], key=lambda home: home.workspace)
    wanted: dict[str, Any] = {
        "quota": _rows(rows),
        "waitingWorkspaces": waiting,
        "retainedHomes": _rows(kept),
    }
    current = {
        "quota": _rows(org.status.quota),
        "waitingWorkspaces": org.status.waiting_workspaces,
        "retainedHomes": _rows(org.status.retained_homes),
    }
    diff = conditions.merge_patch(current, wanted)
    if diff:
        await ctx.api.patch_status(kubeapi.custom_path(Organization, name=namespace), diff)
    for (team_ns, team_name), limits in list(index.teams.items()):
        if team_ns != namespace or not limits.any:
            continue
        team_rows = index.team_usage(team_ns, team_name)
        metrics.quota_usage(namespace, team_name, team_rows)
        path = kubeapi.custom_path(Team, namespace=team_ns, name=team_name)
        try:
            team = Team.model_validate(await ctx.api.request("GET", path))
        except kubeapi.ApiError:
            continue
        if _rows(team.status.quota) != _rows(team_rows):
            await ctx.api.patch_status(path, {"quota": _rows(team_rows)})
