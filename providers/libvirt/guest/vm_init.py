"""PID 1 of a WWS virtual machine (the image's python3; standard library only).

The initramfs (``guest/init``) has mounted the root, the home, ``/run`` and the agent's
shares, and configured the network. This process then does what a service manager would
for the workspace:

- starts the image's own init, ``/usr/local/sbin/wws-init``, as a child (it runs the boot
  hooks and the agent exactly as in a container) with the workspace's environment;
- reaps every process re-parented to it;
- shuts down cleanly on the ACPI power button (libvirt's graceful shutdown), SIGTERM,
  SIGINT or SIGPWR, or when wws-init ends: TERM to wws-init (it stops the agent, sshd and
  code-server), TERM then KILL to whatever is left, ``sync``, the home and root unmounted
  or read-only, then power off. A clean power-off is what keeps the home's last writes.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

WWS_INIT = "/usr/local/sbin/wws-init"
STOP_GRACE = 10.0  # seconds wws-init gets to stop its children
KILL_GRACE = 2.0  # seconds everything else gets between TERM and KILL
EV_KEY = 1
KEY_POWER = 116
_EVENT = struct.Struct("llHHi")  # struct input_event on x86-64
RB_POWER_OFF = 0x4321FEDC
MNT_DETACH = 2


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} wws-vm-init: {message}", file=sys.stderr, flush=True)


def environment() -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "en_US.UTF-8",
        "HOME": "/root",
    }
    try:
        raw = read("/run/wws/vm/env.b64").strip()
        extra = json.loads(base64.b64decode(raw)) if raw else {}
        env.update({str(k): str(v) for k, v in extra.items()})
    except (OSError, ValueError) as error:
        log(f"no workspace environment: {error}")
    return env


def setup_host() -> None:
    try:
        name = read("/run/wws/vm/hostname").strip() or "workspace"
    except OSError:
        name = "workspace"
    socket.sethostname(name)
    with open("/etc/hostname", "w") as handle:
        handle.write(name + "\n")
    with open("/etc/hosts", "w") as handle:
        handle.write(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost\n")


def watch_power_button(wake: int) -> None:
    """Write to ``wake`` when the ACPI power button is pressed (libvirt's shutdown)."""
    devices = []
    for entry in sorted(os.listdir("/sys/class/input")):
        if not entry.startswith("event"):
            continue
        try:
            name = read(f"/sys/class/input/{entry}/device/name").strip()
        except OSError:
            continue
        if name == "Power Button":
            try:
                devices.append(os.open(f"/dev/input/{entry}", os.O_RDONLY))
            except OSError as error:
                log(f"cannot watch {entry}: {error}")
    if not devices:
        log("no power button: ACPI shutdown will not work")
        return
    while True:
        ready, _, _ = select.select(devices, [], [])
        for fd in ready:
            data = os.read(fd, _EVENT.size * 16)
            for offset in range(0, len(data) - _EVENT.size + 1, _EVENT.size):
                _, _, kind, code, value = _EVENT.unpack_from(data, offset)
                if kind == EV_KEY and code == KEY_POWER and value == 1:
                    os.write(wake, b"p")


def spawn(env: dict[str, str]) -> int:
    pid = os.fork()
    if pid == 0:  # the child: a session of its own, the console for output
        try:
            os.setsid()
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPWR):
                signal.signal(sig, signal.SIG_DFL)
            os.execve(WWS_INIT, [WWS_INIT], env)
        finally:
            os._exit(127)
    return pid


def reap() -> list[int]:
    gone: list[int] = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return gone
        if pid == 0:
            return gone
        gone.append(pid)


def others_alive() -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and entry != "1":
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read():
                        return True
            except OSError:
                pass
    return False


def power_off(init_pid: int | None) -> None:
    if init_pid is not None:
        log("stopping the workspace")
        with contextlib.suppress(ProcessLookupError):
            os.kill(init_pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and init_pid not in reap():
            time.sleep(0.05)
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 1.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, sig)
        deadline = time.monotonic() + grace
        while others_alive() and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
    reap()
    os.sync()
    libc = ctypes.CDLL(None, use_errno=True)
    for target in ("/run/wws/config", "/run/wws/status", "/home"):
        if libc.umount2(target.encode(), 0) != 0:
            libc.umount2(target.encode(), MNT_DETACH)
    subprocess.run(["mount", "-o", "remount,ro", "/"], check=False)
    os.sync()
    log("power off")
    libc.reboot(RB_POWER_OFF)
    while True:  # NB: PID 1 must never exit
        time.sleep(60)


def main() -> None:
    os.chdir("/")
    stop_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGPWR, signal.SIGHUP}
    for sig in (*stop_signals, signal.SIGCHLD):
        signal.signal(sig, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {*stop_signals, signal.SIGCHLD})
    try:
        setup_host()
    except OSError as error:
        log(f"host setup: {error}")
    env = environment()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    threading.Thread(target=watch_power_button, args=(wake_write,), daemon=True).start()
    init_pid: int | None = spawn(env)
    uptime = read("/proc/uptime").split()[0]
    log(f"wws-init started (pid {init_pid}) {uptime}s after the kernel")
    signal.set_wakeup_fd(wake_write)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {*stop_signals, signal.SIGCHLD})
    while True:
        try:
            data = os.read(wake_read, 64)
        except InterruptedError:
            continue
        if init_pid in reap():
            log("wws-init ended")
            init_pid = None
            power_off(None)
        if b"p" in data or any(chr(sig).encode() in data for sig in stop_signals):
            log("shutdown requested")
            power_off(init_pid)


if __name__ == "__main__":
    main()
