"""Workspaces to look at again, and why: the runtime reported a change, the agent wrote a
report, a Secret changed, or a resync listing found one not as its status says.

A workspace is queued once however often it is asked for (the reasons add up), is looked at
by one worker at a time, and is looked at once more when asked for while being looked at;
``workers`` bounds how many are looked at together.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from wws import logconfig

log = logconfig.get(__name__)

#: Why a workspace is looked at.
EVENT = "event"  # the runtime reported a change of its container/VM
REPORT = "report"  # its agent wrote a report
SECRET = "secret"  # a Secret it reads changed
RESYNC = "resync"  # the periodic listing found it not as its status says

Check = Callable[[str, frozenset[str]], Coroutine[Any, Any, None]]


class Checks:
    """The queue (see the module docstring); :meth:`run` works it off until cancelled."""

    def __init__(self, *, workers: int = 16) -> None:
        self.workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: dict[str, set[str]] = {}
        self._active: set[str] = set()
        self.context: contextvars.Context | None = None
        """The context checks run in: a copy of a kopf handler's (set by the first watch
        event), for kopf's event posting (``kopf.info``/``kopf.warn``) works only there."""

    def put(self, uid: str, reason: str) -> None:
        """Look at ``uid`` (again) because of ``reason``."""
        reasons = self._pending.get(uid)
        if reasons is not None:
            reasons.add(reason)
            return
        self._pending[uid] = {reason}
        if uid not in self._active:
            self._queue.put_nowait(uid)

    def queued(self) -> int:
        return len(self._pending)

    async def run(self, check: Check) -> None:
        """Work the queue off with ``workers`` tasks, each calling ``check(uid, reasons)``."""
        tasks = [
            asyncio.create_task(self._work(check), name=f"checks {n}") for n in range(self.workers)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def _work(self, check: Check) -> None:
        while True:
            uid = await self._queue.get()
            reasons = self._pending.pop(uid, None)
            if reasons is None:
                continue
            self._active.add(uid)
            try:
                await asyncio.create_task(check(uid, frozenset(reasons)), context=self.context)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # NB: one workspace's trouble never stops the queue
                log.warning("workspace check failed", uid=uid, error=str(error))
            finally:
                self._active.discard(uid)
                if uid in self._pending:
                    self._queue.put_nowait(uid)
