"""The agent: the main loop that watches the config folder (about once a second, or at once
on SIGHUP), applies what changed, supervises the services and keeps the report fresh."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import traceback
from typing import Any

from wwsagent import errors, logs, owner, processes, settings
from wwsagent.activity import Activity
from wwsagent.configuration import Config, parse_duration
from wwsagent.owner import User
from wwsagent.reporting import Reporter
from wwsagent.services import Services
from wwsagent.steps import Context
from wwsagent.worker import Worker


class Agent:
    def __init__(self) -> None:
        self.report = Reporter()
        self.config: Config | None = None
        self.user: User | None = None
        self.fingerprint = ""
        self.activity = Activity()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.services = Services(self.report)
        self.children = processes.Children()
        self.worker = Worker(
            Context(self.report, self.children, self.stopping), lambda: (self.config, self.user)
        )

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.wake.set())
        settings.STATE_ROOT.mkdir(parents=True, exist_ok=True)
        settings.STATE_ROOT.chmod(0o755)
        logs.open_agent_log()
        logs.log(f"starting (boot {self.report.boot_id})")
        if leftovers := processes.stop_leftovers():
            logs.log(f"stopped what a previous agent left running: pids {leftovers}")
        self.report._write()
        while not self.stopping.is_set():
            fingerprint = Config.fingerprint()
            if fingerprint != self.fingerprint:
                self.fingerprint = fingerprint
                self.reload()
            self.services.supervise(self.config, self.user)
            self.track_activity()
            self.report.heartbeat()
            self.wake.wait(settings.POLL_SECONDS)
            self.wake.clear()
        self.shutdown()
        return 0

    def track_activity(self) -> None:
        """Activity into the report, every third of the idle timeout at most (a minute)."""
        home = self.user.home if self.user is not None else None
        self.activity.sample(settings.USER_ID, home)
        timeout = parse_duration((self.config.data if self.config else {}).get("idleTimeout"), 1800)
        every = min(60.0, max(2.0, timeout / 3)) if timeout > 0 else 60.0
        if self.activity.due(every, time.time()):
            self.report.set_activity(self.activity.document())

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stopping.set()
        self.wake.set()

    def shutdown(self) -> None:
        logs.log("stopping")
        self.children.signal_all(signal.SIGTERM)
        self.services.stop()
        logs.log("stopped")

    def reload(self) -> None:
        try:
            config = Config.load()
        except errors.StepError as error:
            self.report.set("UserReady", "False", "ConfigInvalid", str(error))
            return
        if config is None:
            if self.config is None:
                self.report.set(
                    "UserReady",
                    "Unknown",
                    "WaitingForConfig",
                    f"no {settings.CONFIG_DIR / settings.CONFIG_FILE} yet",
                )
            return
        if self.config is not None and config.digest == self.config.digest:
            return
        previous, self.config = self.config, config
        logs.log(f"applying config (generation {config.generation})")
        self.apply(config, previous)
        self.report.set_generation(config.generation)

    def apply(self, config: Config, previous: Config | None) -> None:
        # NB: a background step whose input changed says so at once, so a report of the new
        # generation never shows the result of the previous input (e.g. the old script's).
        for kind, key in settings.BACKGROUND_INPUTS:
            if previous is not None and previous.data.get(key) != config.data.get(key):
                self.report.set(kind, "Unknown", "Pending", f"spec.{key} changed: applying it")
        try:
            self.user = owner.ensure_user(
                config, report=self.report, end_sessions=self._end_sessions
            )
        except (errors.StepError, OSError, subprocess.SubprocessError) as error:
            self.report.set("UserReady", "False", "UserSetupFailed", str(error))
            logs.log(traceback.format_exc())
            return
        user = self.user
        try:
            self.services.ensure_sshd(config, user)
        except (errors.StepError, OSError, subprocess.SubprocessError) as error:
            self.services.sshd.stop()
            self.report.set("SSHReady", "False", "SSHSetupFailed", str(error))
        try:
            self.services.ensure_code_server(config, user)
        except (errors.StepError, OSError, subprocess.SubprocessError) as error:
            self.services.code_server.stop()
            self.report.set("EditorReady", "False", "EditorSetupFailed", str(error))
        self.worker.start()

    def _end_sessions(self) -> None:
        """Before the owner's user is renamed: the previous owner's editor and step
        children end (usermod renames no user that has processes)."""
        self.services.code_server.stop()
        self.children.signal_all(signal.SIGKILL)
