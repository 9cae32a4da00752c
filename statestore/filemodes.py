"""The data directory is private: 0700 for folders, 0600 for files.

It holds every Secret (deleted ones too, until compaction), the bearer token and the CA key,
so no other local user may read any of it. A folder made by an older version (0755, files
0644) is tightened at start, with a warning naming what was changed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wws import logconfig

log = logconfig.get(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def create_private_file(path: Path) -> None:
    """Create ``path`` (empty) with mode 0600 unless it exists, so that what is written to it
    later, and files SQLite derives from it (``-wal``, ``-shm`` take its mode), are private."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def secure(data_dir: Path) -> list[Path]:
    """Create ``data_dir`` 0700 and take group and other access away from everything in it.
    Returns what had to be tightened (each also logged as a warning)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tightened: list[Path] = []
    # NB: os.walk does not follow symbolic links to folders, and _tighten skips links.
    for root, _, files in os.walk(data_dir):
        for path in [Path(root), *(Path(root) / name for name in files)]:
            _tighten(path, tightened)
    return tightened


def _tighten(path: Path, tightened: list[Path]) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    mode = stat.S_IMODE(info.st_mode)
    wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    if mode & 0o077 == 0:
        return
    os.chmod(path, wanted)
    tightened.append(path)
    log.warning(
        "store.mode_tightened",
        path=str(path),
        was=oct(mode),
        now=oct(wanted),
        reason="the data directory holds Secrets and credentials",
    )
