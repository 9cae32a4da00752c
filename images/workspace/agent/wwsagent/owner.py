"""The owner: the user (uid/gid 1000) the workspace belongs to, commands run as them, and
the UserReady step that makes the user, the home, the git identity and the gh login."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wwsagent import errors, files, logs, processes, settings
from wwsagent.configuration import Config
from wwsagent.reporting import Reporter


class User:
    def __init__(self, name: str, shell: str) -> None:
        self.name = name
        self.uid = settings.USER_ID
        self.gid = settings.USER_ID
        self.home = settings.HOME_ROOT / name
        self.shell = shell

    @property
    def logs(self) -> Path:
        return self.home / ".wws" / "logs"

    def path(self) -> str:
        dirs = [str(self.home / ".local" / "bin")]
        languages = self.home / ".wws" / "languages"
        if languages.is_dir():
            dirs += [str(p / "bin") for p in sorted(languages.iterdir()) if (p / "bin").is_dir()]
        dirs += [str(self.home / "go" / "bin"), str(self.home / ".cargo" / "bin")]
        return ":".join([*dirs, "/usr/local/bin", "/usr/bin", "/bin"])

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "SHELL": self.shell,
            "PATH": self.path(),
            "LANG": settings.LOCALE,
        }
        env.update(extra)
        return env

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def mkdir(self, path: Path, mode: int = 0o755) -> Path:
        """Make ``path`` (and the missing parents under the home) owned by the user."""
        missing = []
        current = path
        while not current.exists() and current != self.home and current != current.parent:
            missing.append(current)
            current = current.parent
        for folder in reversed(missing):
            folder.mkdir(mode=mode)
            self.chown(folder)
        return path

    def popen(
        self,
        argv: list[str],
        *,
        log_path: Path | None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out: Any = subprocess.DEVNULL
        if log_path is not None:
            self.mkdir(log_path.parent)
            out = open(log_path, "ab")  # noqa: SIM115
            with contextlib.suppress(OSError):
                os.fchown(out.fileno(), self.uid, self.gid)
        try:
            return subprocess.Popen(
                argv,
                user=self.uid,
                group=self.gid,
                extra_groups=[],
                env=env or self.env(),
                cwd=str(cwd or self.home),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def run(
        self,
        argv: list[str],
        *,
        log_path: Path | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int | None:
        """Run as the user; the exit code, or None when it timed out (killed)."""
        return processes.wait_group(self.popen(argv, log_path=log_path, env=env, cwd=cwd), timeout)

    def output(
        self, argv: list[str], *, timeout: float = 60, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        result = subprocess.run(
            argv, user=self.uid, group=self.gid, extra_groups=[], env=env or self.env(),
            cwd=str(self.home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        return result.returncode, (result.stdout + result.stderr).strip()


def previous_home(user: User) -> Path | None:
    """The home of a previous owner: the only folder in /home owned by the owner's uid."""
    found = []
    with contextlib.suppress(OSError):
        for entry in settings.HOME_ROOT.iterdir():
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_uid == user.uid:
                found.append(entry)
    return found[0] if len(found) == 1 else None


def ensure_user(config: Config, *, report: Reporter, end_sessions: Callable[[], None]) -> User:
    """UserReady: the owner's user and group (id 1000), login shell, no password,
    passwordless sudo, home, git identity and gh login. When the owner changed,
    ``end_sessions`` first ends what runs as the previous one (editor, step children)."""
    name = config.user
    shell = shutil.which(config.shell) or shutil.which("zsh") or "/bin/bash"
    shell = str(Path(shell))
    user = User(name, shell)
    # The group and the user with id 1000, renamed when the owner changes.
    try:
        group = grp.getgrgid(user.gid)
        if group.gr_name != name:
            processes.run_root(["groupmod", "-n", name, group.gr_name])
    except KeyError:
        processes.run_root(["groupadd", "-g", str(user.gid), name])
    try:
        current = pwd.getpwuid(user.uid)
    except KeyError:
        current = None
    if current is None:
        processes.run_root(
            [
                "useradd",
                "--badname",
                "-u",
                str(user.uid),
                "-g",
                str(user.gid),
                "-d",
                str(user.home),
                "-s",
                shell,
                "-M",
                "-c",
                name,
                name,
            ]
        )
    else:
        if current.pw_name != name:
            # NB: usermod renames no user that has processes: the previous owner's
            # editor, sessions and scripts end first.
            logs.log(f"owner changed: {current.pw_name} → {name}")
            end_sessions()
            processes.kill_user_processes(user.uid)
            processes.run_root(["usermod", "--badname", "-l", name, current.pw_name])
        if current.pw_dir != str(user.home) or current.pw_shell != shell:
            processes.run_root(["usermod", "-d", str(user.home), "-s", shell, name])
    # No password at all ('*'): key-based SSH works, password login never does.
    processes.run_root(["usermod", "-p", "*", name])
    files.atomic_write(
        settings.SUDOERS_FILE, f"{name} ALL=(ALL) NOPASSWD:ALL\n".encode(), mode=0o440
    )
    # The home: made from /etc/skel the first time, kept as it is afterwards; when the
    # owner changed, the previous owner's home (the one folder of uid 1000) becomes theirs.
    if not user.home.exists() and (previous := previous_home(user)) is not None:
        previous.rename(user.home)
        logs.log(f"home {previous} is now {user.home} (the owner changed)")
    if not user.home.exists():
        shutil.copytree("/etc/skel", user.home, symlinks=True)
        for root, dirs, names in os.walk(user.home):
            for entry in [root, *(os.path.join(root, n) for n in dirs + names)]:
                os.chown(entry, user.uid, user.gid, follow_symlinks=False)
        user.home.chmod(0o750)
        logs.log(f"home {user.home} created")
    elif user.home.stat().st_uid != user.uid:
        user.chown(user.home)
    user.mkdir(user.logs)
    notes = [f"user {name} (uid {user.uid}), shell {shell}"]
    git = config.section("git")
    for key, option in (("userName", "user.name"), ("userEmail", "user.email")):
        if git.get(key):
            code, out = user.output(["git", "config", "--global", option, str(git[key])])
            if code != 0:
                raise errors.StepError(f"git config {option} failed: {out[-200:]}")
    notes.append(ensure_github(config, user))
    report.set("UserReady", "True", "UserReady", "; ".join(n for n in notes if n))
    return user


def ensure_github(config: Config, user: User) -> str:
    """gh gets the token (``gh auth token`` prints it) and becomes git's credential
    helper for github.com. The hosts file is written directly (gh's own format), since
    ``gh auth login`` would first check the token against api.github.com."""
    token = config.secret(settings.TOKEN_FILE)
    gh_dir = user.home / ".config" / "gh"
    hosts = gh_dir / "hosts.yml"
    marker = files.read_marker("github.json")
    if token is None:
        if marker.get("managed") and hosts.exists():
            hosts.unlink()
            files.write_marker("github.json", {"managed": False})
            return "gh: logged out (no token)"
        return ""
    if re.search(r"\s", token):
        raise errors.StepError("the GitHub token contains whitespace")
    user.mkdir(gh_dir, mode=0o700)
    content = (
        "github.com:\n"
        f"    oauth_token: {token}\n"
        f"    user: {config.data['owner']}\n"
        "    git_protocol: https\n"
    ).encode()
    try:
        same = hosts.read_bytes() == content
    except OSError:
        same = False
    if not same:
        files.atomic_write(hosts, content, mode=0o600, owner=(user.uid, user.gid))
    code, out = user.output(["gh", "auth", "setup-git", "--hostname", "github.com"])
    if code != 0:
        raise errors.StepError(f"gh auth setup-git failed: {out.replace(token, '***')[-200:]}")
    files.write_marker("github.json", {"managed": True})
    return "gh: logged in to github.com (git credential helper)"
