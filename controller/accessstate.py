"""What the access loop and the GitHub sync keep between runs (a part of kopf's ``memo``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime

from controller import github, metrics


@dataclasses.dataclass(frozen=True)
class GitHubOutcome:
    """The last read of a GitHub organization's or team's members."""

    members: tuple[str, ...] | None
    """The logins read; ``None`` when the read failed (the last known ones stay)."""
    reason: str
    """Synced, or why not: Unreachable, RateLimited, Unauthorized, NotFound, NoToken, ..."""
    message: str
    at: datetime.datetime


@dataclasses.dataclass
class AccessState:
    dirty: set[str] = dataclasses.field(default_factory=set)
    """Organizations whose access rules must be computed again."""
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    workspaces: dict[str, tuple[str, str, str, str | None]] = dataclasses.field(
        default_factory=dict
    )
    """uid → (namespace, name, owner, team): what access needs of each Workspace, so a status
    change of a workspace does not recompute its organization's access."""
    rechecks: dict[str, asyncio.TimerHandle] = dataclasses.field(default_factory=dict)
    """Organization → the timer that looks again when its next invitation expires."""
    client: github.GitHubClient = dataclasses.field(
        default_factory=lambda: github.GitHubClient(
            count=lambda result: metrics.GITHUB_REQUESTS.labels(result=result).inc()
        )
    )
    organizations: dict[str, GitHubOutcome] = dataclasses.field(default_factory=dict)
    """Organization → the last read of ``spec.github.org``."""
    teams: dict[tuple[str, str], GitHubOutcome] = dataclasses.field(default_factory=dict)
    """(namespace, team) → the last read of its ``githubTeam``."""
    github_due: dict[str, float] = dataclasses.field(default_factory=dict)
    """Organization → when (monotonic) GitHub is read next."""
    github_fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    """Organization → what its GitHub settings and GitHub teams were at the last read."""
    github_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def touch(self, organization: str) -> None:
        """Compute ``organization``'s access again soon."""
        self.dirty.add(organization)
        self.changed.set()
