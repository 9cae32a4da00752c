"""The store's resource limits: what one client may cost everyone else.

Defaults follow kube-apiserver and etcd where they have one (10,000 JSON patch operations,
1.5 MiB objects, 400/200 requests in flight); each is a flag of ``wws store serve``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    #: Largest request head (request line + headers); more gets 431 (Go's net/http: 1 MiB).
    max_header_bytes: int = 1 * MIB
    #: Seconds a client has to send a whole request head, from the connection or its first byte.
    header_timeout: float = 10.0
    #: Seconds a client has to send a whole request body once the head is in.
    body_timeout: float = 60.0
    #: Open connections at once (after TLS); more are closed at once.
    max_connections: int = 1024
    #: Requests being served at once, watches excepted (kube: --max-requests-inflight).
    max_requests_inflight: int = 400
    #: Writes being served at once (kube: --max-mutating-requests-inflight).
    max_mutating_requests_inflight: int = 200
    #: Largest stored object, serialized (etcd's default --max-request-bytes: 1.5 MiB).
    max_object_bytes: int = 3 * MIB // 2
    #: Events one watcher may have waiting before it is closed (the client then re-lists).
    watch_queue_events: int = 10_000
    #: Bytes of events one watcher may have waiting before it is closed.
    watch_queue_bytes: int = 16 * MIB
    #: Bytes of recent events kept in memory for resuming watches (the rest is read from disk).
    replay_buffer_bytes: int = 64 * MIB


DEFAULT = Limits()


@dataclass
class LogEvery:
    """One log line per ``seconds`` for a flood of the same event (a flood is what the limits
    are for; logging each refusal would make the log the next thing to fill up)."""

    seconds: float = 10.0
    _last: float = field(default=-math.inf, repr=False)
    _count: int = field(default=0, repr=False)

    def due(self) -> int | None:
        """How many events this line stands for, or ``None`` when it is not time to log."""
        self._count += 1
        now = time.monotonic()
        if now - self._last < self.seconds:
            return None
        count, self._count, self._last = self._count, 0, now
        return count
