"""Step 2 of a reconcile, as the reconciler sees it: what the controller's actions came to
(the provider's view, a failure, the agent's report, the GitHub token found)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any

from api import times
from providers import agent, base
from reconcilers.workspace.planning import GitHubToken


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why acting on a workspace failed, in condition terms."""

    reason: str
    message: str
    image_missing: bool = False


@dataclasses.dataclass(frozen=True)
class HomeMove:
    """Where moving a home to another provider stands (``spec.provider`` changed)."""

    status: str  # "Unknown" while it moves, "False" when it failed
    reason: str  # MovingHome | HomeMoveFailed
    message: str


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
    return AgentSnapshot(report, times.parse_time(raw.get("startedAt")))


def report_fingerprint(raw: Mapping[str, Any] | None) -> str:
    """What of a report can change the status (everything but the heartbeat ``updatedAt``)."""
    if raw is None:
        return ""
    rest = {key: value for key, value in raw.items() if key != "updatedAt"}
    return json.dumps(rest, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the controller's actions came to: the provider's view afterwards (``None`` when
    it could not be asked), the failure, if any, the agent's report (``None``: not read, or
    none yet) and what was found of the GitHub token (``None``: not looked at now)."""

    observed: base.Observed | None
    failure: Failure | None = None
    agent: AgentSnapshot | None = None
    github: GitHubToken | None = None
    home: HomeMove | None = None
    """A provider switch moving the home (HomeReady says where it is)."""


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
