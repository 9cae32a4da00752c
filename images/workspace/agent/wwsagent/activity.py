"""Activity: when the owner last used the workspace, and how — cheap enough to look every
second (a directory listing of /dev/pts and a few stat calls; no process is started).

Sources:

- ``ssh`` / ``tmux`` — input on a terminal: a pseudo-terminal's access time is when a program
  last read from it, i.e. when someone typed (``w``'s IDLE column reads the same; the kernel
  updates it at most every 8 s). Typing in an SSH session, or in tmux (its client reads the
  SSH session's terminal, the shell reads the pane's) both count; the source is ``tmux``
  when a tmux client holds the terminal typed on. Output alone (a build printing) is not
  activity;
- ``code-server`` — code-server touches ``~/.local/share/code-server/heartbeat`` while a
  browser is connected (at most once a minute).

The report carries the newest of them (``activity: {lastActivityTime, source}``), written
when it advanced by a third of the idle timeout (at most a minute), and once more when it
has stopped advancing for as long (so the last input is always reported): the controller
needs no fresher value to stop the workspace on time, and a busy workspace costs it one
report read a minute at most.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path

PTS = Path(os.environ.get("WWS_PTS_DIR", "/dev/pts"))
PROC = Path("/proc")


def _iso(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(int(at), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tmux_ttys() -> set[int]:
    """The terminal device numbers tmux clients run on (read only when input was seen)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (PROC / entry.name / "stat").read_text()
                comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                if comm.startswith("tmux"):
                    found.add(int(stat[stat.rindex(")") + 2 :].split()[4]))
    return found


class Activity:
    """The newest activity seen, and what of it the report has."""

    def __init__(self) -> None:
        self.last = 0.0
        self.source = ""
        self.reported = 0.0

    def sample(self, uid: int, home: Path | None) -> None:
        """Look once at every source."""
        newest, source, device = self.last, self.source, -1
        with contextlib.suppress(OSError):
            for entry in os.scandir(PTS):
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    info = entry.stat()
                    if info.st_uid == uid and info.st_atime > newest:
                        newest, source, device = info.st_atime, "ssh", info.st_rdev
        if device >= 0 and device in _tmux_ttys():
            source = "tmux"
        if home is not None:
            with contextlib.suppress(OSError):
                beat = (home / ".local" / "share" / "code-server" / "heartbeat").stat().st_mtime
                if beat > newest:
                    newest, source = beat, "code-server"
        self.last, self.source = newest, source

    def due(self, every: float, now: float) -> bool:
        """The report should carry a newer activity: it advanced by ``every`` seconds, or
        it stopped advancing ``every`` seconds ago (the last input is never left out)."""
        if self.last <= self.reported:
            return False
        return self.last - self.reported >= every or now - self.last >= every

    def document(self) -> dict[str, str] | None:
        self.reported = self.last
        if self.last <= 0:
            return None
        return {"lastActivityTime": _iso(self.last), "source": self.source}
