"""DotfilesReady: ``yadm clone`` of spec.dotfiles.repo and its bootstrap, once per home (per
repository), time-limited; the repository's files win over the home's, kept aside."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from wwsagent import configuration, files, logs, settings
from wwsagent.configuration import Config
from wwsagent.owner import User
from wwsagent.steps import Context


def run(ctx: Context, config: Config, user: User) -> None:
    dotfiles = config.section("dotfiles")
    repo = str(dotfiles.get("repo") or "")
    if not repo:
        ctx.report.set("DotfilesReady", "True", "NotRequested", "no dotfiles repository")
        return
    log_path = user.logs / "dotfiles.log"
    marker = files.read_marker("dotfiles.json")
    if marker.get("repo") == repo and marker.get("result") in ("Cloned", "BootstrapFailed"):
        _report_dotfiles(ctx, marker, log_path)
        return
    timeout = (
        configuration.parse_duration(dotfiles.get("timeout"), settings.DOTFILES_TIMEOUT)
        or settings.DOTFILES_TIMEOUT
    )
    ctx.report.set("DotfilesReady", "Unknown", "Cloning", f"yadm clone {repo}")
    deadline = time.monotonic() + timeout
    logs.log_header(log_path, user, f"dotfiles: yadm clone {repo}")
    env = user.env(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false",
        SSH_ASKPASS="/bin/false",
        GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
    )
    result: dict[str, Any] = {"repo": repo, "at": logs.now_iso()}
    yadm_repo = user.home / ".local" / "share" / "yadm" / "repo.git"
    argv = ["yadm", "clone", "--no-bootstrap"]
    if yadm_repo.exists():
        argv.append("-f")
    code = ctx.run(
        user,
        [*argv, repo],
        log_path=log_path,
        env=env,
        timeout=max(1.0, deadline - time.monotonic()),
    )
    if code != 0:
        result |= {"result": "CloneFailed" if code is not None else "Timeout", "exitCode": code}
        files.write_marker("dotfiles.json", result)
        _report_dotfiles(ctx, result, log_path, timeout)
        return
    _take_over_conflicts(ctx, user, log_path, env)
    bootstrap = user.home / ".config" / "yadm" / "bootstrap"
    result |= {"result": "Cloned", "bootstrap": False}
    if bootstrap.exists():
        logs.append_log(log_path, f"--- yadm bootstrap ({bootstrap})")
        remaining = deadline - time.monotonic()
        code = (
            ctx.run(user, ["yadm", "bootstrap"], log_path=log_path, env=env,
                              timeout=remaining)
            if remaining > 0 else None
        )  # fmt: skip
        result |= {"bootstrap": True, "exitCode": code}
        if code != 0:
            result["result"] = "BootstrapFailed" if code is not None else "BootstrapTimeout"
    logs.append_log(log_path, f"--- result: {result['result']}")
    files.write_marker("dotfiles.json", result)
    _report_dotfiles(ctx, result, log_path, timeout)


def _take_over_conflicts(ctx: Context, user: User, log_path: Path, env: dict[str, str]) -> None:
    """yadm leaves files that were in the home before the clone (e.g. /etc/skel's) as
    they were; the repository's versions win, the old ones are kept aside."""
    code, out = user.output(["yadm", "ls-files", "--modified"], env=env)
    if code != 0:
        return
    changed = sorted({line.strip() for line in out.splitlines() if line.strip()})
    if not changed:
        return
    backup = user.home / ".wws" / "dotfiles-backup" / logs.now_iso().replace(":", "")
    for rel in changed:
        source = user.home / rel
        if source.exists() or source.is_symlink():
            target = backup / rel
            user.mkdir(target.parent)
            shutil.copy2(source, target, follow_symlinks=False)
            os.chown(target, user.uid, user.gid, follow_symlinks=False)
    user.output(["yadm", "checkout", "--", *changed], env=env)
    logs.append_log(
        log_path,
        f"--- the repository's versions of {', '.join(changed)} replace the "
        f"home's; the home's are kept in {backup}",
    )


def _report_dotfiles(
    ctx: Context, result: dict[str, Any], log_path: Path, timeout: float = 0
) -> None:
    outcome = result.get("result")
    code = result.get("exitCode")
    if outcome == "Cloned":
        ran = " and ran its bootstrap" if result.get("bootstrap") else ""
        ctx.report.set(
            "DotfilesReady", "True", "Cloned", f"cloned {result['repo']}{ran}; log: {log_path}"
        )
    elif outcome == "CloneFailed":
        ctx.report.set(
            "DotfilesReady",
            "False",
            "CloneFailed",
            f"yadm clone of {result['repo']} failed (exit {code}); retried at the "
            f"next boot; log: {log_path}",
        )
    elif outcome == "Timeout":
        ctx.report.set(
            "DotfilesReady",
            "False",
            "Timeout",
            f"yadm clone took longer than {timeout:.0f}s; log: {log_path}",
        )
    elif outcome == "BootstrapTimeout":
        ctx.report.set(
            "DotfilesReady",
            "False",
            "BootstrapTimeout",
            f"yadm bootstrap took longer than the dotfiles timeout; log: {log_path}",
        )
    else:
        ctx.report.set(
            "DotfilesReady",
            "False",
            "BootstrapFailed",
            f"yadm bootstrap exited with code {code}; log: {log_path}",
        )
