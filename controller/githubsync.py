"""Members from GitHub: ``Organization.spec.github.org`` and each ``Team.spec.githubTeam``,
read every ``spec.github.syncInterval`` (and at once when those settings change) with the
token of the Secret the Organization names.

Reads go through :class:`controller.github.GitHubClient` (conditional requests); the
outcomes are kept in :class:`controller.accessstate.AccessState` and the organization is
marked for the access loop, which writes the members and the ``GitHubSynced`` condition.
A failed read keeps the last known members in force; the condition says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Sequence

from api import units
from api.organization import Organization
from api.team import Team
from controller import kubeapi
from controller.accessstate import GitHubOutcome
from controller.context import Context
from controller.github import GitHubError
from reconcilers import conditions
from wws import logconfig

log = logconfig.get(__name__)


def _fingerprint(org: Organization, teams: Sequence[Team]) -> str:
    github = org.spec.github.to_dict() if org.spec.github else None
    team_sources = sorted((t.metadata.name, t.spec.github_team or "") for t in teams)
    return hashlib.sha256(json.dumps([github, team_sources]).encode()).hexdigest()


def want(ctx: Context, org: Organization, teams: Sequence[Team]) -> None:
    """Note what ``org`` reads from GitHub; read at once when that changed."""
    state = ctx.access
    name = org.metadata.name
    if org.spec.github is None:
        state.github_due.pop(name, None)
        state.github_fingerprints.pop(name, None)
        return
    fingerprint = _fingerprint(org, teams)
    if state.github_fingerprints.get(name) != fingerprint:
        state.github_fingerprints[name] = fingerprint
        state.github_due[name] = 0.0
        state.github_changed.set()
    else:
        state.github_due.setdefault(name, 0.0)


async def _token(ctx: Context, org: Organization) -> str:
    github = org.spec.github
    assert github is not None
    ref = github.token_secret_ref
    if ref is None:
        raise GitHubError(
            "NoToken", "spec.github.tokenSecretRef is not set: members are not read from GitHub"
        )
    path = f"/api/v1/namespaces/{org.metadata.name}/secrets/{ref.name}"
    try:
        secret = await ctx.api.request("GET", path)
    except kubeapi.ApiError as error:
        raise GitHubError(
            "TokenMissing", f"cannot read Secret {org.metadata.name}/{ref.name}: {error.status}"
        ) from error
    value = (secret.get("data") or {}).get(ref.key)
    if not value:
        raise GitHubError(
            "TokenMissing", f"Secret {org.metadata.name}/{ref.name} has no key {ref.key}"
        )
    return base64.b64decode(value).decode().strip()


async def read(ctx: Context, name: str) -> float | None:
    """Read ``name``'s members from GitHub now; seconds until the next read (``None``: the
    organization reads nothing from GitHub)."""
    state = ctx.access
    try:
        body = await ctx.api.request("GET", kubeapi.custom_path(Organization, name=name))
    except kubeapi.ApiError as error:
        if error.status == 404:
            return None
        raise
    org = Organization.model_validate(body)
    github = org.spec.github
    if github is None:
        return None
    namespace = org.metadata.name
    teams = [
        Team.model_validate(item)
        for item in await ctx.api.list(kubeapi.custom_path(Team, namespace=namespace))
    ]
    at = conditions.now()
    try:
        token = await _token(ctx, org)
        members = await state.client.organization_members(github.api_url, github.org, token)
        state.organizations[name] = GitHubOutcome(
            members=tuple(members),
            reason="Synced",
            message=f"{len(members)} members of the GitHub organization {github.org}",
            at=at,
        )
    except GitHubError as error:
        token = ""
        state.organizations[name] = GitHubOutcome(
            members=None, reason=error.reason, message=str(error), at=at
        )
        log.warning("github read failed", name=name, reason=error.reason, error=str(error))
    for item in teams:
        if not item.spec.github_team:
            continue
        key = (namespace, item.metadata.name)
        try:
            if not token:
                raise GitHubError(
                    state.organizations[name].reason, state.organizations[name].message
                )
            found = await state.client.team_members(github.api_url, item.spec.github_team, token)
            state.teams[key] = GitHubOutcome(
                members=tuple(found),
                reason="Synced",
                message=f"{len(found)} members of the GitHub team {item.spec.github_team}",
                at=at,
            )
        except GitHubError as error:
            state.teams[key] = GitHubOutcome(
                members=None, reason=error.reason, message=str(error), at=at
            )
    state.touch(name)
    return units.parse_duration(github.sync_interval).total_seconds() or 300.0


async def github_loop(ctx: Context) -> None:
    """Read every organization that is due."""
    state = ctx.access
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.github_changed.wait(), 1.0)
        state.github_changed.clear()
        now = time.monotonic()
        for name, due in sorted(state.github_due.items()):
            if due > now:
                continue
            try:
                interval = await read(ctx, name)
            except Exception as error:
                log.warning("github read failed", name=name, error=str(error)[:500])
                interval = ctx.resync
            if interval is None:
                state.github_due.pop(name, None)
            else:
                state.github_due[name] = time.monotonic() + interval
