"""Running one build step: its output goes to the build log, a condensed form to the
progress sink (one line per step on stderr by default)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from images.build import errors

Progress = Callable[[str], None]
#: A quiet step says it is still running this often.
HEARTBEAT_SECONDS = 10.0


def stderr_progress(message: str) -> None:
    """Default progress sink: one line per step on stderr."""
    print(f"wws image: {message}", file=sys.stderr, flush=True)


def run(
    argv: list[str],
    *,
    step: str,
    log_path: Path,
    progress: Progress,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
) -> None:
    """Run a build step; debootstrap's ``I:`` lines are condensed into one progress line per
    phase (Retrieving, Extracting, Installing, Configuring, ...), build scripts' ``--- ``
    lines are shown, and a quiet step says it is still running every few seconds; everything
    goes to the log."""
    started = time.monotonic()
    state: dict[str, Any] = {"last_shown": started, "line": ""}
    lock = threading.Lock()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            with lock:
                if time.monotonic() - state["last_shown"] >= HEARTBEAT_SECONDS:
                    state["last_shown"] = time.monotonic()
                    elapsed = time.monotonic() - started
                    progress(f"{step}: still running ({elapsed:.0f}s) {state['line']}".rstrip())

    with log_path.open("a") as log_file:
        log_file.write(f"$ {' '.join(argv)}\n")
        log_file.flush()
        process = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        ticker = threading.Thread(target=heartbeat, daemon=True)
        ticker.start()
        seen: set[str] = set()
        tail: list[str] = []
        try:
            for line in process.stdout:
                log_file.write(line)
                line = line.rstrip()
                tail = [*tail[-19:], line]
                words = line[2:].split()
                verb = words[0] if line.startswith("I:") and words else ""
                with lock:
                    state["line"] = f"— {line[:100]}" if line else state["line"]
                    # NB: first line of each phase, errors, and step markers.
                    if line.startswith(("W:", "E:", "--- ")) or (verb and verb not in seen):
                        seen.add(verb)
                        state["last_shown"] = time.monotonic()
                        progress(f"{step}: {line.removeprefix('I: ')}")
            code = process.wait()
        finally:
            done.set()
            ticker.join()
    if code != 0:
        detail = "\n".join(tail[-8:])
        raise errors.ImageBuildError(f"{step} failed (exit {code}); log: {log_path}\n{detail}")
