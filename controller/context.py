"""What every handler of the controller shares (kopf's ``memo``), and the small helpers
they all use: the status merge patch into kopf's ``patch``, a logger bound to an object."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import kopf

from controller import accessstate, cache, checks, health, kubeapi, providerpool, slots
from reconcilers import conditions, quota, workspace
from wws import logconfig

log = logconfig.get(__name__)

#: kopf's indexes the controller reads outside its handlers (the organizations' counts).
INDEXES = ("wws_workspaces", "wws_teams", "wws_organizations")


FairSlots = slots.FairSlots


def _admission() -> FairSlots:
    return slots.FairSlots(per_provider=slots.RECONCILES, per_host=slots.RECONCILES)


@dataclasses.dataclass
class Context:
    """What every handler shares (kopf's ``memo``)."""

    api: kubeapi.KubeApi
    providers: providerpool.Providers
    readiness: health.Readiness
    resync: float = 30.0
    """Seconds between two listings of each provider's workspaces (``--resync``), which
    catch what the runtime's events did not say."""
    call_timeout: float = 120.0
    """How long one provider call may take before it counts as failed (and is retried)."""
    timeouts: workspace.Timeouts = dataclasses.field(default_factory=workspace.Timeouts)
    agent_poll: float = 1.0
    """Seconds between looks at the agent's report while it has work in progress."""
    agent_poll_fast: float = 0.25
    """... for the first ``agent_fast_window`` seconds after a start or a change (the
    agent's boot steps take a second or two: the user, sshd, code-server)."""
    agent_fast_window: float = 10.0
    follow_limit: float = 600.0
    """How long the agent's report is looked at that often (then: every resync)."""
    public_host: str = "localhost"
    """What stands for a port published on every address (``ssh.publishAddress: 0.0.0.0``)
    in the endpoints: this machine's name."""
    locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)
    followers: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    """uid → the task that follows the workspace's agent while it starts."""
    follow_until: dict[str, float] = dataclasses.field(default_factory=dict)
    fast_until: dict[str, float] = dataclasses.field(default_factory=dict)
    """uid → until when (monotonic) its follower reads the report every ``agent_poll_fast``:
    the first seconds after a start or a change."""
    config_digests: dict[str, str] = dataclasses.field(default_factory=dict)
    """uid → digest of the agent's config files the provider was last given."""
    indexes: dict[str, Any] = dataclasses.field(default_factory=dict)
    """kopf's indexes, kept from the first handler that got them (for the refresh loop)."""
    organizations_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    access: accessstate.AccessState = dataclasses.field(default_factory=accessstate.AccessState)
    """Membership → RBAC (:mod:`controller.access`) and GitHub (:mod:`controller.githubsync`)."""
    background: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    workspaces: dict[str, cache.Cached] = dataclasses.field(default_factory=dict)
    """uid → the Workspace as the last watch event showed it (:mod:`controller.cache`)."""
    checks: checks.Checks = dataclasses.field(default_factory=checks.Checks)
    """Workspaces to look at again (:mod:`controller.checks`)."""
    slots: slots.FairSlots = dataclasses.field(default_factory=slots.FairSlots)
    """Provider actions at once, bounded and fair (:mod:`controller.slots`)."""
    admission: FairSlots = dataclasses.field(default_factory=_admission)
    """Workspace reconciles under way at once (kopf runs one per object, all at once),
    fair between organizations: what a burst holds in memory is bounded
    (:data:`slots.RECONCILES`)."""
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    """uid → the fingerprint of the agent's report the status was last computed from."""
    secret_versions: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    """(namespace, name) → resourceVersion of a Secret as the controller last read it (or
    saw it listed at start): an event of that version changes nothing."""
    relists: dict[str, asyncio.Event] = dataclasses.field(default_factory=dict)
    """provider → set to ask for a listing now (its event stream (re)connected)."""
    settling: set[str] = dataclasses.field(default_factory=set)
    """uids whose runtime event waits a moment before their closer look."""
    report_wakeups: dict[str, asyncio.Event] = dataclasses.field(default_factory=dict)
    """uid → set when the agent of a followed workspace wrote a report."""
    idle_deadlines: dict[str, Any] = dataclasses.field(default_factory=dict)
    """uid → the idle deadline of a running workspace (:mod:`controller.idle`)."""
    idle_warned: dict[str, float] = dataclasses.field(default_factory=dict)
    """uid → the stop time its IdleSoon warning was posted for (once per deadline)."""
    quotas: quota.Index = dataclasses.field(default_factory=quota.Index)
    """Demand and limits of every workspace, organization and team (:mod:`controller.quotas`)."""

    def __copy__(self) -> Context:
        """The same Context: kopf gives every object it has seen a shallow copy of the memo
        (a per-object memo, which WWS does not use: its state is keyed by uid in here).
        NB: 2,000 objects (1,000 Workspaces and their Secrets) made 2,000 copies, 3 MB."""
        return self

    @contextlib.asynccontextmanager
    async def lock(self, uid: str) -> AsyncIterator[None]:
        """One reconcile of a workspace at a time (handlers, checks, the agent's follower)."""
        lock = self.locks.setdefault(uid, asyncio.Lock())
        async with lock:
            yield

    def backoff(self, retry: int) -> float:
        """Seconds before retry number ``retry + 1``: 1, 2, 4, ... up to the resync period."""
        return float(min(self.resync, 2 ** min(retry, 16)))

    def keep_indexes(self, kwargs: Mapping[str, Any]) -> None:
        """Keep kopf's indexes from the first handler that gets them (for the refresh
        loop, which is no handler)."""
        if not self.indexes:
            for key in INDEXES:
                if key in kwargs:
                    self.indexes[key] = kwargs[key]


def patch_status(patch: kopf.Patch, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Put the merge patch from ``old`` to ``new`` into kopf's ``patch``; False when empty."""
    diff = conditions.merge_patch(old, new)
    for key, value in diff.items():
        patch.status[key] = value
    return bool(diff)


def bound(body: Mapping[str, Any], kind: str) -> Any:
    """The logger bound to the object's namespace, name and kind."""
    metadata = body.get("metadata") or {}
    return logconfig.for_resource(
        log, namespace=metadata.get("namespace"), name=str(metadata.get("name", "")), kind=kind
    )
