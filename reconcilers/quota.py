"""Quotas and the organization's policy at start: who may start now, who waits, and usage.

:class:`Index` is the controller's in-memory account of every Workspace's demand (CPU,
memory, storage) and of the limits (Organization ``spec.policy``, Team ``spec.quota``). Each
watch event updates it by the difference the one object makes (:meth:`Index.put`,
:meth:`Index.remove`): O(changed objects), never a recount.

A workspace counts against the running limits (CPU, memory, running workspaces per person)
while it wants to run and either its status shows it started (a phase past Pending, no stop
reason of a hold) or the controller has just let it start (:meth:`Index.gate`: the decision
and the accounting happen with no await between them, so two starts at once never both take
the last room). Storage (disk + home) counts for every workspace, running or not.

:meth:`Index.gate` decides a start: a workspace that already counts is never stopped by a
quota (a lowered quota stops nothing: new starts wait); otherwise it is refused with
:class:`Refusal` (stopReason Policy, reason ProviderNotAllowed, when its provider is not in
``policy.providers``; stopReason Quota, reason QuotaExceeded, naming the quota, used and
limit), and starts by itself when room frees up: the controller looks again at the waiting
workspaces of an organization, oldest first, whenever its usage drops or a limit changes.
Older waiting workspaces that would fit are served first (their demand is reserved before a
younger one is judged), so nothing overtakes and nothing flaps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from api import units
from api.quota import QuotaUsage
from api.workspace import RESTARTED_AT_ANNOTATION, StopReason

QUOTA_EXCEEDED = "QuotaExceeded"
PROVIDER_NOT_ALLOWED = "ProviderNotAllowed"
#: Phases in which a workspace that wants to run has been let start.
_NOT_STARTED = {None, "", "Stopped"}


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a workspace may not start now."""

    stop_reason: str
    """status.stopReason: Quota or Policy."""
    reason: str
    """Ready's reason: QuotaExceeded or ProviderNotAllowed."""
    quota: str
    """Which limit, e.g. ``team web cpu`` (QuotaExceeded's reason is made of it)."""
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    """Sums of demand."""

    cpu: int = 0
    """Millicores."""
    memory: int = 0
    storage: int = 0
    running: int = 0
    workspaces: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))

    def __sub__(self, other: Totals) -> Totals:
        return Totals(*(a - b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(totals: Totals) -> tuple[int, ...]:
    return (totals.cpu, totals.memory, totals.storage, totals.running, totals.workspaces)


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One Workspace as the quotas see it."""

    uid: str
    namespace: str
    name: str
    owner: str
    team: str | None
    provider: str
    created: str
    cpu: int
    memory: int
    storage: int
    wants: bool
    """Wants to run: spec.running, not being deleted, not held stopped (Idle)."""
    started: bool
    """Its status shows it was let start."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Limits of an organization (policy) or a team (quota); ``None``: no limit."""

    providers: frozenset[str] | None = None
    per_user: int | None = None
    max_workspaces: int | None = None
    cpu: int | None = None
    memory: int | None = None
    storage: int | None = None
    max_idle: float | None = None
    """Seconds: the organization's ``policy.maxIdleTimeout``."""
    allow_within_team: bool = False
    """The organization's ``policy.network.allowWithinTeam``."""

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.per_user,
                self.max_workspaces,
                self.cpu,
                self.memory,
                self.storage,
            )
        )


def _quantity(value: Any, scale: int = 1) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(units.parse_quantity(str(value)) * scale)
    except ValueError:
        return None


def organization_limits(spec: Mapping[str, Any]) -> Limits:
    """An Organization's limits from its spec (as the API holds it, camelCase)."""
    policy = spec.get("policy") or {}
    quota = policy.get("quota") or {}
    providers = policy.get("providers")
    return Limits(
        providers=frozenset(str(p) for p in providers) if providers is not None else None,
        per_user=policy.get("maxRunningWorkspacesPerUser"),
        cpu=_quantity(quota.get("cpu"), 1000),
        memory=_quantity(quota.get("memory")),
        storage=_quantity(quota.get("storage")),
        max_idle=_seconds(policy.get("maxIdleTimeout")),
        allow_within_team=bool((policy.get("network") or {}).get("allowWithinTeam")),
    )


def _seconds(value: Any) -> float | None:
    if not value:
        return None
    try:
        return units.parse_duration(str(value)).total_seconds()
    except ValueError:
        return None


def team_limits(spec: Mapping[str, Any]) -> Limits:
    """A Team's limits from its spec."""
    quota = spec.get("quota") or {}
    return Limits(
        max_workspaces=quota.get("maxWorkspaces"),
        cpu=_quantity(quota.get("cpu"), 1000),
        memory=_quantity(quota.get("memory")),
        storage=_quantity(quota.get("storage")),
    )


def member_of(body: Mapping[str, Any]) -> Member:
    """A Workspace's body (as a watch delivers it, or ``model.to_dict()``) as a member."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    resources = spec.get("resources") or {}
    home = spec.get("home") or {}
    annotations = metadata.get("annotations") or {}
    stop_reason = status.get("stopReason")
    restart_asked = annotations.get(RESTARTED_AT_ANNOTATION) not in (
        None,
        status.get("observedRestartedAt"),
    )
    held = stop_reason == StopReason.IDLE and not restart_asked
    wants = (
        bool(spec.get("running", True)) and metadata.get("deletionTimestamp") is None and not held
    )
    started = (
        wants
        and status.get("phase") not in _NOT_STARTED
        and stop_reason not in (StopReason.QUOTA, StopReason.POLICY, StopReason.REQUESTED)
    )
    return Member(
        uid=str(metadata.get("uid") or ""),
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        owner=str(spec.get("owner") or "").lower(),
        team=spec.get("team") or None,
        provider=str(spec.get("provider") or "podman"),
        created=str(metadata.get("creationTimestamp") or ""),
        cpu=_quantity(resources.get("cpu", "2"), 1000) or 0,
        memory=_quantity(resources.get("memory", "4Gi")) or 0,
        storage=(_quantity(resources.get("disk", "20Gi")) or 0)
        + (_quantity(home.get("size", "10Gi")) or 0),
        wants=wants,
        started=started,
    )


def cpu_text(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def bytes_text(value: int) -> str:
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


class Index:
    """The account of demand and limits (see the module docstring)."""

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.admitted: set[str] = set()
        """uids let start whose status does not show it yet."""
        self.orgs: dict[str, Limits] = {}
        self.teams: dict[tuple[str, str], Limits] = {}
        self._org_used: dict[str, Totals] = {}
        self._team_used: dict[tuple[str, str], Totals] = {}
        self._user_running: dict[tuple[str, str], int] = {}
        self.retained: dict[str, int] = {}
        """namespace → bytes of its retained homes (counted against its storage quota)."""

    # -- accounting -------------------------------------------------------------------

    def counted(self, member: Member) -> bool:
        """Counts against the running limits."""
        return member.wants and (member.started or member.uid in self.admitted)

    def _totals(self, member: Member) -> Totals:
        running = self.counted(member)
        return Totals(
            cpu=member.cpu if running else 0,
            memory=member.memory if running else 0,
            storage=member.storage,
            running=1 if running else 0,
            workspaces=1,
        )

    def _apply(self, member: Member, sign: int) -> None:
        totals = self._totals(member)
        ns = member.namespace
        zero = Totals()
        org = self._org_used.get(ns, zero)
        self._org_used[ns] = org + totals if sign > 0 else org - totals
        if member.team:
            key = (ns, member.team)
            team = self._team_used.get(key, zero)
            self._team_used[key] = team + totals if sign > 0 else team - totals
        if totals.running:
            user = (ns, member.owner)
            self._user_running[user] = self._user_running.get(user, 0) + sign

    def put(self, member: Member) -> bool:
        """Account ``member`` (new or changed); True when it freed room (its namespace's
        waiting workspaces should be looked at again)."""
        old = self.members.get(member.uid)
        before = self._totals(old) if old is not None else None
        if old is not None:
            self._apply(old, -1)
        if member.started or not member.wants:
            self.admitted.discard(member.uid)
        self.members[member.uid] = member
        self._apply(member, +1)
        after = self._totals(member)
        if before is None or old is None:
            return False
        return (
            after.cpu < before.cpu
            or after.memory < before.memory
            or after.storage < before.storage
            or after.running < before.running
            or old.team != member.team
        )

    def remove(self, uid: str) -> str | None:
        """Forget a deleted workspace; its namespace (room freed), if it was known."""
        old = self.members.pop(uid, None)
        if old is None:
            return None
        self._apply(old, -1)
        self.admitted.discard(uid)
        return old.namespace

    def set_organization(self, namespace: str, limits: Limits | None) -> bool:
        """An Organization's limits (``None``: deleted); True when they changed."""
        old = self.orgs.get(namespace)
        if limits is None:
            self.orgs.pop(namespace, None)
        else:
            self.orgs[namespace] = limits
        return old != limits

    def set_team(self, namespace: str, name: str, limits: Limits | None) -> bool:
        old = self.teams.get((namespace, name))
        if limits is None:
            self.teams.pop((namespace, name), None)
        else:
            self.teams[(namespace, name)] = limits
        return old != limits

    def network_group(self, namespace: str, team: str | None, provider: str) -> str:
        """The workspace's network group (:attr:`providers.base.DesiredWorkspace.network_group`):
        its team when the organization's policy lets a team's workspaces meet (Podman
        only: VMs stay isolated), else "" (isolated)."""
        limits = self.orgs.get(namespace)
        if not team or limits is None or not limits.allow_within_team or provider != "podman":
            return ""
        return team

    def uids_in(self, namespace: str) -> list[str]:
        """Every workspace of ``namespace``."""
        return [m.uid for m in self.members.values() if m.namespace == namespace]

    def waiting(self, namespace: str) -> list[str]:
        """The workspaces of ``namespace`` that want to run and do not yet, oldest first."""
        found = [
            m
            for m in self.members.values()
            if m.namespace == namespace and m.wants and not self.counted(m)
        ]
        return [m.uid for m in sorted(found, key=lambda m: (m.created, m.name))]

    # -- decisions --------------------------------------------------------------------

    def gate(self, member: Member) -> Refusal | None:
        """Account ``member`` and decide whether it may run now; when it may (and did not
        count yet) it counts from now on. ``None``: it may run (or does not want to)."""
        self.put(member)
        if not member.wants:
            return None
        if self.counted(member):
            return None  # NB: running already: a quota lowered since never stops it
        refusal = self._refusal(member)
        if refusal is None:
            self._apply(member, -1)
            self.admitted.add(member.uid)
            self._apply(member, +1)
        return refusal

    def _refusal(self, member: Member) -> Refusal | None:
        ns = member.namespace
        org = self.orgs.get(ns, Limits())
        team = self.teams.get((ns, member.team), Limits()) if member.team else Limits()
        refusal = self._policy(member)
        if refusal is not None:
            return refusal
        if not (org.any or team.any):
            return None
        reserved_org, reserved_team, reserved_user = Totals(), Totals(), 0
        for uid in self.waiting(ns):
            if uid == member.uid:
                break
            older = self.members[uid]
            if self._policy(older) is None and self._over(older, Totals(), Totals(), 0) is None:
                # NB: an older waiting workspace that fits goes first: its demand is reserved.
                share = Totals(cpu=older.cpu, memory=older.memory, running=1)
                reserved_org += share
                if older.team == member.team and member.team:
                    reserved_team += share
                if older.owner == member.owner:
                    reserved_user += 1
        return self._over(member, reserved_org, reserved_team, reserved_user)

    def _policy(self, member: Member) -> Refusal | None:
        """The refusals that room never lifts: a provider not allowed, a team full."""
        ns = member.namespace
        org = self.orgs.get(ns, Limits())
        team = self.teams.get((ns, member.team), Limits()) if member.team else Limits()
        if org.providers is not None and member.provider not in org.providers:
            allowed = ", ".join(sorted(org.providers)) or "none"
            return Refusal(
                StopReason.POLICY,
                PROVIDER_NOT_ALLOWED,
                "providers",
                f"provider {member.provider} is not allowed by organization {ns}'s"
                f" policy.providers ({allowed})",
            )
        if team.max_workspaces is not None and member.team:
            peers = sorted(
                (m.created, m.name)
                for m in self.members.values()
                if m.namespace == ns and m.team == member.team
            )
            position = peers.index((member.created, member.name))
            if position >= team.max_workspaces:
                return self._quota(
                    f"team {member.team} maxWorkspaces",
                    f"team {member.team} quota maxWorkspaces: {len(peers)} workspaces, limit"
                    f" {team.max_workspaces} (this one is number {position + 1})",
                )
        return None

    def _quota(self, quota: str, message: str) -> Refusal:
        return Refusal(StopReason.QUOTA, QUOTA_EXCEEDED, quota, message)

    def _over(
        self, member: Member, reserved_org: Totals, reserved_team: Totals, reserved_user: int
    ) -> Refusal | None:
        ns = member.namespace
        org = self.orgs.get(ns, Limits())
        waits = " (older waiting workspaces go first)"
        if org.per_user is not None:
            running = self._user_running.get((ns, member.owner), 0)
            if running + reserved_user + 1 > org.per_user:
                return self._quota(
                    "maxRunningWorkspacesPerUser",
                    f"maxRunningWorkspacesPerUser: {member.owner} has {running} running"
                    f"{f' and {reserved_user} waiting before this one' if reserved_user else ''},"
                    f" limit {org.per_user}",
                )
        org_used = self._org_used.get(ns, Totals()) + Totals(storage=self.retained.get(ns, 0))
        scopes: list[tuple[str, Limits, Totals, Totals]] = [
            (f"organization {ns}", org, org_used, reserved_org)
        ]
        if member.team:
            team = self.teams.get((ns, member.team), Limits())
            used = self._team_used.get((ns, member.team), Totals())
            scopes.append((f"team {member.team}", team, used, reserved_team))
        for scope, limits, used, reserved in scopes:
            for resource, limit, have, ask, text in (
                ("cpu", limits.cpu, used.cpu + reserved.cpu, member.cpu, cpu_text),
                ("memory", limits.memory, used.memory + reserved.memory, member.memory, bytes_text),
            ):
                if limit is not None and have + ask > limit:
                    return self._quota(
                        f"{scope} {resource}",
                        f"{scope} quota {resource}: {text(have)} used + {text(ask)} asked >"
                        f" limit {text(limit)}{waits if reserved.running else ''}",
                    )
            if limits.storage is not None and used.storage > limits.storage:
                return self._quota(
                    f"{scope} storage",
                    f"{scope} quota storage: {bytes_text(used.storage)} used (this workspace's"
                    f" {bytes_text(member.storage)} included) > limit {bytes_text(limits.storage)}",
                )
        return None

    # -- reporting --------------------------------------------------------------------

    def organization_usage(self, namespace: str) -> list[QuotaUsage]:
        """Each limit of the organization's policy with its usage (for its status)."""
        limits = self.orgs.get(namespace, Limits())
        used = self._org_used.get(namespace, Totals())
        used += Totals(storage=self.retained.get(namespace, 0))
        rows = _rows(limits, used)
        if limits.per_user is not None:
            most = max(
                (n for (ns, _), n in self._user_running.items() if ns == namespace), default=0
            )
            rows.append(
                QuotaUsage(
                    resource="runningWorkspacesPerUser",
                    used=str(most),
                    limit=str(limits.per_user),
                    over=most > limits.per_user,
                )
            )
        return rows

    def team_usage(self, namespace: str, name: str) -> list[QuotaUsage]:
        limits = self.teams.get((namespace, name), Limits())
        used = self._team_used.get((namespace, name), Totals())
        return _rows(limits, used)

    def waiting_count(self, namespace: str) -> int:
        return len(self.waiting(namespace))

    def namespaces(self) -> Iterable[str]:
        return set(self.orgs)


def _rows(limits: Limits, used: Totals) -> list[QuotaUsage]:
    rows: list[QuotaUsage] = []
    for resource, limit, have, text in (
        ("cpu", limits.cpu, used.cpu, cpu_text),
        ("memory", limits.memory, used.memory, bytes_text),
        ("storage", limits.storage, used.storage, bytes_text),
        ("workspaces", limits.max_workspaces, used.workspaces, str),
    ):
        if limit is not None:
            rows.append(
                QuotaUsage(resource=resource, used=text(have), limit=text(limit), over=have > limit)
            )
    return rows
