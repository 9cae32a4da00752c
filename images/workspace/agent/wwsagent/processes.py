"""Processes: commands run as root, process groups ended with TERM then KILL, what a
previous agent left running, and the background steps' children (so a stop ends them)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from wwsagent import errors, settings


def run_root(
    argv: list[str], *, check: bool = True, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": settings.SYSTEM_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise errors.StepError(
            f"{argv[0]} failed (exit {result.returncode}): {result.stderr.strip()[-300:]}"
        )
    return result


def kill_user_processes(uid: int, grace: float = 3.0) -> None:
    """TERM, then KILL, every process of ``uid``."""

    def pids() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        found.append(int(entry.name))
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while pids() and time.monotonic() < deadline:
            time.sleep(0.1)


def stop_leftovers() -> list[int]:
    """The sshd and code-server of an agent that ended without stopping them (it crashed
    and was started again): their process groups are stopped, so the ports are free."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            # NB: sshd's listener renames itself "sshd: /usr/sbin/sshd -D -e [listener] ...".
            command = b" ".join(argv).removeprefix(b"sshd: ")
            if command.startswith(b"/usr/sbin/sshd -D -e") or (
                len(argv) > 1 and argv[1].endswith(b"/code-server/out/node/entry.js")
            ):
                found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(pid), signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in found):
        time.sleep(0.1)
    for pid in found:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    return found


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_group(process: subprocess.Popen[Any], timeout: float | None) -> int | None:
    """Wait for ``process``; on timeout kill its whole process group and return None."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(process, signal.SIGKILL)
            process.wait()
        return None


class Children:
    """The background steps' child processes: a stop, or an owner change, ends them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen[bytes]] = set()

    def wait(self, process: subprocess.Popen[bytes], timeout: float | None) -> int | None:
        """Wait for ``process`` (see :func:`wait_group`), known as running meanwhile."""
        with self.lock:
            self.running.add(process)
        try:
            return wait_group(process, timeout)
        finally:
            with self.lock:
                self.running.discard(process)

    def signal_all(self, sig: int) -> None:
        with self.lock:
            for child in list(self.running):
                kill_group(child, sig)
