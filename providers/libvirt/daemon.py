"""libvirtd: connect, or start it (and virtlogd) when none answers.

Hosts without systemd (containers, CI machines, this project's development machines) have
no socket activation: as the Podman provider starts ``podman system service``, this module
starts ``virtlogd -d`` and ``libvirtd -d`` when the URI is local and nothing answers. They
keep running when WWS stops (the VMs need them to be managed, not to run).
"""

from __future__ import annotations

import shutil
import subprocess
import time

import libvirt

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

DEFAULT_URI = "qemu:///system"
HINT = "install libvirt (`bash deploy/host-setup.sh`) or start libvirtd"


def _silence_libvirt() -> None:
    # NB: libvirt prints every error to stderr by default; WWS logs what matters itself.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def connect(uri: str) -> libvirt.virConnect:
    """A connection to ``uri``; :class:`base.ProviderUnavailable` when none answers."""
    _silence_libvirt()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as error:
        raise base.ProviderUnavailable(f"libvirt at {uri}: {error.get_error_message()}") from error
    if conn is None:
        raise base.ProviderUnavailable(f"libvirt at {uri}: no connection")
    return conn


def is_local(uri: str) -> bool:
    return uri.split("://", 1)[-1].startswith("/")


def ensure_daemon(uri: str, *, timeout: float = 20.0) -> bool:
    """Make sure a libvirtd answers on ``uri``; True when this call started it."""
    try:
        connect(uri).close()
        return False
    except base.ProviderUnavailable:
        if not is_local(uri):
            raise
    libvirtd = shutil.which("libvirtd")
    virtlogd = shutil.which("virtlogd")
    if libvirtd is None or virtlogd is None:
        raise base.ProviderUnavailable(f"libvirtd is not installed; {HINT}")
    for program in (virtlogd, libvirtd):
        name = program.rsplit("/", 1)[-1]
        if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0:
            continue
        # `-d` daemonizes: the daemon outlives WWS, as a systemd unit would.
        result = subprocess.run([program, "-d"], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise base.ProviderUnavailable(f"{name} -d failed: {result.stderr.strip()}; {HINT}")
        log.info("started", daemon=name)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            connect(uri).close()
            return True
        except base.ProviderUnavailable as error:
            last = str(error)
        time.sleep(0.2)
    raise base.ProviderUnavailable(f"libvirtd did not answer within {timeout:.0f}s: {last}")
