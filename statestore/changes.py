"""What the store hands around: stored entries, change events, write results, watch inboxes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Entry:
    rv: int
    data: bytes
    obj: dict[str, Any]


@dataclass(slots=True)
class Event:
    rv: int
    key: str
    type: int
    data: bytes
    obj: dict[str, Any]
    #: The object before this change (``None`` for ADDED): a filtered watch needs it to tell
    #: an object leaving the selection (→ DELETED) from one that never matched.
    previous: dict[str, Any] | None


@dataclass
class WriteResult:
    obj: dict[str, Any]
    data: bytes
    warnings: list[str] = field(default_factory=list)


class Watcher:
    """One watch stream's inbox; the hub fills it, the HTTP layer drains it.

    The inbox is bounded by events and bytes: a client that does not read falls behind, and
    once it is too far behind it is closed (``overflowed``) instead of costing memory without
    limit; like client-go against kube-apiserver, it then resumes or re-lists.
    """

    def __init__(self, prefix: str, *, max_events: int, max_bytes: int) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.overflowed = False
        #: Called once when the inbox overflows (the stream cuts its client off).
        self.on_overflow: Callable[[], None] | None = None

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.max_events or self.queued_bytes > self.max_bytes:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.queued_bytes += len(event.data)
        self.queue.put_nowait(event)

    def taken(self, event: Event) -> None:
        """The stream took ``event`` out of the inbox."""
        self.queued_bytes -= len(event.data)
