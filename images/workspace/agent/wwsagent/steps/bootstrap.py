"""BootstrapReady: spec.bootstrap.script as the owner, once per home and again whenever the
script changes, with its timeout."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from wwsagent import configuration, files, logs, settings
from wwsagent.configuration import Config
from wwsagent.owner import User
from wwsagent.steps import Context


def run(ctx: Context, config: Config, user: User) -> None:
    bootstrap = config.section("bootstrap")
    script = str(bootstrap.get("script") or "")
    log_path = user.logs / "bootstrap.log"
    if not script.strip():
        ctx.report.set("BootstrapReady", "True", "NotRequested", "no bootstrap script")
        return
    digest = hashlib.sha256(script.encode()).hexdigest()
    marker = files.read_marker("bootstrap.json")
    if marker.get("sha256") == digest:
        _report_bootstrap(ctx, marker, log_path)
        return
    timeout = (
        configuration.parse_duration(bootstrap.get("timeout"), settings.BOOTSTRAP_TIMEOUT) or None
    )
    ctx.report.set(
        "BootstrapReady", "Unknown", "Running", f"bootstrap script running; log: {log_path}"
    )
    logs.log_header(log_path, user, f"bootstrap script (sha256 {digest[:12]}) with {user.shell}")
    script_file = user.home / ".wws" / "bootstrap.sh"
    files.atomic_write(script_file, script.encode(), mode=0o700, owner=(user.uid, user.gid))
    started = time.monotonic()
    code = ctx.run(user, [user.shell, "-l", str(script_file)], log_path=log_path, timeout=timeout)
    result = {
        "sha256": digest,
        "exitCode": code,
        "at": logs.now_iso(),
        "seconds": round(time.monotonic() - started, 1),
    }
    logs.append_log(log_path, f"--- exit code {code if code is not None else 'none: timed out'}")
    files.write_marker("bootstrap.json", result)
    _report_bootstrap(ctx, result, log_path, timeout)


def _report_bootstrap(
    ctx: Context, result: dict[str, Any], log_path: Path, timeout: float | None = None
) -> None:
    code = result.get("exitCode")
    if code == 0:
        ctx.report.set(
            "BootstrapReady",
            "True",
            "Succeeded",
            f"bootstrap script succeeded; log: {log_path}",
        )
    elif code is None:
        limit = f" ({timeout:.0f}s)" if timeout else ""
        ctx.report.set(
            "BootstrapReady",
            "False",
            "Timeout",
            f"bootstrap script ran past its timeout{limit}; log: {log_path}",
        )
    else:
        ctx.report.set(
            "BootstrapReady",
            "False",
            "ScriptFailed",
            f"bootstrap script exited with code {code}; log: {log_path}",
        )
