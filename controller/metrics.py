"""The controller's Prometheus metrics (served on ``/metrics`` by :mod:`controller.health`).

- ``wws_workspaces{phase,provider}`` — workspaces by phase, from the Workspaces as the API
  server holds them (every watch event updates it; deleted ones drop out);
- ``wws_workspace_start_seconds{provider}`` — from asking a workspace to run (its creation,
  or ``running: true``) until it is Ready and running;
- ``wws_reconcile_total{kind,result}`` — reconciles by kind and result (``ok``, ``retry``:
  failed and retried later, ``error``: a bug);
- ``wws_reconcile_seconds{kind}`` — how long reconciles take;
- ``wws_runtime_changes_total{provider,kind}`` — changes the runtimes reported (``workspace``,
  ``report``, ``connected``: a (re)connected event stream);
- ``wws_relist_seconds{provider}`` — how long one listing of a provider's workspaces (and
  its comparison with the statuses) takes;
- ``wws_github_requests_total{result}`` — requests to GitHub's REST API by result (``ok``,
  ``not_modified``: a 304 that cost no rate limit, or the failure's reason);
- ``wws_access_writes_total`` — RBAC objects created, updated or deleted by the access loop
  (``wws_reconcile_total{kind="Access"}`` counts its runs);
- ``wws_workspace_stops_total{reason}`` — workspaces stopped or held from starting, by
  stopReason; ``wws_workspace_last_activity_seconds{namespace,name}`` — seconds since each
  workspace's last activity;
- ``wws_quota_used{organization,team,resource}`` / ``wws_quota_limit{...}`` — usage against
  each limit of an organization's policy (``team=""``) and of a team's quota, as the
  statuses show it (CPU in cores, memory and storage in bytes).

Plus the client library's default process metrics (``process_resident_memory_bytes``, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api import units
from api.quota import QuotaUsage
from api.workspace import Phase

# NB: the *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

RECONCILE_TOTAL = Counter(
    "wws_reconcile_total", "Reconciles by kind and result (ok, retry, error).", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "wws_reconcile_seconds",
    "How long one reconcile takes, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
WORKSPACE_START_SECONDS = Histogram(
    "wws_workspace_start_seconds",
    "From asking a workspace to run (apply, running: true) until it is Ready and running.",
    ["provider"],
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600),
)

RUNTIME_CHANGES = Counter(
    "wws_runtime_changes_total",
    "Changes the runtimes reported, by provider and kind (workspace, report, connected).",
    ["provider", "kind"],
)
RELIST_SECONDS = Histogram(
    "wws_relist_seconds",
    "How long one listing of a provider's workspaces and its comparison take.",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

GITHUB_REQUESTS = Counter(
    "wws_github_requests_total",
    "Requests to GitHub's REST API by result (ok, not_modified, or the failure's reason).",
    ["result"],
)
ACCESS_WRITES = Counter(
    "wws_access_writes_total", "RBAC objects created, updated or deleted by the access loop."
)


class _WorkspacePhases(Collector):
    """``wws_workspaces{phase,provider}``, computed at scrape time from the last seen phase
    of every Workspace (so a deleted Workspace is never counted twice or forgotten)."""

    def __init__(self) -> None:
        self.phases: dict[str, tuple[str, str]] = {}
        self.providers: set[str] = set()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wws_workspaces", "Workspaces by phase and provider.", labels=["phase", "provider"]
        )
        counts: dict[tuple[str, str], int] = {}
        for provider in self.providers:
            for known in Phase:
                counts[(known.value, provider)] = 0
        for key in self.phases.values():
            counts[key] = counts.get(key, 0) + 1
        for (phase, provider), count in sorted(counts.items()):
            family.add_metric([phase, provider], count)
        yield family


_PHASES = _WorkspacePhases()
REGISTRY.register(_PHASES)


def known_providers(names: list[str]) -> None:
    """Report zeros for every phase of these providers (so dashboards see the series)."""
    _PHASES.providers.update(names)


def workspace_seen(uid: str, *, phase: str | None, provider: str) -> None:
    """The Workspace ``uid`` is in ``phase`` (``None``: not reconciled yet, counted as
    Pending)."""
    _PHASES.phases[uid] = (phase or Phase.PENDING.value, provider)


def workspace_gone(uid: str) -> None:
    _PHASES.phases.pop(uid, None)


QUOTA_USED = Gauge(
    "wws_quota_used",
    "Usage against a limit of an organization's policy (team empty) or a team's quota.",
    ["organization", "team", "resource"],
)
QUOTA_LIMIT = Gauge(
    "wws_quota_limit",
    "A limit of an organization's policy (team empty) or a team's quota.",
    ["organization", "team", "resource"],
)


def quota_usage(organization: str, team: str, rows: list[QuotaUsage]) -> None:
    """The gauges of one organization's (or team's) limits, from its status rows."""
    for row in rows:
        labels = {"organization": organization, "team": team, "resource": row.resource}
        QUOTA_USED.labels(**labels).set(float(units.parse_quantity(row.used)))
        QUOTA_LIMIT.labels(**labels).set(float(units.parse_quantity(row.limit)))


WORKSPACE_STOPS = Counter(
    "wws_workspace_stops",
    "Workspaces stopped (or held from starting), by stopReason (Requested, Idle, Quota,"
    " Policy, Failed).",
    ["reason"],
)


class _LastActivity(Collector):
    """``wws_workspace_last_activity_seconds{namespace,name}``: seconds since each
    workspace's last activity (``status.lastActivityTime``), computed at scrape time."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str, float]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wws_workspace_last_activity_seconds",
            "Seconds since the workspace's last activity (status.lastActivityTime).",
            labels=["namespace", "name"],
        )
        now = time.time()
        for namespace, name, at in sorted(self.seen.values()):
            family.add_metric([namespace, name], max(0.0, now - at))
        yield family


_ACTIVITY = _LastActivity()
REGISTRY.register(_ACTIVITY)


def activity_seen(uid: str, *, namespace: str, name: str, at: float | None) -> None:
    """The last activity of a workspace (``None``: none known, or deleted)."""
    if at is None:
        _ACTIVITY.seen.pop(uid, None)
    else:
        _ACTIVITY.seen[uid] = (namespace, name, at)
