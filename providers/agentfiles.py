"""The host side of the agent's two folders (docs/workspace-agent.md), for providers that
share host folders with the workspace (the kvm provider's virtiofs shares).

``config/`` holds exactly :attr:`providers.base.DesiredWorkspace.config_files` (secrets
0600 in a 0700 folder), each file replaced atomically so the agent never reads half of
one; ``status/report.json`` is what the agent writes back.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

#: A report larger than this is not a report.
MAX_REPORT_BYTES = 1024 * 1024


def sync_config(root: Path, files: Mapping[str, bytes]) -> bool:
    """Make ``root`` hold exactly ``files``; True when something changed."""
    changed = False
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
    for rel, content in files.items():
        target = root / base.check_config_path(rel)
        secret = base.is_secret_path(rel)
        mode = 0o600 if secret else 0o644
        with contextlib.suppress(FileNotFoundError):
            if (
                not target.is_symlink()
                and target.read_bytes() == content
                and (target.stat().st_mode & 0o777) == mode
            ):
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if secret:
            target.parent.chmod(0o700)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        changed = True
    wanted = {str(base.check_config_path(rel)) for rel in files}
    for path in sorted(root.rglob("*"), reverse=True):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(w.startswith(rel + "/") for w in wanted):
                shutil.rmtree(path, ignore_errors=True)
        elif rel not in wanted:
            path.unlink(missing_ok=True)
            changed = True
    return changed


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
