"""Logging: one JSON line per event when stdout is not a terminal, resources named."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.storeproc import REPO

SCRIPT = """
import logging
from wws import logconfig
logconfig.configure()
log = logconfig.get("test")
logconfig.for_resource(log, namespace="acme", name="alice-dev", kind="Workspace").info(
    "workspace.started", seconds=1.5)
logging.getLogger("kopf.objects").warning("from the standard library")
"""


def test_events_are_json_lines_naming_the_resource_when_stdout_is_not_a_terminal() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[0]["event"] == "workspace.started"
    assert (lines[0]["namespace"], lines[0]["name"], lines[0]["kind"]) == (
        "acme",
        "alice-dev",
        "Workspace",
    )
    assert lines[0]["level"] == "info" and lines[0]["seconds"] == 1.5
    assert "timestamp" in lines[0]
    # Other libraries' loggers come out in the same format.
    assert lines[1]["event"] == "from the standard library"
    assert lines[1]["level"] == "warning"
