"""The report: ``/run/wws/status/report.json``, written atomically on every change and at
least every HEARTBEAT_SECONDS; and ``wws-agent status``, which prints it."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
import uuid
from typing import Any

from wwsagent import files, logs, settings


def boot_id() -> str:
    """This boot's id: the one the boot hook wrote (it stays the same when the agent is
    started again), else a new one."""
    with contextlib.suppress(OSError):
        text = settings.BOOT_ID_FILE.read_text().strip()
        if re.fullmatch(r"[0-9a-f-]{36}", text):
            return text
    return str(uuid.uuid4())


class Reporter:
    """The report's state; written atomically to ``settings.STATUS_DIR/report.json`` on every change
    and at least every settings.HEARTBEAT_SECONDS."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.boot_id = boot_id()
        self.started_at = logs.now_iso()
        self.generation: int | None = None
        self.conditions: dict[str, dict[str, str]] = {
            kind: {"type": kind, "status": "Unknown", "reason": "Pending", "message": ""}
            for kind in settings.CONDITIONS
        }
        self.languages: dict[str, dict[str, Any]] = {}
        self.activity: dict[str, str] | None = None
        self.last_write = 0.0

    def set(self, kind: str, status: str, reason: str, message: str = "") -> None:
        with self.lock:
            new = {"type": kind, "status": status, "reason": reason, "message": message}
            if self.conditions.get(kind) == new:
                return
            self.conditions[kind] = new
            self._write()
        logs.log(f"{kind}={status} {reason}{': ' + message if message else ''}")

    def get(self, kind: str) -> dict[str, str]:
        with self.lock:
            return dict(self.conditions[kind])

    def set_generation(self, generation: int | None) -> None:
        with self.lock:
            if self.generation != generation:
                self.generation = generation
                self._write()

    def set_languages(self, languages: dict[str, dict[str, Any]]) -> None:
        with self.lock:
            if self.languages != languages:
                self.languages = {k: dict(v) for k, v in languages.items()}
                self._write()

    def set_language(self, name: str, **fields: Any) -> None:
        with self.lock:
            entry = dict(self.languages.get(name) or {"name": name})
            entry.update(fields)
            if self.languages.get(name) != entry:
                self.languages[name] = entry
                self._write()

    def set_activity(self, activity: dict[str, str] | None) -> None:
        with self.lock:
            if self.activity != activity:
                self.activity = activity
                self._write()

    def heartbeat(self) -> None:
        with self.lock:
            if time.monotonic() - self.last_write >= settings.HEARTBEAT_SECONDS:
                self._write()

    def document(self) -> dict[str, Any]:
        return {
            "version": settings.REPORT_VERSION,
            "generation": self.generation,
            "bootId": self.boot_id,
            "startedAt": self.started_at,
            "updatedAt": logs.now_iso(),
            "conditions": [self.conditions[kind] for kind in settings.CONDITIONS],
            "languages": list(self.languages.values()),
            "activity": self.activity,
        }

    def _write(self) -> None:
        self.last_write = time.monotonic()
        try:
            data = json.dumps(self.document(), indent=2) + "\n"
            files.atomic_write(settings.STATUS_DIR / "report.json", data.encode())
        except OSError as error:
            print(f"wws-agent: cannot write the report: {error}", file=sys.stderr, flush=True)


def print_report() -> int:
    data = files.read_json(settings.STATUS_DIR / "report.json")
    if data is None:
        print("no report yet", file=sys.stderr)
        return 1
    for condition in data.get("conditions") or []:
        print(
            f"{condition['type']:<16} {condition['status']:<8} {condition['reason']}: "
            f"{condition.get('message', '')}"
        )
    for lang in data.get("languages") or []:
        print(
            f"language {lang['name']:<8} {lang.get('state')} {lang.get('version') or ''} "
            f"{lang.get('message') or ''}"
        )
    return 0
