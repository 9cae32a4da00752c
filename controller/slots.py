"""Starts and deletes at once, bounded per provider and per host, and fair between
organizations.

Every provider action of a reconcile or a deletion holds a slot (:meth:`FairSlots.hold`).
A slot is free when fewer than ``per_provider`` actions of its provider and fewer than
``per_host`` actions on its host are under way. Who waits queues under their organization,
and free slots go round the organizations in turn (first come, first served within one):
one organization's 200 new workspaces take turns with another's single start, which waits
for at most one action of each organization ahead of it in turn, never for the 200.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
from collections.abc import AsyncIterator

#: Provider actions under way at once, per provider and per host, unless configured.
PER_PROVIDER = 8
PER_HOST = 8
#: Workspace reconciles under way at once (:attr:`controller.context.Context.admission`):
#: more than the provider slots, so API calls overlap with provider actions, but not the
#: 1,000 of a burst, each holding its models and requests (their peak stays in the heap).
RECONCILES = 32
#: The one "provider" and "host" of the admission bound.
ADMISSION = "reconcile"


@dataclasses.dataclass(eq=False)
class _Waiter:
    provider: str
    host: str
    future: asyncio.Future[None]


@dataclasses.dataclass(eq=False)
class _Queue:
    """One organization's waiters, first come first served, and how many wait for each
    (provider, host): when none of those has room, nobody in the queue needs asking."""

    waiters: collections.deque[_Waiter] = dataclasses.field(default_factory=collections.deque)
    kinds: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )

    def append(self, waiter: _Waiter) -> None:
        self.waiters.append(waiter)
        self.kinds[(waiter.provider, waiter.host)] += 1

    def remove(self, waiter: _Waiter) -> None:
        self.waiters.remove(waiter)  # NB: ValueError when it is not there
        key = (waiter.provider, waiter.host)
        self.kinds[key] -= 1
        if self.kinds[key] <= 0:
            del self.kinds[key]

    def __len__(self) -> int:
        return len(self.waiters)


class FairSlots:
    """See the module docstring."""

    def __init__(self, *, per_provider: int = PER_PROVIDER, per_host: int = PER_HOST) -> None:
        if per_provider < 1 or per_host < 1:
            raise ValueError("a bound must be at least 1")
        self.per_provider = per_provider
        self.per_host = per_host
        self._providers: collections.Counter[str] = collections.Counter()
        self._hosts: collections.Counter[str] = collections.Counter()
        self._queues: dict[str, _Queue] = {}
        #: Organizations with someone waiting, whose turn is next first.
        self._turns: collections.deque[str] = collections.deque()

    def busy(self, *, provider: str = "", host: str = "") -> int:
        """Actions under way of ``provider`` (or on ``host``)."""
        return self._providers[provider] if provider else self._hosts[host]

    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    @contextlib.asynccontextmanager
    async def hold(self, *, provider: str, host: str, organization: str) -> AsyncIterator[None]:
        """A slot for one action of ``organization`` on ``provider`` at ``host``."""
        await self._acquire(provider, host, organization)
        try:
            yield
        finally:
            self._release(provider, host)

    def _fits(self, provider: str, host: str) -> bool:
        return self._providers[provider] < self.per_provider and self._hosts[host] < self.per_host

    def _take(self, provider: str, host: str) -> None:
        self._providers[provider] += 1
        self._hosts[host] += 1

    def _release(self, provider: str, host: str) -> None:
        self._providers[provider] -= 1
        self._hosts[host] -= 1
        self._grant()

    async def _acquire(self, provider: str, host: str, organization: str) -> None:
        if not self._turns and self._fits(provider, host):
            self._take(provider, host)
            return
        waiter = _Waiter(provider, host, asyncio.get_running_loop().create_future())
        queue = self._queues.get(organization)
        if queue is None:
            queue = self._queues[organization] = _Queue()
            self._turns.append(organization)
        queue.append(waiter)
        self._grant()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(provider, host)  # NB: granted just as the caller gave up
            else:
                self._forget(organization, waiter)
            raise

    def _forget(self, organization: str, waiter: _Waiter) -> None:
        queue = self._queues.get(organization)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(waiter)
        if not queue:
            del self._queues[organization]
            with contextlib.suppress(ValueError):
                self._turns.remove(organization)
        self._grant()

    def _first_fitting(self, queue: _Queue) -> _Waiter | None:
        """The first waiter of ``queue`` whose provider and host have room. NB: each
        (provider, host) is asked once, and not one waiter when none has room: 1,000
        waiting for one full provider cost one check at every grant, not 1,000."""
        if not any(self._fits(provider, host) for provider, host in queue.kinds):
            return None
        full: set[tuple[str, str]] = set()
        for waiter in queue.waiters:
            key = (waiter.provider, waiter.host)
            if key in full:
                continue
            if self._fits(waiter.provider, waiter.host):
                return waiter
            full.add(key)
        return None

    def _grant(self) -> None:
        """Give free slots to the waiters, one organization after the other."""
        granted = True
        while granted and self._turns:
            granted = False
            for _ in range(len(self._turns)):
                organization = self._turns[0]
                queue = self._queues[organization]
                waiter = self._first_fitting(queue)
                if waiter is None:
                    self._turns.rotate(-1)
                    continue
                queue.remove(waiter)
                self._take(waiter.provider, waiter.host)
                waiter.future.set_result(None)
                self._turns.popleft()
                if queue:
                    self._turns.append(organization)  # its next one after the others' turns
                else:
                    del self._queues[organization]
                granted = True
                break
