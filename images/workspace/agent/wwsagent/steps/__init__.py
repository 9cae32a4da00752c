"""The background steps (DotfilesReady, LanguagesReady, BootstrapReady): each one's module
has ``run(ctx, config, user)``; the worker runs them in order after every config change."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from wwsagent import processes
from wwsagent.owner import User
from wwsagent.reporting import Reporter


@dataclass(frozen=True)
class Context:
    """What a step needs besides the config and the owner."""

    report: Reporter
    children: processes.Children
    stopping: threading.Event

    def run(
        self,
        user: User,
        argv: list[str],
        *,
        log_path: Path,
        timeout: float | None,
        env: dict[str, str] | None = None,
    ) -> int | None:
        """Run as the owner, logged to ``log_path``; the exit code, None on timeout. A stop
        (or an owner change) ends it."""
        return self.children.wait(user.popen(argv, log_path=log_path, env=env), timeout)
