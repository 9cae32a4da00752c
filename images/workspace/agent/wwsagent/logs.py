"""The agent's own log: stderr (the init's output) and ``/home/.wws/logs/agent.log``; and
the step logs in the owner's home, which rotate at a size limit."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wwsagent import settings

if TYPE_CHECKING:
    from wwsagent.owner import User


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_log_lock = threading.Lock()
_log_file: Any = None


def log(message: str) -> None:
    line = f"{now_iso()} wws-agent: {message}"
    with _log_lock:
        print(line, file=sys.stderr, flush=True)
        if _log_file is not None:
            with contextlib.suppress(OSError):
                _log_file.write(line + "\n")
                _log_file.flush()


def rotate(path: Path, limit: int = settings.LOG_LIMIT) -> None:
    """Keep a log that is appended at every boot small: past ``limit`` it becomes
    ``<name>.1`` (the one before is dropped)."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > limit:
            path.replace(path.with_name(path.name + ".1"))


def open_agent_log() -> None:
    global _log_file
    with contextlib.suppress(OSError):
        (settings.STATE_ROOT / "logs").mkdir(parents=True, exist_ok=True)
        rotate(settings.STATE_ROOT / "logs" / "agent.log")
        _log_file = open(settings.STATE_ROOT / "logs" / "agent.log", "a", encoding="utf-8")  # noqa: SIM115


def log_header(path: Path, user: User, title: str) -> None:
    user.mkdir(path.parent)
    rotate(path)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"\n===== {now_iso()} {title} =====\n")
    with contextlib.suppress(OSError):
        os.chown(path, user.uid, user.gid)


def append_log(path: Path, text: str) -> None:
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as handle:
        handle.write(text.rstrip("\n") + "\n")
