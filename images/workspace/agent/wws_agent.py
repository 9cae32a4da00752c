#!/usr/bin/python3
"""wws-agent: makes a WWS workspace its owner's, at every boot, and reports how that went.

It is provider-independent: a container's init (``wws-init``, boot hook ``50-wws-agent``)
and a virtual machine's init start it alike. Its only inputs and outputs are two folders
(the contract, docs/workspace-agent.md):

    /run/wws/config/workspace.json          what to do (owner, shell, git, dotfiles, ...)
    /run/wws/config/secrets/...             code-server-password, github-token (optional)
    /run/wws/status/report.json             conditions and languages, written atomically

and the persistent home volume at /home: the owner's home /home/<owner> and the
root-owned /home/.wws/ (SSH host keys, once-per-home markers, agent log, apt cache).

Every boot, in this order:
  UserReady       user <owner> (uid/gid 1000), login shell, passwordless sudo, git identity,
                  gh logged in with the token (gh is git's credential helper for github.com)
  SSHReady        sshd (password login off) with the host keys kept in /home/.wws
  EditorReady     code-server on 0.0.0.0:8080 with the password from the secret
and then, in the background, so the workspace is usable at once:
  DotfilesReady   yadm clone + yadm bootstrap, once per home (per repository), time-limited
  LanguagesReady  images' languages/<name>.sh installers, once per home (per version)
  BootstrapReady  spec.bootstrap.script as the owner, once per home and again when it changes

A failure of one step is reported (status False, a reason, a message naming the log) and
never stops the workspace. The agent then watches the config folder (about once a second,
or at once on SIGHUP) and applies changes while it runs: keys, token, password, git
identity, shell, a new bootstrap script, new languages, a new dotfiles repository.

Secrets (the token, the password) never go to a log, the report or a command line.
Standard library only.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(os.environ.get("WWS_CONFIG_DIR", "/run/wws/config"))
STATUS_DIR = Path(os.environ.get("WWS_STATUS_DIR", "/run/wws/status"))
HOME_ROOT = Path(os.environ.get("WWS_HOME_ROOT", "/home"))
STATE_ROOT = HOME_ROOT / ".wws"
LIB_DIR = Path(os.environ.get("WWS_LIB_DIR", "/usr/local/lib/wws"))
LANGUAGES_DIR = LIB_DIR / "languages"
CODE_SERVER = Path(os.environ.get("WWS_CODE_SERVER", "/usr/lib/wws/bin/code-server"))
AUTHORIZED_KEYS_DIR = Path("/etc/wws/ssh/authorized_keys")
BOOT_ID_FILE = Path(os.environ.get("WWS_BOOT_ID_FILE", "/run/wws/boot-id"))
SUDOERS_FILE = Path("/etc/sudoers.d/wws-owner")

CONFIG_FILE = "workspace.json"
PASSWORD_FILE = "secrets/code-server-password"
TOKEN_FILE = "secrets/github-token"
CONFIG_VERSION = 1
REPORT_VERSION = 1

CODE_SERVER_PORT = 8080
SSH_PORT = 22
USER_ID = 1000
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
DOTFILES_TIMEOUT = 120.0
BOOTSTRAP_TIMEOUT = 1800.0
LANGUAGE_TIMEOUT = 1200.0
APT_LISTS_MAX_AGE = 7 * 86400
LOG_LIMIT = 5 * 1024 * 1024
LOCALE = "en_US.UTF-8"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CONDITIONS = (
    "UserReady",
    "SSHReady",
    "EditorReady",
    "DotfilesReady",
    "LanguagesReady",
    "BootstrapReady",
)

SSH_HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")

#: The background steps' conditions and the part of workspace.json each one applies.
BACKGROUND_INPUTS = (
    ("DotfilesReady", "dotfiles"),
    ("LanguagesReady", "languages"),
    ("BootstrapReady", "bootstrap"),
)

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


# --- small helpers ------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_log_lock = threading.Lock()
_log_file: Any = None


def log(message: str) -> None:
    line = f"{now_iso()} wws-agent: {message}"
    with _log_lock:
        print(line, file=sys.stderr, flush=True)
        if _log_file is not None:
            with contextlib.suppress(OSError):
                _log_file.write(line + "\n")
                _log_file.flush()


def rotate(path: Path, limit: int = LOG_LIMIT) -> None:
    """Keep a log that is appended at every boot small: past ``limit`` it becomes
    ``<name>.1`` (the one before is dropped)."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > limit:
            path.replace(path.with_name(path.name + ".1"))


def open_agent_log() -> None:
    global _log_file
    with contextlib.suppress(OSError):
        (STATE_ROOT / "logs").mkdir(parents=True, exist_ok=True)
        rotate(STATE_ROOT / "logs" / "agent.log")
        _log_file = open(STATE_ROOT / "logs" / "agent.log", "a", encoding="utf-8")  # noqa: SIM115


def parse_duration(value: Any, default: float) -> float:
    """Seconds from the API's durations ("120s", "1h30m", "0") or a number."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match or not any(match.groups()):
        return 0.0 if str(value).strip() == "0" else default
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def atomic_write(
    path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None
) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(name: str, data: dict[str, Any]) -> None:
    atomic_write(STATE_ROOT / "state" / name, (json.dumps(data, indent=2) + "\n").encode())


def read_marker(name: str) -> dict[str, Any]:
    return read_json(STATE_ROOT / "state" / name) or {}


def run_root(
    argv: list[str], *, check: bool = True, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise StepError(
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


class StepError(Exception):
    """A step failed; the message is for the report (no secrets)."""


# --- the report ---------------------------------------------------------------------------


def boot_id() -> str:
    """This boot's id: the one the boot hook wrote (it stays the same when the agent is
    started again), else a new one."""
    with contextlib.suppress(OSError):
        text = BOOT_ID_FILE.read_text().strip()
        if re.fullmatch(r"[0-9a-f-]{36}", text):
            return text
    return str(uuid.uuid4())


class Reporter:
    """The report's state; written atomically to ``STATUS_DIR/report.json`` on every change
    and at least every HEARTBEAT_SECONDS."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.boot_id = boot_id()
        self.started_at = now_iso()
        self.generation: int | None = None
        self.conditions: dict[str, dict[str, str]] = {
            kind: {"type": kind, "status": "Unknown", "reason": "Pending", "message": ""}
            for kind in CONDITIONS
        }
        self.languages: dict[str, dict[str, Any]] = {}
        self.last_write = 0.0

    def set(self, kind: str, status: str, reason: str, message: str = "") -> None:
        with self.lock:
            new = {"type": kind, "status": status, "reason": reason, "message": message}
            if self.conditions.get(kind) == new:
                return
            self.conditions[kind] = new
            self._write()
        log(f"{kind}={status} {reason}{': ' + message if message else ''}")

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

    def heartbeat(self) -> None:
        with self.lock:
            if time.monotonic() - self.last_write >= HEARTBEAT_SECONDS:
                self._write()

    def document(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "generation": self.generation,
            "bootId": self.boot_id,
            "startedAt": self.started_at,
            "updatedAt": now_iso(),
            "conditions": [self.conditions[kind] for kind in CONDITIONS],
            "languages": list(self.languages.values()),
        }

    def _write(self) -> None:
        self.last_write = time.monotonic()
        try:
            data = json.dumps(self.document(), indent=2) + "\n"
            atomic_write(STATUS_DIR / "report.json", data.encode())
        except OSError as error:
            print(f"wws-agent: cannot write the report: {error}", file=sys.stderr, flush=True)


# --- the config ---------------------------------------------------------------------------


class Config:
    """One snapshot of ``/run/wws/config``."""

    def __init__(self, data: dict[str, Any], secrets: dict[str, bytes], digest: str) -> None:
        self.data = data
        self.secrets = secrets
        self.digest = digest

    @staticmethod
    def load() -> Config | None:
        """The current config, or None when there is none (yet). Raises StepError when it
        cannot be used."""
        digest = hashlib.sha256()
        try:
            raw = (CONFIG_DIR / CONFIG_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StepError(f"cannot read {CONFIG_DIR / CONFIG_FILE}: {error}") from None
        digest.update(raw)
        secrets: dict[str, bytes] = {}
        for rel in (PASSWORD_FILE, TOKEN_FILE):
            with contextlib.suppress(FileNotFoundError):
                value = (CONFIG_DIR / rel).read_bytes()
                secrets[rel] = value
                digest.update(rel.encode() + b"\0" + value + b"\0")
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise StepError(f"{CONFIG_FILE} is not JSON: {error}") from None
        if not isinstance(data, dict) or not data.get("owner"):
            raise StepError(f"{CONFIG_FILE} names no owner")
        if int(data.get("version") or 1) > CONFIG_VERSION:
            raise StepError(
                f"{CONFIG_FILE} version {data.get('version')} is newer than this agent's "
                f"({CONFIG_VERSION}): the image is too old"
            )
        return Config(data, secrets, digest.hexdigest())

    @staticmethod
    def fingerprint() -> str:
        """Cheap change detection: names, sizes and mtimes of the config files."""
        parts = []
        for rel in (CONFIG_FILE, PASSWORD_FILE, TOKEN_FILE):
            try:
                st = (CONFIG_DIR / rel).stat()
                parts.append(f"{rel}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(f"{rel}:-")
        return "|".join(parts)

    @property
    def generation(self) -> int | None:
        value = self.data.get("generation")
        return value if isinstance(value, int) else None

    @property
    def user(self) -> str:
        return str(self.data["owner"]).lower()

    @property
    def shell(self) -> str:
        return str(self.data.get("shell") or "zsh")

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def editor(self, name: str) -> bool:
        return bool(self.section("editors").get(name, True))

    def secret(self, rel: str) -> str | None:
        value = self.secrets.get(rel)
        if value is None:
            return None
        text = value.decode("utf-8", "replace").strip()
        return text or None


# --- the owner ----------------------------------------------------------------------------


class User:
    def __init__(self, name: str, shell: str) -> None:
        self.name = name
        self.uid = USER_ID
        self.gid = USER_ID
        self.home = HOME_ROOT / name
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
            "LANG": LOCALE,
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
        return wait_group(self.popen(argv, log_path=log_path, env=env, cwd=cwd), timeout)

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
        for entry in HOME_ROOT.iterdir():
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_uid == user.uid:
                found.append(entry)
    return found[0] if len(found) == 1 else None


def log_header(path: Path, user: User, title: str) -> None:
    user.mkdir(path.parent)
    rotate(path)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"\n===== {now_iso()} {title} =====\n")
    with contextlib.suppress(OSError):
        os.chown(path, user.uid, user.gid)


def append_log(path: Path, text: str) -> None:
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as handle:
        handle.write(text.rstrip("\n") + "\n")


# --- supervised services ------------------------------------------------------------------


class Service:
    """A long-running child (sshd, code-server), restarted with a backoff when it dies."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.key: str = ""  # what it was started with; a different key restarts it
        self.failures = 0
        self.next_start = 0.0
        self.ready = False
        self.next_probe = 0.0

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            kill_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_group(self.process, signal.SIGKILL)
                self.process.wait()
        self.process = None
        self.key = ""
        self.ready = False


def tcp_banner(port: int, timeout: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return sock.recv(64)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 400)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --- the agent ----------------------------------------------------------------------------


class Agent:
    def __init__(self) -> None:
        self.report = Reporter()
        self.config: Config | None = None
        self.user: User | None = None
        self.fingerprint = ""
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.sshd = Service("sshd")
        self.code_server = Service("code-server")
        self.worker: threading.Thread | None = None
        self.worker_again = threading.Event()
        self.worker_children: set[subprocess.Popen[bytes]] = set()
        self.worker_lock = threading.Lock()

    # --- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.wake.set())
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        STATE_ROOT.chmod(0o755)
        open_agent_log()
        log(f"starting (boot {self.report.boot_id})")
        if leftovers := stop_leftovers():
            log(f"stopped what a previous agent left running: pids {leftovers}")
        self.report._write()
        while not self.stopping.is_set():
            fingerprint = Config.fingerprint()
            if fingerprint != self.fingerprint:
                self.fingerprint = fingerprint
                self.reload()
            self.supervise()
            self.report.heartbeat()
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        self.shutdown()
        return 0

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stopping.set()
        self.wake.set()

    def shutdown(self) -> None:
        log("stopping")
        with self.worker_lock:
            for child in list(self.worker_children):
                kill_group(child, signal.SIGTERM)
        self.code_server.stop()
        self.sshd.stop()
        log("stopped")

    def reload(self) -> None:
        try:
            config = Config.load()
        except StepError as error:
            self.report.set("UserReady", "False", "ConfigInvalid", str(error))
            return
        if config is None:
            if self.config is None:
                self.report.set(
                    "UserReady", "Unknown", "WaitingForConfig", f"no {CONFIG_DIR / CONFIG_FILE} yet"
                )
            return
        if self.config is not None and config.digest == self.config.digest:
            return
        previous, self.config = self.config, config
        log(f"applying config (generation {config.generation})")
        self.apply(config, previous)
        self.report.set_generation(config.generation)

    def apply(self, config: Config, previous: Config | None) -> None:
        # NB: a background step whose input changed says so at once, so a report of the new
        # generation never shows the result of the previous input (e.g. the old script's).
        for kind, key in BACKGROUND_INPUTS:
            if previous is not None and previous.data.get(key) != config.data.get(key):
                self.report.set(kind, "Unknown", "Pending", f"spec.{key} changed: applying it")
        try:
            self.user = self.ensure_user(config)
        except (StepError, OSError, subprocess.SubprocessError) as error:
            self.report.set("UserReady", "False", "UserSetupFailed", str(error))
            log(traceback.format_exc())
            return
        try:
            self.ensure_sshd(config)
        except (StepError, OSError, subprocess.SubprocessError) as error:
            self.sshd.stop()
            self.report.set("SSHReady", "False", "SSHSetupFailed", str(error))
        try:
            self.ensure_code_server(config)
        except (StepError, OSError, subprocess.SubprocessError) as error:
            self.code_server.stop()
            self.report.set("EditorReady", "False", "EditorSetupFailed", str(error))
        self.start_worker()

    # --- UserReady ------------------------------------------------------------------------

    def ensure_user(self, config: Config) -> User:
        name = config.user
        shell = shutil.which(config.shell) or shutil.which("zsh") or "/bin/bash"
        shell = str(Path(shell))
        user = User(name, shell)
        # The group and the user with id 1000, renamed when the owner changes.
        try:
            group = grp.getgrgid(user.gid)
            if group.gr_name != name:
                run_root(["groupmod", "-n", name, group.gr_name])
        except KeyError:
            run_root(["groupadd", "-g", str(user.gid), name])
        try:
            current = pwd.getpwuid(user.uid)
        except KeyError:
            current = None
        if current is None:
            run_root(
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
                log(f"owner changed: {current.pw_name} → {name}")
                self.code_server.stop()
                with self.worker_lock:
                    for child in list(self.worker_children):
                        kill_group(child, signal.SIGKILL)
                kill_user_processes(user.uid)
                run_root(["usermod", "--badname", "-l", name, current.pw_name])
            if current.pw_dir != str(user.home) or current.pw_shell != shell:
                run_root(["usermod", "-d", str(user.home), "-s", shell, name])
        # No password at all ('*'): key-based SSH works, password login never does.
        run_root(["usermod", "-p", "*", name])
        atomic_write(SUDOERS_FILE, f"{name} ALL=(ALL) NOPASSWD:ALL\n".encode(), mode=0o440)
        # The home: made from /etc/skel the first time, kept as it is afterwards; when the
        # owner changed, the previous owner's home (the one folder of uid 1000) becomes theirs.
        if not user.home.exists() and (previous := previous_home(user)) is not None:
            previous.rename(user.home)
            log(f"home {previous} is now {user.home} (the owner changed)")
        if not user.home.exists():
            shutil.copytree("/etc/skel", user.home, symlinks=True)
            for root, dirs, files in os.walk(user.home):
                for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(entry, user.uid, user.gid, follow_symlinks=False)
            user.home.chmod(0o750)
            log(f"home {user.home} created")
        elif user.home.stat().st_uid != user.uid:
            user.chown(user.home)
        user.mkdir(user.logs)
        notes = [f"user {name} (uid {user.uid}), shell {shell}"]
        git = config.section("git")
        for key, option in (("userName", "user.name"), ("userEmail", "user.email")):
            if git.get(key):
                code, out = user.output(["git", "config", "--global", option, str(git[key])])
                if code != 0:
                    raise StepError(f"git config {option} failed: {out[-200:]}")
        notes.append(self.ensure_github(config, user))
        self.report.set("UserReady", "True", "UserReady", "; ".join(n for n in notes if n))
        return user

    def ensure_github(self, config: Config, user: User) -> str:
        """gh gets the token (``gh auth token`` prints it) and becomes git's credential
        helper for github.com. The hosts file is written directly (gh's own format), since
        ``gh auth login`` would first check the token against api.github.com."""
        token = config.secret(TOKEN_FILE)
        gh_dir = user.home / ".config" / "gh"
        hosts = gh_dir / "hosts.yml"
        marker = read_marker("github.json")
        if token is None:
            if marker.get("managed") and hosts.exists():
                hosts.unlink()
                write_marker("github.json", {"managed": False})
                return "gh: logged out (no token)"
            return ""
        if re.search(r"\s", token):
            raise StepError("the GitHub token contains whitespace")
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
            atomic_write(hosts, content, mode=0o600, owner=(user.uid, user.gid))
        code, out = user.output(["gh", "auth", "setup-git", "--hostname", "github.com"])
        if code != 0:
            raise StepError(f"gh auth setup-git failed: {out.replace(token, '***')[-200:]}")
        write_marker("github.json", {"managed": True})
        return "gh: logged in to github.com (git credential helper)"

    # --- SSHReady -------------------------------------------------------------------------

    def ensure_sshd(self, config: Config) -> None:
        user = self.user
        assert user is not None
        if not config.editor("ssh"):
            self.sshd.stop()
            self.report.set("SSHReady", "True", "Disabled", "spec.editors.ssh is false")
            return
        keys_dir = STATE_ROOT / "ssh-host-keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        keys_dir.chmod(0o700)
        for kind in SSH_HOST_KEY_TYPES:
            key = keys_dir / f"ssh_host_{kind}_key"
            if not key.exists():
                for leftover in (key, key.with_name(key.name + ".pub")):
                    leftover.unlink(missing_ok=True)
                run_root(
                    ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"wws-{kind}", "-f", str(key)]
                )
                log(f"SSH host key {key.name} generated")
        keys = [str(k).strip() for k in config.section("ssh").get("authorizedKeys") or []]
        keys = [k for k in keys if k and "\n" not in k]
        AUTHORIZED_KEYS_DIR.mkdir(parents=True, exist_ok=True)
        for stale in AUTHORIZED_KEYS_DIR.iterdir():
            if stale.name != user.name:
                stale.unlink()
        atomic_write(AUTHORIZED_KEYS_DIR / user.name, "".join(k + "\n" for k in keys).encode())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        test = run_root(["/usr/sbin/sshd", "-t"], check=False)
        if test.returncode != 0:
            raise StepError(f"sshd -t: {test.stderr.strip()[-300:]}")
        if not self.sshd.running():
            self.start_sshd()
        self.sshd_keys = len(keys)

    def start_sshd(self) -> None:
        log_path = STATE_ROOT / "logs" / "sshd.log"
        rotate(log_path)
        with open(log_path, "ab") as out:
            self.sshd.process = subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-e"],
                env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.sshd.key = "sshd"
        self.sshd.ready = False
        self.sshd.next_probe = 0.0
        self.report.set("SSHReady", "Unknown", "Starting", f"sshd starting on port {SSH_PORT}")

    # --- EditorReady ----------------------------------------------------------------------

    def ensure_code_server(self, config: Config) -> None:
        user = self.user
        assert user is not None
        if not config.editor("codeServer"):
            self.code_server.stop()
            self.report.set("EditorReady", "True", "Disabled", "spec.editors.codeServer is false")
            return
        password = config.secret(PASSWORD_FILE)
        if not password:
            self.code_server.stop()
            self.report.set(
                "EditorReady",
                "False",
                "NoPassword",
                f"no {PASSWORD_FILE} in the config: code-server never runs without one",
            )
            return
        if not CODE_SERVER.exists():
            raise StepError(f"{CODE_SERVER} is not in this image")
        key = hashlib.sha256(f"{user.name}\0{user.shell}\0{password}".encode()).hexdigest()
        if self.code_server.running() and self.code_server.key == key:
            return
        self.code_server.stop()
        self.code_server.key = key
        self.code_server.failures = 0
        self.code_server.next_start = 0.0
        self.start_code_server()

    def start_code_server(self) -> None:
        user = self.user
        config = self.config
        assert user is not None and config is not None
        password = config.secret(PASSWORD_FILE) or ""
        settings = user.home / ".config" / "code-server" / "config.yaml"
        if not settings.exists():
            user.mkdir(settings.parent)
            atomic_write(
                settings,
                b"# Written once by WWS; yours to change. The password is the workspace's\n"
                b"# (its Secret), given to code-server in $PASSWORD: none is kept here.\n"
                b"bind-addr: 0.0.0.0:8080\nauth: password\ncert: false\n",
                mode=0o600,
                owner=(user.uid, user.gid),
            )
        argv = [
            str(CODE_SERVER),
            "--bind-addr", f"0.0.0.0:{CODE_SERVER_PORT}",
            "--auth", "password",
            "--disable-telemetry",
            "--disable-update-check",
            str(user.home),
        ]  # fmt: skip
        env = user.env(PASSWORD=password)
        log_path = user.logs / "code-server.log"
        log_header(log_path, user, "code-server")
        key = self.code_server.key
        self.code_server.process = user.popen(argv, log_path=log_path, env=env)
        self.code_server.key = key
        self.code_server.ready = False
        self.code_server.next_probe = 0.0
        self.report.set(
            "EditorReady", "Unknown", "Starting", f"code-server starting on port {CODE_SERVER_PORT}"
        )

    # --- supervision and probes -----------------------------------------------------------

    def supervise(self) -> None:
        if self.config is None or self.user is None:
            return
        now = time.monotonic()
        if self.config.editor("ssh") and self.sshd.key:
            self._supervise(
                self.sshd,
                "SSHReady",
                now,
                self.start_sshd,
                STATE_ROOT / "logs" / "sshd.log",
                self._probe_sshd,
            )
        if self.config.editor("codeServer") and self.code_server.key:
            self._supervise(
                self.code_server,
                "EditorReady",
                now,
                self.start_code_server,
                self.user.logs / "code-server.log",
                self._probe_code_server,
            )

    def _supervise(
        self, service: Service, condition: str, now: float, start: Any, log_path: Path, probe: Any
    ) -> None:
        process = service.process
        if process is not None and process.poll() is not None:
            code = process.returncode
            service.process = None
            service.ready = False
            service.failures += 1
            delay = min(60.0, 2.0 ** min(service.failures, 6))
            service.next_start = now + delay
            self.report.set(
                condition,
                "False",
                "Exited",
                f"{service.name} exited with code {code}; restarting in "
                f"{delay:.0f}s; log: {log_path}",
            )
            return
        if process is None:
            if now >= service.next_start:
                start()
            return
        if now < service.next_probe:
            return
        ok = probe()
        if ok and not service.ready:
            service.ready = True
            service.failures = 0
        elif not ok and service.ready:
            service.ready = False
            self.report.set(
                condition,
                "False",
                "NotAnswering",
                f"{service.name} does not answer; log: {log_path}",
            )
        service.next_probe = now + (10.0 if service.ready else 0.5)
        if ok:
            self._report_ready(service, condition)

    def _report_ready(self, service: Service, condition: str) -> None:
        if service is self.sshd:
            keys = getattr(self, "sshd_keys", 0)
            self.report.set(
                condition,
                "True",
                "Listening",
                f"sshd listens on port {SSH_PORT}; {keys} authorized key(s)",
            )
        else:
            self.report.set(
                condition, "True", "Answering", f"code-server answers on port {CODE_SERVER_PORT}"
            )

    def _probe_sshd(self) -> bool:
        try:
            return tcp_banner(SSH_PORT).startswith(b"SSH-")
        except OSError:
            return False

    def _probe_code_server(self) -> bool:
        return http_ok(f"http://127.0.0.1:{CODE_SERVER_PORT}/healthz")

    # --- the background steps -------------------------------------------------------------

    def start_worker(self) -> None:
        self.worker_again.set()
        if self.worker is not None and self.worker.is_alive():
            return
        self.worker = threading.Thread(target=self._work, name="worker", daemon=True)
        self.worker.start()

    def _work(self) -> None:
        while self.worker_again.is_set() and not self.stopping.is_set():
            self.worker_again.clear()
            config, user = self.config, self.user
            if config is None or user is None:
                return
            for step in (self.step_dotfiles, self.step_languages, self.step_bootstrap):
                if self.stopping.is_set():
                    return
                try:
                    step(config, user)
                except Exception as error:
                    log(f"{step.__name__} crashed: {traceback.format_exc()}")
                    kind = {
                        "step_dotfiles": "DotfilesReady",
                        "step_languages": "LanguagesReady",
                        "step_bootstrap": "BootstrapReady",
                    }[step.__name__]
                    self.report.set(kind, "False", "AgentError", f"{type(error).__name__}: {error}")

    def _run_tracked(
        self,
        user: User,
        argv: list[str],
        *,
        log_path: Path,
        timeout: float | None,
        env: dict[str, str] | None = None,
    ) -> int | None:
        process = user.popen(argv, log_path=log_path, env=env)
        with self.worker_lock:
            self.worker_children.add(process)
        try:
            return wait_group(process, timeout)
        finally:
            with self.worker_lock:
                self.worker_children.discard(process)

    # DotfilesReady

    def step_dotfiles(self, config: Config, user: User) -> None:
        dotfiles = config.section("dotfiles")
        repo = str(dotfiles.get("repo") or "")
        if not repo:
            self.report.set("DotfilesReady", "True", "NotRequested", "no dotfiles repository")
            return
        log_path = user.logs / "dotfiles.log"
        marker = read_marker("dotfiles.json")
        if marker.get("repo") == repo and marker.get("result") in ("Cloned", "BootstrapFailed"):
            self._report_dotfiles(marker, log_path)
            return
        timeout = parse_duration(dotfiles.get("timeout"), DOTFILES_TIMEOUT) or DOTFILES_TIMEOUT
        self.report.set("DotfilesReady", "Unknown", "Cloning", f"yadm clone {repo}")
        deadline = time.monotonic() + timeout
        log_header(log_path, user, f"dotfiles: yadm clone {repo}")
        env = user.env(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="/bin/false",
            SSH_ASKPASS="/bin/false",
            GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        )
        result: dict[str, Any] = {"repo": repo, "at": now_iso()}
        yadm_repo = user.home / ".local" / "share" / "yadm" / "repo.git"
        argv = ["yadm", "clone", "--no-bootstrap"]
        if yadm_repo.exists():
            argv.append("-f")
        code = self._run_tracked(
            user,
            [*argv, repo],
            log_path=log_path,
            env=env,
            timeout=max(1.0, deadline - time.monotonic()),
        )
        if code != 0:
            result |= {"result": "CloneFailed" if code is not None else "Timeout", "exitCode": code}
            write_marker("dotfiles.json", result)
            self._report_dotfiles(result, log_path, timeout)
            return
        self._take_over_conflicts(user, log_path, env)
        bootstrap = user.home / ".config" / "yadm" / "bootstrap"
        result |= {"result": "Cloned", "bootstrap": False}
        if bootstrap.exists():
            append_log(log_path, f"--- yadm bootstrap ({bootstrap})")
            remaining = deadline - time.monotonic()
            code = (
                self._run_tracked(user, ["yadm", "bootstrap"], log_path=log_path, env=env,
                                  timeout=remaining)
                if remaining > 0 else None
            )  # fmt: skip
            result |= {"bootstrap": True, "exitCode": code}
            if code != 0:
                result["result"] = "BootstrapFailed" if code is not None else "BootstrapTimeout"
        append_log(log_path, f"--- result: {result['result']}")
        write_marker("dotfiles.json", result)
        self._report_dotfiles(result, log_path, timeout)

    def _take_over_conflicts(self, user: User, log_path: Path, env: dict[str, str]) -> None:
        """yadm leaves files that were in the home before the clone (e.g. /etc/skel's) as
        they were; the repository's versions win, the old ones are kept aside."""
        code, out = user.output(["yadm", "ls-files", "--modified"], env=env)
        if code != 0:
            return
        changed = sorted({line.strip() for line in out.splitlines() if line.strip()})
        if not changed:
            return
        backup = user.home / ".wws" / "dotfiles-backup" / now_iso().replace(":", "")
        for rel in changed:
            source = user.home / rel
            if source.exists() or source.is_symlink():
                target = backup / rel
                user.mkdir(target.parent)
                shutil.copy2(source, target, follow_symlinks=False)
                os.chown(target, user.uid, user.gid, follow_symlinks=False)
        user.output(["yadm", "checkout", "--", *changed], env=env)
        append_log(
            log_path,
            f"--- the repository's versions of {', '.join(changed)} replace the "
            f"home's; the home's are kept in {backup}",
        )

    def _report_dotfiles(self, result: dict[str, Any], log_path: Path, timeout: float = 0) -> None:
        outcome = result.get("result")
        code = result.get("exitCode")
        if outcome == "Cloned":
            ran = " and ran its bootstrap" if result.get("bootstrap") else ""
            self.report.set(
                "DotfilesReady", "True", "Cloned", f"cloned {result['repo']}{ran}; log: {log_path}"
            )
        elif outcome == "CloneFailed":
            self.report.set(
                "DotfilesReady",
                "False",
                "CloneFailed",
                f"yadm clone of {result['repo']} failed (exit {code}); retried at the "
                f"next boot; log: {log_path}",
            )
        elif outcome == "Timeout":
            self.report.set(
                "DotfilesReady",
                "False",
                "Timeout",
                f"yadm clone took longer than {timeout:.0f}s; log: {log_path}",
            )
        elif outcome == "BootstrapTimeout":
            self.report.set(
                "DotfilesReady",
                "False",
                "BootstrapTimeout",
                f"yadm bootstrap took longer than the dotfiles timeout; log: {log_path}",
            )
        else:
            self.report.set(
                "DotfilesReady",
                "False",
                "BootstrapFailed",
                f"yadm bootstrap exited with code {code}; log: {log_path}",
            )

    # LanguagesReady

    def step_languages(self, config: Config, user: User) -> None:
        wanted = [lang for lang in config.data.get("languages") or [] if isinstance(lang, dict)]
        entries = {
            str(lang["name"]): {"name": str(lang["name"]), "state": "Pending",
                                "version": None, "message": ""}
            for lang in wanted if lang.get("name")
        }  # fmt: skip
        # Keep what is already known of languages still wanted.
        for name in list(entries):
            known = self.report.languages.get(name)
            if known and known.get("state") == "Installed":
                entries[name] = dict(known)
        self.report.set_languages(entries)
        if not entries:
            self.report.set("LanguagesReady", "True", "NotRequested", "no languages")
            return
        failed: list[str] = []
        for lang in wanted:
            name = str(lang.get("name") or "")
            if not name or self.stopping.is_set():
                continue
            version = str(lang.get("version") or "")
            try:
                installed = self.install_language(user, name, version)
                self.report.set_language(name, state="Installed", version=installed, message="")
            except StepError as error:
                failed.append(name)
                self.report.set_language(name, state="Failed", message=str(error))
            self._summarise_languages()
        self._summarise_languages()

    def _summarise_languages(self) -> None:
        entries = list(self.report.languages.values())
        failed = [e for e in entries if e.get("state") == "Failed"]
        pending = [e for e in entries if e.get("state") in ("Pending", "Installing")]
        if failed:
            self.report.set(
                "LanguagesReady",
                "False",
                "InstallFailed",
                "; ".join(f"{e['name']}: {e.get('message')}" for e in failed),
            )
        elif pending:
            self.report.set(
                "LanguagesReady",
                "Unknown",
                "Installing",
                "installing " + ", ".join(e["name"] for e in pending),
            )
        else:
            self.report.set(
                "LanguagesReady",
                "True",
                "Installed",
                ", ".join(f"{e['name']} {e.get('version')}" for e in entries),
            )

    def _language_env(
        self, user: User, name: str, version: str, debs: Path | None
    ) -> dict[str, str]:
        return user.env(
            WWS_LANGUAGE=name,
            WWS_LANGUAGE_VERSION=version,
            WWS_LANG_PREFIX=str(user.home / ".wws" / "languages" / name),
            WWS_DEBS=str(debs or ""),
            WWS_LIB_DIR=str(LIB_DIR),
        )

    def install_language(self, user: User, name: str, version: str) -> str:
        """Install (once per home and version) and return the installed version."""
        script = LANGUAGES_DIR / f"{name}.sh"
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not script.is_file():
            raise StepError(f"no installer for {name} in this image ({LANGUAGES_DIR})")
        log_path = user.logs / "languages" / f"{name}.log"
        marker_name = f"language-{name}.json"
        marker = read_marker(marker_name)
        env = self._language_env(user, name, version, None)
        if marker.get("requested") == version and marker.get("installed"):
            code, out = user.output([str(script), "version"], env=env)
            if code == 0 and out:
                return out.splitlines()[-1].strip()
            log(f"language {name}: installed, but `version` fails now ({out[-200:]}): reinstalling")
        self.report.set_language(name, state="Installing", message=f"log: {log_path}")
        self._summarise_languages()
        log_header(log_path, user, f"install {name} {version or '(default)'}")
        debs = self.fetch_debian_packages(user, name, version, script, log_path)
        env = self._language_env(user, name, version, debs)
        user.mkdir(user.home / ".wws" / "languages")
        exit_code = self._run_tracked(
            user, [str(script), "install"], log_path=log_path, env=env, timeout=LANGUAGE_TIMEOUT
        )
        if debs is not None:
            shutil.rmtree(debs, ignore_errors=True)
        if exit_code != 0:
            what = "timed out" if exit_code is None else f"failed (exit {exit_code})"
            raise StepError(f"install {what}; log: {log_path}")
        code, out = user.output([str(script), "version"], env=env)
        if code != 0 or not out:
            raise StepError(
                f"installed, but `{name}.sh version` fails: {out[-200:]}; log: {log_path}"
            )
        installed = out.splitlines()[-1].strip()
        if version and installed != version and not installed.startswith(version + "."):
            raise StepError(f"installed {name} {installed}, but {version} was asked for")
        append_log(log_path, f"--- installed {name} {installed}")
        write_marker(marker_name, {"requested": version, "installed": installed, "at": now_iso()})
        log(f"language {name} {installed} installed")
        return installed

    def fetch_debian_packages(
        self, user: User, name: str, version: str, script: Path, log_path: Path
    ) -> Path | None:
        """The Debian packages a language asks for (``<name>.sh packages``), with what they
        need beyond the image, downloaded once per home into /home/.wws/cache/apt and
        handed to the installer as a folder of .deb files (it extracts them into the home)."""
        env = self._language_env(user, name, version, None)
        code, out = user.output([str(script), "packages"], env=env)
        if code != 0:
            raise StepError(f"`{name}.sh packages` failed: {out[-200:]}")
        packages = out.split()
        if not packages:
            return None
        cache = STATE_ROOT / "cache" / "apt"
        lists = cache / "lists"
        archives = cache / "archives"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        options = [
            "-o", f"Dir::State::Lists={lists}",
            "-o", f"Dir::Cache::Archives={archives}",
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        stamp = lists / ".updated"
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < APT_LISTS_MAX_AGE
        with open(log_path, "a", encoding="utf-8") as out_log:

            def apt(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
                out_log.write(f"$ apt-get {' '.join(args)}\n")
                out_log.flush()
                result = run_root(["apt-get", *options, *args], check=False, timeout=timeout)
                out_log.write(result.stdout + result.stderr)
                out_log.flush()
                return result

            if not fresh:
                result = apt("update", "-q")
                if result.returncode != 0:
                    raise StepError(f"apt-get update failed; log: {log_path}")
                stamp.touch()
            simulate = apt("install", "-s", "-q", "--no-install-recommends", *packages)
            if simulate.returncode != 0:
                raise StepError(
                    f"Debian packages {' '.join(packages)} cannot be installed; log: {log_path}"
                )
            needed = re.findall(
                r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*?\[(\S+)\]\)", simulate.stdout, re.M
            )
            download = apt(
                "install", "--download-only", "-y", "-q", "--no-install-recommends", *packages
            )
            if download.returncode != 0:
                raise StepError(f"downloading {' '.join(packages)} failed; log: {log_path}")
        debs = Path(tempfile.mkdtemp(prefix=f"wws-debs-{name}-"))
        debs.chmod(0o755)
        for package, pkg_version, arch in needed:
            filename = f"{package}_{pkg_version.replace(':', '%3a')}_{arch}.deb"
            source = archives / filename
            if not source.exists():
                shutil.rmtree(debs, ignore_errors=True)
                raise StepError(f"{filename} is missing after the download; log: {log_path}")
            os.symlink(source, debs / filename)
        return debs

    # BootstrapReady

    def step_bootstrap(self, config: Config, user: User) -> None:
        bootstrap = config.section("bootstrap")
        script = str(bootstrap.get("script") or "")
        log_path = user.logs / "bootstrap.log"
        if not script.strip():
            self.report.set("BootstrapReady", "True", "NotRequested", "no bootstrap script")
            return
        digest = hashlib.sha256(script.encode()).hexdigest()
        marker = read_marker("bootstrap.json")
        if marker.get("sha256") == digest:
            self._report_bootstrap(marker, log_path)
            return
        timeout = parse_duration(bootstrap.get("timeout"), BOOTSTRAP_TIMEOUT) or None
        self.report.set(
            "BootstrapReady", "Unknown", "Running", f"bootstrap script running; log: {log_path}"
        )
        log_header(log_path, user, f"bootstrap script (sha256 {digest[:12]}) with {user.shell}")
        script_file = user.home / ".wws" / "bootstrap.sh"
        atomic_write(script_file, script.encode(), mode=0o700, owner=(user.uid, user.gid))
        started = time.monotonic()
        code = self._run_tracked(
            user, [user.shell, "-l", str(script_file)], log_path=log_path, timeout=timeout
        )
        result = {
            "sha256": digest,
            "exitCode": code,
            "at": now_iso(),
            "seconds": round(time.monotonic() - started, 1),
        }
        append_log(log_path, f"--- exit code {code if code is not None else 'none: timed out'}")
        write_marker("bootstrap.json", result)
        self._report_bootstrap(result, log_path, timeout)

    def _report_bootstrap(
        self, result: dict[str, Any], log_path: Path, timeout: float | None = None
    ) -> None:
        code = result.get("exitCode")
        if code == 0:
            self.report.set(
                "BootstrapReady",
                "True",
                "Succeeded",
                f"bootstrap script succeeded; log: {log_path}",
            )
        elif code is None:
            limit = f" ({timeout:.0f}s)" if timeout else ""
            self.report.set(
                "BootstrapReady",
                "False",
                "Timeout",
                f"bootstrap script ran past its timeout{limit}; log: {log_path}",
            )
        else:
            self.report.set(
                "BootstrapReady",
                "False",
                "ScriptFailed",
                f"bootstrap script exited with code {code}; log: {log_path}",
            )


def print_report() -> int:
    data = read_json(STATUS_DIR / "report.json")
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


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "run"
    if command == "run":
        if os.geteuid() != 0:
            print("wws-agent run: must run as root", file=sys.stderr)
            return 2
        return Agent().run()
    if command in ("status", "report"):
        return print_report()
    print(f"usage: {argv[0]} [run|status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
