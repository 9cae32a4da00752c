"""The access loop: an organization's membership, compiled into RBAC objects (docs/access.md).

Any change that can change who may do what — the Organization, one of its Teams,
Invitations or Workspaces (owner, team), a read from GitHub — marks the organization; the
loop then, for each marked organization (batched over a tenth of a second):

1. decides each Invitation's status (:mod:`reconcilers.invitation`) and writes it;
2. resolves the effective members of the organization and of its teams
   (:mod:`reconcilers.membership`) from the spec, accepted invitations and GitHub;
3. computes the RBAC objects (:func:`reconcilers.access.desired`) and makes the API server
   hold exactly those: creates, updates, and deletes every object with the organization's
   label that is no longer wanted (an Organization that is gone wants none);
4. writes the members and ``AccessReady`` into the Organization's and Teams' status.

Every organization is also looked at once per resync period, and again when its next
pending Invitation expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

from api import meta
from api.invitation import Invitation, InvitationPhase
from api.organization import Organization
from api.team import Team
from api.workspace import Workspace
from controller import githubsync, kubeapi, metrics
from controller.accessstate import GitHubOutcome
from controller.context import Context
from reconcilers import access, conditions, invitation, membership, organization, team
from wws import logconfig

log = logconfig.get(__name__)

BATCH_SECONDS = 0.1
"""How long changes are collected before the access rules are computed (the 2 s budget)."""

_RBAC = "/apis/rbac.authorization.k8s.io/v1"
_PATHS = {
    "Role": (True, "roles"),
    "RoleBinding": (True, "rolebindings"),
    "ClusterRole": (False, "clusterroles"),
    "ClusterRoleBinding": (False, "clusterrolebindings"),
}


class RBACNotServed(RuntimeError):
    """The API server does not serve ``rbac.authorization.k8s.io/v1``."""


class NamespaceMissing(RuntimeError):
    """The organization's namespace does not exist (yet: the Organization handler makes it)."""


def _collection(kind: str, namespace: str) -> str:
    namespaced, plural = _PATHS[kind]
    return f"{_RBAC}/namespaces/{namespace}/{plural}" if namespaced else f"{_RBAC}/{plural}"


def _path(obj: dict[str, Any]) -> str:
    kind, namespace, name = access.key(obj)
    return f"{_collection(kind, namespace)}/{name}"


async def _existing(ctx: Context, org: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every RBAC object labelled as made for ``org`` (the four kinds read at once)."""
    selector = {"labelSelector": f"{access.LABEL_ORGANIZATION}={org}"}

    async def one(kind: str) -> list[dict[str, Any]]:
        try:
            answer = await ctx.api.request("GET", _collection(kind, org), params=selector)
        except kubeapi.ApiError as error:
            if error.status == 404:  # the namespace is not there (yet, or any more)
                return []
            raise
        items = list(answer.get("items") or [])
        for item in items:
            item.setdefault("kind", kind)
        return items

    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for items in await asyncio.gather(*(one(kind) for kind in _PATHS)):
        for item in items:
            found[access.key(item)] = item
    return found


async def _put(ctx: Context, obj: dict[str, Any], current: dict[str, Any] | None) -> int:
    """Create ``obj``, or update ``current`` to it when they differ; the number of writes."""
    kind, namespace, _ = access.key(obj)
    if current is None:
        try:
            await ctx.api.request("POST", _collection(kind, namespace), body=obj)
            return 1
        except kubeapi.ApiError as error:
            if error.status == 404 and not namespace:
                # NB: a cluster-scoped collection is never missing where RBAC is served.
                raise RBACNotServed(str(error)) from error
            if error.status == 404:
                raise NamespaceMissing(namespace) from error
            if error.status != 409:
                raise
            current = await ctx.api.request("GET", _path(obj))
    if not access.differs(obj, current):
        return 0
    body = {**obj, "metadata": {**obj["metadata"]}}
    body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    await ctx.api.request("PUT", _path(obj), body=body)
    return 1


async def _delete(ctx: Context, key: tuple[str, str, str], obj: dict[str, Any]) -> int:
    try:
        await ctx.api.request("DELETE", _path({**obj, "kind": key[0]}))
    except kubeapi.ApiError as error:
        if error.status == 404:
            return 0
        raise
    return 1


async def apply(
    ctx: Context,
    org: str,
    wanted: Iterable[dict[str, Any]],
    *,
    have: dict[tuple[str, str, str], dict[str, Any]] | None = None,
) -> int:
    """Make the API server hold exactly ``wanted`` of ``org``'s RBAC objects (``have``: what
    it holds, when already read); the number of writes. Writes go out at once."""
    if have is None:
        have = await _existing(ctx, org)
    want = {access.key(obj): obj for obj in wanted}
    # NB: bindings are written after their roles, so no binding ever names a missing role.
    roles = [obj for key, obj in want.items() if not key[0].endswith("Binding")]
    bindings = [obj for key, obj in want.items() if key[0].endswith("Binding")]
    writes = 0
    for batch in (roles, bindings):
        done = await asyncio.gather(*(_put(ctx, obj, have.get(access.key(obj))) for obj in batch))
        writes += sum(done)
    gone = [(key, obj) for key, obj in have.items() if key not in want]
    writes += sum(await asyncio.gather(*(_delete(ctx, key, obj) for key, obj in gone)))
    return writes


def _github_condition(
    outcome: GitHubOutcome | None, previous: list[meta.Condition], type_: str
) -> tuple[meta.ConditionStatus, str, str] | None:
    if outcome is None:
        kept = meta.find_condition(previous, type_)
        return (kept.status, kept.reason, kept.message) if kept else None
    if outcome.members is not None:
        return meta.ConditionStatus.TRUE, "Synced", outcome.message
    return meta.ConditionStatus.FALSE, outcome.reason, outcome.message


def _github_members(
    outcome: GitHubOutcome | None, last: meta.GitHubMembers | None
) -> meta.GitHubMembers | None:
    """The members to use: the new read when it worked, else the last known ones."""
    if outcome is not None and outcome.members is not None:
        return meta.GitHubMembers(last_sync_time=outcome.at, members=sorted(outcome.members))
    return last


async def _invitations(
    ctx: Context, namespace: str, items: list[dict[str, Any]], teams: list[str], at: Any
) -> tuple[list[Invitation], float | None]:
    """The namespace's Invitations with their status decided (and written); the seconds
    until the next one expires."""
    decided: list[Invitation] = []
    recheck: float | None = None
    writes = []
    for body in items:
        try:
            item = Invitation.model_validate(body)
        except ValueError as error:
            log.warning("invalid invitation", namespace=namespace, error=str(error)[:300])
            continue
        decision = invitation.decide(item, teams=teams, at=at)
        diff = conditions.merge_patch(item.status.to_dict(), decision.status.to_dict())
        # NB: acceptedBy is the invitee's to write; never sent back, so never undone.
        diff.pop("acceptedBy", None)
        if diff:
            path = kubeapi.custom_path(Invitation, namespace=namespace, name=item.metadata.name)
            writes.append(_write_status(ctx, path, diff, namespace, item.metadata.name))
        item.status = decision.status
        decided.append(item)
        if decision.recheck_after is not None:
            recheck = min(recheck or decision.recheck_after, decision.recheck_after)
    await asyncio.gather(*writes)
    return decided, recheck


async def _write_status(
    ctx: Context, path: str, diff: dict[str, Any], namespace: str, name: str
) -> None:
    try:
        await ctx.api.patch_status(path, diff)
    except kubeapi.ApiError as error:
        logconfig.for_resource(log, namespace=namespace, name=name).warning(
            "status write failed", error=str(error)[:300]
        )


def _schedule_recheck(ctx: Context, name: str, seconds: float | None) -> None:
    state = ctx.access
    old = state.rechecks.pop(name, None)
    if old is not None:
        old.cancel()
    if seconds is not None:
        loop = asyncio.get_running_loop()
        # NB: one second late, so the invitation has certainly expired when looked at.
        state.rechecks[name] = loop.call_later(seconds + 1.0, state.touch, name)


async def sync(ctx: Context, name: str) -> None:
    """Compute and apply the access rules of the organization ``name``."""
    at = conditions.now()
    try:
        body = await ctx.api.request("GET", kubeapi.custom_path(Organization, name=name))
    except kubeapi.ApiError as error:
        if error.status != 404:
            raise
        body = None
    if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
        removed = await apply(ctx, name, [])
        _schedule_recheck(ctx, name, None)
        ctx.access.github_due.pop(name, None)
        if removed:
            metrics.ACCESS_WRITES.inc(removed)
            log.info("access removed", name=name, objects=removed)
        return
    org = Organization.model_validate(body)
    namespace = organization.namespace_of(org)
    team_bodies, workspace_bodies, invitation_bodies, have = await asyncio.gather(
        ctx.api.list(kubeapi.custom_path(Team, namespace=namespace)),
        ctx.api.list(kubeapi.custom_path(Workspace, namespace=namespace)),
        ctx.api.list(kubeapi.custom_path(Invitation, namespace=namespace)),
        _existing(ctx, name),
    )
    team_items = [Team.model_validate(item) for item in team_bodies]
    invitations, recheck = await _invitations(
        ctx, namespace, invitation_bodies, [t.metadata.name for t in team_items], at
    )
    _schedule_recheck(ctx, name, recheck)

    org_outcome = ctx.access.organizations.get(name) if org.spec.github else None
    org_github = _github_members(org_outcome, org.status.github) if org.spec.github else None
    members = membership.organization_members(
        org,
        invitations_in_namespace=invitations,
        github=org_github.members if org_github else [],
    )
    team_access: list[access.TeamAccess] = []
    team_writes: list[tuple[Team, dict[str, Any]]] = []
    for item in team_items:
        outcome = ctx.access.teams.get((namespace, item.metadata.name))
        if item.spec.github_team and org.spec.github is None:
            outcome = GitHubOutcome(
                members=None,
                reason="NoGitHubSource",
                message=f"the Organization {name} has no spec.github (token, API URL) to read"
                f" {item.spec.github_team} with",
                at=at,
            )
        team_github = (
            _github_members(outcome, item.status.github) if item.spec.github_team else None
        )
        from_github = team_github.members if team_github else []
        # NB: the status lists the team as declared; only organization members get rights.
        team_access.append(
            access.TeamAccess(
                name=item.metadata.name,
                uid=item.metadata.uid or "",
                members=membership.team_members(
                    item,
                    invitations_in_namespace=invitations,
                    github=from_github,
                    organization=members,
                ),
            )
        )
        status = team.status_of(
            item,
            at=at,
            members=membership.team_members(
                item, invitations_in_namespace=invitations, github=from_github
            ),
            github=team_github,
            github_condition=_github_condition(outcome, item.status.conditions, team.GITHUB_SYNCED)
            if item.spec.github_team
            else None,
        )
        team_writes.append((item, status.to_dict()))
    wanted = access.desired(
        org,
        members=members,
        teams=team_access,
        # NB: only name, owner and team matter here: no need to parse whole Workspaces.
        workspaces=[
            access.WorkspaceAccess(
                name=str(w["metadata"]["name"]),
                owner=str((w.get("spec") or {}).get("owner", "")),
                team=(w.get("spec") or {}).get("team"),
            )
            for w in workspace_bodies
        ],
        invitations=[
            access.InvitationAccess(
                name=item.metadata.name, uid=item.metadata.uid or "", login=item.spec.invitee
            )
            for item in invitations
            if not item.spec.by_email
            and item.status.phase in (InvitationPhase.PENDING, InvitationPhase.ACCEPTED)
        ],
    )
    access_error: str | None = None
    not_served = False
    writes = 0
    try:
        writes = await apply(ctx, name, wanted, have=have)
    except RBACNotServed:
        not_served = True
    except NamespaceMissing:
        # NB: soon there; look again shortly rather than report a failure.
        asyncio.get_running_loop().call_later(0.5, ctx.access.touch, name)
        return
    except kubeapi.ApiError as error:
        access_error = str(error)
        log.warning("access apply failed", name=name, error=access_error)
    patch = organization.access_patch(
        org,
        members=members,
        access_error=access_error,
        rbac_served=not not_served,
        github=org_github,
        github_condition=_github_condition(
            org_outcome, org.status.conditions, organization.GITHUB_SYNCED
        )
        if org.spec.github
        else None,
        at=at,
    )
    if patch:
        await ctx.api.patch_status(kubeapi.custom_path(Organization, name=name), patch)
    await asyncio.gather(
        *(
            _write_status(
                ctx,
                kubeapi.custom_path(Team, namespace=namespace, name=item.metadata.name),
                diff,
                namespace,
                item.metadata.name,
            )
            for item, new in team_writes
            if (diff := conditions.merge_patch(item.status.to_dict(), new))
        )
    )
    if writes:
        metrics.ACCESS_WRITES.inc(writes)
        log.info("access applied", name=name, writes=writes, members=len(members))
    githubsync.want(ctx, org, team_items)
    if access_error is not None:
        raise RuntimeError(access_error)


async def access_loop(ctx: Context) -> None:
    """Compute the access rules of marked organizations, and of all every resync period."""
    state = ctx.access
    last_full = time.monotonic()
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.changed.wait(), ctx.resync)
        await asyncio.sleep(BATCH_SECONDS)
        state.changed.clear()
        if time.monotonic() - last_full >= ctx.resync:
            last_full = time.monotonic()
            known = ctx.indexes.get("wws_organizations")
            state.dirty.update(list(known) if known is not None else [])
        names, state.dirty = sorted(state.dirty), set()
        for name in names:
            started = time.monotonic()
            try:
                await sync(ctx, name)
                result = "ok"
            except Exception as error:
                result = "retry"
                log.warning("access sync failed", name=name, error=str(error)[:500])
                # NB: try again after a pause rather than at once (the API server may be down).
                asyncio.get_running_loop().call_later(ctx.backoff(2), state.touch, name)
            metrics.RECONCILE_TOTAL.labels(kind="Access", result=result).inc()
            metrics.RECONCILE_SECONDS.labels(kind="Access").observe(time.monotonic() - started)


# --- kopf event handlers: what marks an organization -------------------------------------------


async def organization_event(body: Any, memo: Context, **_: Any) -> None:
    memo.access.touch(str(body.get("metadata", {}).get("name", "")))


async def namespaced_event(body: Any, memo: Context, **_: Any) -> None:
    """A Team or Invitation changed: its organization is its namespace."""
    namespace = body.get("metadata", {}).get("namespace")
    if namespace:
        memo.access.touch(str(namespace))


async def workspace_event(body: Any, type: str | None, memo: Context, **_: Any) -> None:
    """A Workspace changed: its organization only when its name, owner or team did."""
    metadata = body.get("metadata", {})
    spec = body.get("spec", {}) or {}
    uid = str(metadata.get("uid", ""))
    namespace = str(metadata.get("namespace", ""))
    seen = (namespace, str(metadata.get("name", "")), str(spec.get("owner", "")), spec.get("team"))
    state = memo.access
    if type == "DELETED":
        state.workspaces.pop(uid, None)
        state.touch(namespace)
    elif state.workspaces.get(uid) != seen:
        state.workspaces[uid] = seen
        state.touch(namespace)
