"""Waiting for something to become true: the one polling helper of the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def eventually(
    check: Callable[[], Any],
    what: str = "the condition",
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    abort: Callable[[], str | None] | None = None,
    detail: Callable[[], str] | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail after ``timeout``.

    ``abort`` is asked after every miss: a message means waiting is pointless (the process
    under test exited) and fails at once with it. ``detail`` adds what helps explain a
    timeout (calls seen, a log's tail)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        if abort is not None and (reason := abort()):
            pytest.fail(f"gave up waiting for {what}: {reason}")
        time.sleep(interval)
    extra = f"\n{detail()}" if detail is not None else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r}){extra}")
