"""Quota usage as Organization and Team statuses report it: each limit with what is used."""

from __future__ import annotations

from api import meta


class QuotaUsage(meta.StatusModel):
    """One limit of a quota (or of the policy) and what is used of it now."""

    resource: str
    """What is limited: cpu, memory, storage, workspaces or runningWorkspacesPerUser."""
    used: str
    """What is used now (a quantity; for runningWorkspacesPerUser: the most one person has)."""
    limit: str
    """The limit."""
    over: bool = False
    """Used is above the limit (the limit was lowered): running workspaces keep running, new
    starts wait until usage is below it."""
