"""Reading the agent's ``report.json`` from a host folder the workspace can write to
(docs/workspace-agent.md), without following a symbolic link the workspace put there."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from wws import logconfig

log = logconfig.get(__name__)

#: A report larger than this is not a report.
MAX_REPORT_BYTES = 1024 * 1024


def read_report(path: Path, *, uid: str) -> dict[str, Any] | None:
    """The agent's ``report.json``; ``None`` when absent, unreadable or not an object.
    Opened without following a symbolic link: the folder is writable from the guest."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            log.warning("agent report unreadable", uid=uid, path=str(path), error=str(error))
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(MAX_REPORT_BYTES + 1)[:MAX_REPORT_BYTES])
    except (OSError, ValueError) as error:
        log.warning("agent report unreadable", uid=uid, path=str(path), error=str(error))
        return None
    return data if isinstance(data, dict) else None
