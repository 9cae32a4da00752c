"""The Podman API service: find a socket that answers, or start ``podman system service``.

WWS talks to Podman only through its REST API (the ``podman`` package). On a machine
without a running service, :func:`ensure_service` starts one on a socket under the data
dir, with WWS's own ``containers.conf`` (beside this module, package data: runc, cgroupfs,
explicit ulimits, events to a file) passed through ``CONTAINERS_CONF`` so the host's
configuration stays untouched.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

#: WWS's own Podman configuration, given to every podman process WWS starts. NB: a real
#: file (wws is installed as files, never zipped), since podman reads it by path.
CONTAINERS_CONF = Path(str(importlib.resources.files("providers.podman") / "containers.conf"))

#: Environment variable that names the socket of an already running service.
SOCKET_ENV = "WWS_PODMAN_SOCKET"


def podman_env(base_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``podman`` command: WWS's ``containers.conf``, unless the
    caller's environment already names one (an operator's override wins)."""
    env = dict(os.environ if base_env is None else base_env)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def default_socket(data_dir: Path) -> Path:
    """Where the service listens: ``$WWS_PODMAN_SOCKET``, else ``<data-dir>/podman/podman.sock``."""
    configured = os.environ.get(SOCKET_ENV)
    return Path(configured) if configured else data_dir / "podman" / "podman.sock"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the API service's Unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def ping(socket_path: Path, *, timeout: float = 2.0) -> bool:
    """True when a Podman API service answers ``/_ping`` on ``socket_path``."""
    if not socket_path.exists():
        return False
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Service:
    """A Podman API endpoint; ``process`` is set when WWS started the service itself."""

    socket_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the service if WWS started it (containers keep running: conmon owns them)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("podman service stopped", socket=str(self.socket_path))


def ensure_service(
    *, socket_path: Path, log_path: Path | None = None, timeout: float = 20.0
) -> Service:
    """Return a service that answers on ``socket_path``, starting one when none does.

    The started ``podman system service --time=0`` runs until :meth:`Service.stop`; if
    this process dies first, the service keeps running and the next call finds it. Its
    output goes to ``log_path`` (default: ``podman.log`` beside the socket). Raises
    :class:`base.ProviderUnavailable` when podman is not installed or the service does not
    answer within ``timeout``.
    """
    if ping(socket_path):
        return Service(socket_path=socket_path)
    podman = shutil.which("podman")
    if podman is None:
        raise base.ProviderUnavailable(
            "podman is not installed (run `bash deploy/host-setup.sh` or `make setup`)"
        )
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a stale socket of a service that is gone
    log_path = log_path or socket_path.with_name("podman.log")
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{socket_path}"],
            env=podman_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # NB: its own session, so a Ctrl-C meant for `wws up` reaches it only through
            # Service.stop() (after the controller has let go of it).
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise base.ProviderUnavailable(
                f"podman system service exited with {process.returncode}; see {log_path}"
            )
        if ping(socket_path, timeout=1.0):
            log.info("podman service started", socket=str(socket_path), pid=process.pid)
            return Service(socket_path=socket_path, process=process)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise base.ProviderUnavailable(
        f"podman system service did not answer on {socket_path} within {timeout:.0f}s; "
        f"see {log_path}"
    )
