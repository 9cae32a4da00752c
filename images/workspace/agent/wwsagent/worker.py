"""The worker: one thread that runs the background steps after every config change (again,
when the config changed while they ran), so the workspace is usable at once."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

from wwsagent import logs
from wwsagent.configuration import Config
from wwsagent.owner import User
from wwsagent.steps import Context, bootstrap, dotfiles, languages

#: The steps in order: the condition each reports, its name in the agent's log, its run.
STEPS: tuple[tuple[str, str, Callable[[Context, Config, User], None]], ...] = (
    ("DotfilesReady", "step_dotfiles", dotfiles.run),
    ("LanguagesReady", "step_languages", languages.run),
    ("BootstrapReady", "step_bootstrap", bootstrap.run),
)


class Worker:
    def __init__(
        self, ctx: Context, current: Callable[[], tuple[Config | None, User | None]]
    ) -> None:
        self.ctx = ctx
        self.current = current  # the agent's config and owner as they are now
        self.thread: threading.Thread | None = None
        self.again = threading.Event()

    def start(self) -> None:
        self.again.set()
        if self.thread is not None and self.thread.is_alive():
            return
        self.thread = threading.Thread(target=self._work, name="worker", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while self.again.is_set() and not self.ctx.stopping.is_set():
            self.again.clear()
            config, user = self.current()
            if config is None or user is None:
                return
            for kind, name, step in STEPS:
                if self.ctx.stopping.is_set():
                    return
                try:
                    step(self.ctx, config, user)
                except Exception as error:
                    logs.log(f"{name} crashed: {traceback.format_exc()}")
                    self.ctx.report.set(
                        kind, "False", "AgentError", f"{type(error).__name__}: {error}"
                    )
