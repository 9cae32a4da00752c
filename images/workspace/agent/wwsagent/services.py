"""The supervised services: sshd (SSHReady) and code-server (EditorReady), started with the
config, restarted with a backoff when they die, probed, and reported."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from wwsagent import errors, files, logs, processes, settings
from wwsagent.configuration import Config
from wwsagent.owner import User
from wwsagent.reporting import Reporter

#: Exits before a service first answered that still count as starting (Unknown), not failed.
STARTUP_RETRIES = 4


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
        self.misses = 0  # failed probes in a row while ready

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            processes.kill_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                processes.kill_group(self.process, signal.SIGKILL)
                self.process.wait()
        self.process = None
        self.key = ""
        self.ready = False


# NB: the probes wait up to 5 s for an answer: a closed port fails at once anyway, and a
# busy VM under software emulation can take seconds for sshd's banner (it re-executes itself
# per connection); a 1 s wait flipped SSHReady to False and back on a loaded host.
def tcp_banner(port: int, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return sock.recv(64)


def http_ok(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 400)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def make_host_key(keys_dir: Path, kind: str) -> None:
    """An SSH host key, written under a temporary name and renamed (the private key last:
    its presence means the pair is complete, also after a crash mid-way)."""
    key = keys_dir / f"ssh_host_{kind}_key"
    new = keys_dir / f"ssh_host_{kind}_key.new"
    for leftover in (new, new.with_name(new.name + ".pub"), key.with_name(key.name + ".pub")):
        leftover.unlink(missing_ok=True)
    processes.run_root(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"wws-{kind}", "-f", str(new)]
    )
    new.with_name(new.name + ".pub").replace(key.with_name(key.name + ".pub"))
    new.replace(key)
    logs.log(f"SSH host key {key.name} generated")


class Services:
    """sshd and code-server of the workspace, and what the report says about them."""

    def __init__(self, report: Reporter) -> None:
        self.report = report
        self.sshd = Service("sshd")
        self.code_server = Service("code-server")
        self.sshd_keys = 0
        self.later_keys: threading.Thread | None = None
        self.pending_keys: tuple[Path, list[str]] | None = None

    def stop(self) -> None:
        self.code_server.stop()
        self.sshd.stop()

    def ensure_sshd(self, config: Config, user: User) -> None:
        """SSHReady: host keys kept in /home/.wws, the owner's authorized keys, sshd."""
        if not config.editor("ssh"):
            self.sshd.stop()
            self.report.set("SSHReady", "True", "Disabled", "spec.editors.ssh is false")
            return
        keys_dir = settings.STATE_ROOT / "ssh-host-keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        keys_dir.chmod(0o700)
        later = []
        for kind in settings.SSH_HOST_KEY_TYPES:
            if not (keys_dir / f"ssh_host_{kind}_key").exists():
                if kind in settings.SSH_HOST_KEYS_LATER:
                    later.append(kind)
                else:
                    make_host_key(keys_dir, kind)
        keys = [str(k).strip() for k in config.section("ssh").get("authorizedKeys") or []]
        keys = [k for k in keys if k and "\n" not in k]
        settings.AUTHORIZED_KEYS_DIR.mkdir(parents=True, exist_ok=True)
        for stale in settings.AUTHORIZED_KEYS_DIR.iterdir():
            if stale.name != user.name:
                stale.unlink()
        files.atomic_write(
            settings.AUTHORIZED_KEYS_DIR / user.name, "".join(k + "\n" for k in keys).encode()
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        test = processes.run_root(["/usr/sbin/sshd", "-t"], check=False)
        if test.returncode != 0:
            raise errors.StepError(f"sshd -t: {test.stderr.strip()[-300:]}")
        if not self.sshd.running():
            self.start_sshd()
        self.pending_keys = (keys_dir, later) if later else None
        self.sshd_keys = len(keys)

    def _start_later_keys(self, editor_settled: bool) -> None:
        """The slow host keys, once code-server answers (or is off): made beside its start
        they took the CPU it needed to answer its own 10 s start-up handshake in a VM."""
        if self.pending_keys is None or not editor_settled:
            return
        if self.later_keys is not None and self.later_keys.is_alive():
            return
        keys_dir, kinds = self.pending_keys
        self.pending_keys = None
        self.later_keys = threading.Thread(
            target=self._make_later_keys, args=(keys_dir, kinds), daemon=True
        )
        self.later_keys.start()

    def _make_later_keys(self, keys_dir: Path, kinds: list[str]) -> None:
        """The slow host keys, then sshd reloaded (SIGHUP: it re-executes itself, same pid,
        open sessions kept) so it offers them too."""
        try:
            for kind in kinds:
                make_host_key(keys_dir, kind)
        except (errors.StepError, OSError, subprocess.SubprocessError) as error:
            logs.log(f"SSH host keys {kinds} not made (the next config apply retries): {error}")
            return
        process = self.sshd.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGHUP)
            logs.log("sshd reloaded with the new host keys")

    def start_sshd(self) -> None:
        log_path = settings.STATE_ROOT / "logs" / "sshd.log"
        logs.rotate(log_path)
        with open(log_path, "ab") as out:
            self.sshd.process = subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-e"],
                env={"PATH": settings.SYSTEM_PATH, "LANG": "C.UTF-8"},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.sshd.key = "sshd"
        self.sshd.ready = False
        self.sshd.next_probe = 0.0
        self.report.set(
            "SSHReady", "Unknown", "Starting", f"sshd starting on port {settings.SSH_PORT}"
        )

    def ensure_code_server(self, config: Config, user: User) -> None:
        """EditorReady: code-server with the workspace's password (never without one)."""
        if not config.editor("codeServer"):
            self.code_server.stop()
            self.report.set("EditorReady", "True", "Disabled", "spec.editors.codeServer is false")
            return
        password = config.secret(settings.PASSWORD_FILE)
        if not password:
            self.code_server.stop()
            self.report.set(
                "EditorReady",
                "False",
                "NoPassword",
                f"no {settings.PASSWORD_FILE} in the config: code-server never runs without one",
            )
            return
        if not settings.CODE_SERVER.exists():
            raise errors.StepError(f"{settings.CODE_SERVER} is not in this image")
        key = hashlib.sha256(f"{user.name}\0{user.shell}\0{password}".encode()).hexdigest()
        if self.code_server.running() and self.code_server.key == key:
            return
        self.code_server.stop()
        self.code_server.key = key
        self.code_server.failures = 0
        self.code_server.next_start = 0.0
        self.start_code_server(config, user)

    def start_code_server(self, config: Config, user: User) -> None:
        password = config.secret(settings.PASSWORD_FILE) or ""
        editor_config = user.home / ".config" / "code-server" / "config.yaml"
        if not editor_config.exists():
            user.mkdir(editor_config.parent)
            files.atomic_write(
                editor_config,
                b"# Written once by WWS; yours to change. The password is the workspace's\n"
                b"# (its Secret), given to code-server in $PASSWORD: none is kept here.\n"
                b"bind-addr: 0.0.0.0:8080\nauth: password\ncert: false\n",
                mode=0o600,
                owner=(user.uid, user.gid),
            )
        user_settings = user.home / ".local" / "share" / "code-server" / "User" / "settings.json"
        if not user_settings.exists():
            user.mkdir(user_settings.parent)
            files.atomic_write(
                user_settings,
                b'{\n  "workbench.startupEditor": "none",\n'
                b'  "security.workspace.trust.enabled": false\n}\n',
                mode=0o644,
                owner=(user.uid, user.gid),
            )
        argv = [
            str(settings.CODE_SERVER),
            "--bind-addr", f"0.0.0.0:{settings.CODE_SERVER_PORT}",
            "--auth", "password",
            "--disable-telemetry",
            "--disable-update-check",
            # The owner's own home: no Restricted Mode banner, and none of code-server's
            # promotional panels (its Getting Started page advertises another product).
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            str(user.home),
        ]  # fmt: skip
        # Node.js's compile cache (in the home, so it outlives the container or VM): a
        # restart, e.g. after a missed start-up handshake, loads code-server about 40 %
        # faster; the first start writes it.
        env = user.env(
            PASSWORD=password,
            NODE_COMPILE_CACHE=str(user.home / ".cache" / "code-server" / "node-compile-cache"),
        )
        log_path = user.logs / "code-server.log"
        logs.log_header(log_path, user, "code-server")
        key = self.code_server.key
        self.code_server.process = user.popen(argv, log_path=log_path, env=env)
        self.code_server.key = key
        self.code_server.ready = False
        self.code_server.next_probe = 0.0
        self.report.set(
            "EditorReady",
            "Unknown",
            "Starting",
            f"code-server starting on port {settings.CODE_SERVER_PORT}",
        )

    def supervise(self, config: Config | None, user: User | None) -> None:
        """Restart what died (with a backoff) and probe what runs; report both."""
        if config is None or user is None:
            return
        now = time.monotonic()
        if config.editor("ssh") and self.sshd.key:
            self._supervise(
                self.sshd,
                "SSHReady",
                now,
                self.start_sshd,
                settings.STATE_ROOT / "logs" / "sshd.log",
                self._probe_sshd,
            )
        editor = self.code_server
        self._start_later_keys(
            not config.editor("codeServer")
            or editor.ready
            or not editor.key  # not run (no password)
            or editor.failures > STARTUP_RETRIES
        )
        if config.editor("codeServer") and self.code_server.key:
            self._supervise(
                self.code_server,
                "EditorReady",
                now,
                lambda: self.start_code_server(config, user),
                user.logs / "code-server.log",
                self._probe_code_server,
            )

    def _supervise(
        self,
        service: Service,
        condition: str,
        now: float,
        start: Callable[[], None],
        log_path: Path,
        probe: Callable[[], bool],
    ) -> None:
        process = service.process
        if process is not None and process.poll() is not None:
            code = process.returncode
            answered = service.ready
            service.process = None
            service.ready = False
            service.failures += 1
            delay = min(60.0, 2.0 ** min(service.failures, 6))
            service.next_start = now + delay
            if not answered and service.failures <= STARTUP_RETRIES:
                # NB: still starting, not failed: code-server gives up when its own child
                # does not answer its start-up handshake within 10 s, which a busy machine
                # (a VM under software emulation) can miss; the next try usually makes it.
                self.report.set(
                    condition,
                    "Unknown",
                    "Restarting",
                    f"{service.name} exited with code {code} before it answered (try "
                    f"{service.failures} of {STARTUP_RETRIES}); restarting in {delay:.0f}s; "
                    f"log: {log_path}",
                )
                return
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
        if not ok and service.ready and service.misses < 1:
            # NB: one miss is not enough: sshd re-executing itself on a reload (SIGHUP)
            # closes its port for a moment
            service.misses += 1
            service.next_probe = now + 1.0
            return
        service.misses = 0
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
            keys = self.sshd_keys
            self.report.set(
                condition,
                "True",
                "Listening",
                f"sshd listens on port {settings.SSH_PORT}; {keys} authorized key(s)",
            )
        else:
            self.report.set(
                condition,
                "True",
                "Answering",
                f"code-server answers on port {settings.CODE_SERVER_PORT}",
            )

    def _probe_sshd(self) -> bool:
        try:
            return tcp_banner(settings.SSH_PORT).startswith(b"SSH-")
        except OSError:
            return False

    def _probe_code_server(self) -> bool:
        return http_ok(f"http://127.0.0.1:{settings.CODE_SERVER_PORT}/healthz")
