"""Which domain type this host's VMs get: ``kvm`` where hardware virtualisation works,
else ``qemu`` (TCG, software emulation).

``/dev/kvm`` existing is not enough: in a nested VM it can exist and hang every guest.
So the first time on a host the provider boots the VM kernel with the probe initramfs
(:mod:`bootfiles`: ``wws.mode=probe`` prints a marker and powers off) under
``qemu-system-x86_64 -accel kvm``, bounded by :data:`PROBE_TIMEOUT`. The answer is kept in
``<data-dir>/kvm/acceleration.json`` with what it depends on (host name, host kernel,
QEMU's version) and asked again only when one of those changes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from providers.libvirt.bootfiles import BootFiles
from wws import logconfig

log = logconfig.get(__name__)

KVM = "kvm"
TCG = "qemu"
PROBE_TIMEOUT = 10.0
MARKER = "WWS-PROBE-OK"
QEMU = "qemu-system-x86_64"


@dataclass(frozen=True)
class Decision:
    domain_type: str  # KVM | TCG
    reason: str  # for people: why
    host: str
    kernel: str
    qemu: str
    probe_seconds: float


def _qemu_version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.splitlines()[0].strip() if out.stdout else ""


def probe_kvm(boot: BootFiles, *, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str, float]:
    """Boot the probe under KVM: (works, reason, seconds)."""
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm", 0.0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not usable by this user", 0.0
    args = [
        QEMU,
        "-accel",
        "kvm",
        "-m",
        "256",
        "-nodefaults",
        "-nographic",
        "-no-reboot",
        "-serial",
        "stdio",
        "-kernel",
        str(boot.kernel),
        "-initrd",
        str(boot.initrd),
        "-append",
        "console=ttyS0 quiet panic=-1 no_timer_check wws.mode=probe",
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        seconds = time.monotonic() - started
        return False, f"a KVM guest did not boot within {timeout:.0f}s (nested KVM?)", seconds
    except OSError as error:
        return False, f"{QEMU}: {error}", 0.0
    seconds = time.monotonic() - started
    if MARKER in result.stdout:
        return True, f"a KVM guest booted in {seconds:.1f}s", seconds
    detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
    return False, f"a KVM guest failed: {detail[0][:200]}", seconds


def decide(state_file: Path, boot: BootFiles, *, forced: str = "") -> Decision:
    """The remembered decision for this host, probing when there is none (or it is stale).
    ``forced`` ("kvm"/"qemu") skips the probe (the provider's ``acceleration`` option)."""
    host, kernel, qemu = socket.gethostname(), os.uname().release, _qemu_version()
    if forced in (KVM, TCG):
        return Decision(forced, "set by the provider's options", host, kernel, qemu, 0.0)
    try:
        saved = Decision(**json.loads(state_file.read_text()))
        if (saved.host, saved.kernel, saved.qemu) == (host, kernel, qemu):
            return saved
    except (OSError, ValueError, TypeError):
        pass
    works, reason, seconds = probe_kvm(boot)
    decision = Decision(KVM if works else TCG, reason, host, kernel, qemu, round(seconds, 2))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    partial = state_file.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(decision), indent=2) + "\n")
    os.replace(partial, state_file)
    log.info("VM acceleration decided", domain_type=decision.domain_type, reason=reason)
    return decision
