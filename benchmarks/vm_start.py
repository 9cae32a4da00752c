"""Benchmark of the kvm provider: ``python -m benchmarks.vm_start``.

One run, on this machine, in a temporary data dir (the kernel package is fetched again):

- the VM layer: kernel + initramfs, then the image's base disk (``mkfs.ext4 -d`` +
  ``qemu-img convert``), timed; then asked again (reused: no work);
- ensure → a working SSH login as the owner, through the provider (libvirt, the
  organization's network, virtiofs shares, the agent), beside a raw
  ``qemu-system-x86_64`` direct-kernel boot of the same kernel, initramfs and base disk
  (its own overlay and home, the same shares by ``virtiofsd``, user-mode NICs) to a
  working SSH login; ``--runs`` of each, alternating, medians and their ratio;
- the bytes a second VM of the same image adds (its overlay and home, allocated);
- host memory of an idle VM beyond its guest's own: QEMU's RSS (+ virtiofsd) minus the
  guest's used memory (``MemTotal - MemAvailable`` inside).

Every VM is booted cold (a new home: the first boot also makes SSH host keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from images.build import image as imagebuild
from providers import agent, base
from providers.libvirt import LibvirtProvider, bootfiles, disks, naming
from providers.podman.folders import AgentFolders

TARGETS = {"ratio": 1.3, "disk_build_seconds": 60.0}
SSH_TIMEOUT = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ssh_ok(key: Path, port: int) -> bool:
    argv = [
        "ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port), "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR", "alice@127.0.0.1", "true",
    ]  # fmt: skip
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait_ssh(key: Path, port: int, started: float) -> float:
    while time.monotonic() - started < SSH_TIMEOUT:
        if _ssh_ok(key, port):
            return time.monotonic() - started
        time.sleep(0.25)
    raise TimeoutError(f"no SSH login on port {port} within {SSH_TIMEOUT:.0f}s")


def _config(uid: str, key: Path) -> dict[str, bytes]:
    spec = {"owner": "alice", "ssh": {"authorizedKeys": [key.with_suffix(".pub").read_text()]}}
    config = agent.workspace_config(namespace="bench", name="vm", uid=uid, generation=1, spec=spec)
    return agent.config_files(config, code_server_password="benchmark")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pids(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


# --- the provider ---------------------------------------------------------------------------


async def provider_boot(
    provider: LibvirtProvider, image: str, key: Path, org: str
) -> tuple[float, base.WorkspaceRef, base.Observed]:
    uid = str(uuid.uuid4())
    ref = base.WorkspaceRef(namespace=org, name="vm", uid=uid, organization=org)
    desired = base.DesiredWorkspace(
        ref=ref, image=image, config_files=_config(uid, key), memory_bytes=2 * 1024**3, cpu=2
    )
    started = time.monotonic()
    observed = await provider.ensure(desired)
    port = observed.host_port("ssh")
    assert port
    seconds = await asyncio.to_thread(_wait_ssh, key, port, started)
    return seconds, ref, observed


# --- raw QEMU -------------------------------------------------------------------------------


def raw_boot(
    boot: bootfiles.BootFiles, base_disk: Path, key: Path, work: Path
) -> tuple[float, list[subprocess.Popen[bytes]]]:
    """The same kernel, initramfs and base disk under a bare qemu-system-x86_64."""
    uid = uuid.uuid4().hex
    folder = work / f"raw-{uid}"
    (folder / "config").mkdir(parents=True)
    (folder / "status").mkdir()
    AgentFolders(work / "rawfolders").sync_config(uid, _config(uid, key))
    shutil.copytree(
        work / "rawfolders" / "workspaces" / uid / "config", folder / "config", dirs_exist_ok=True
    )
    disks.make_root_overlay(folder / "root.qcow2", base_disk)
    disks.ensure_home(folder / "home.img", 10 * 1024**3)
    started = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    for tag in ("config", "status"):
        procs.append(
            subprocess.Popen(
                [
                    "/usr/lib/qemu/virtiofsd",
                    f"--socket-path={folder / tag}.sock",
                    "-o",
                    f"source={folder / tag},cache=none,no_xattr",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for tag in ("config", "status"):
        while not (folder / f"{tag}.sock").exists():
            time.sleep(0.01)
    port = _free_port()
    fwd_mac, org_mac = "52:54:00:aa:00:01", "52:54:00:aa:00:02"
    cmdline = (
        f"console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check wws.mode=boot wws.hostname=raw "
        f"wws.fwdmac={fwd_mac} wws.orgmac={org_mac} wws.env=e30="
    )
    argv = [
        "qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-cpu", "max", "-smp", "2",
        "-m", "2G", "-object", "memory-backend-memfd,id=mem,size=2G,share=on",
        "-numa", "node,memdev=mem", "-nodefaults", "-nographic", "-no-user-config",
        "-serial", f"file:{folder / 'console.log'}",
        "-kernel", str(boot.kernel), "-initrd", str(boot.initrd), "-append", cmdline,
        "-drive", f"file={folder / 'root.qcow2'},if=virtio,format=qcow2",
        "-drive", f"file={folder / 'home.img'},if=virtio,format=raw",
        "-chardev", f"socket,id=fs0,path={folder / 'config'}.sock",
        "-device", "vhost-user-fs-pci,chardev=fs0,tag=wws-config",
        "-chardev", f"socket,id=fs1,path={folder / 'status'}.sock",
        "-device", "vhost-user-fs-pci,chardev=fs1,tag=wws-status",
        "-netdev", "user,id=org,net=10.0.3.0/24",
        "-device", f"virtio-net-pci,netdev=org,mac={org_mac}",
        "-netdev", f"user,id=fwd,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", f"virtio-net-pci,netdev=fwd,mac={fwd_mac}",
        "-device", "virtio-rng-pci", "-device", "pvpanic",
    ]  # fmt: skip
    procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    seconds = _wait_ssh(key, port, started)
    return seconds, procs


def stop_raw(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def idle_memory(
    ref: base.WorkspaceRef, observed: base.Observed, key: Path, idle_seconds: float
) -> dict[str, float]:
    """QEMU's (and virtiofsd's) RSS beyond the guest's own used memory, once idle."""
    await asyncio.sleep(idle_seconds)
    qemu_kib = sum(_rss_kib(p) for p in _pids(f"guest={naming.domain_name(ref.uid)}"))
    fsd_kib = sum(_rss_kib(p) for p in _pids(f"virtiofsd.*{ref.uid}"))
    port = observed.host_port("ssh")
    used = subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "alice@127.0.0.1",
            "awk '/MemTotal/{t=$2} /MemAvailable/{a=$2} END{print t-a}' /proc/meminfo",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    guest_kib = int(used.stdout.strip() or 0)
    return {
        "idle_qemu_rss_mib": round(qemu_kib / 1024, 1),
        "idle_virtiofsd_rss_mib": round(fsd_kib / 1024, 1),
        "idle_guest_used_mib": round(guest_kib / 1024, 1),
        "idle_overhead_mib": round((qemu_kib + fsd_kib - guest_kib) / 1024, 1),
    }


# --- the run --------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    image = args.image or imagebuild.IMAGE
    work = Path(tempfile.mkdtemp(prefix="wws-vm-bench-"))
    results: dict[str, Any] = {"image": image}
    key = work / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    layout = naming.Layout(work / "kvm")
    try:
        started = time.monotonic()
        boot = bootfiles.ensure_boot_files(layout.cache)
        results["boot_files_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        base_disk, _ = disks.ensure_base_disk(layout, image)
        results["disk_build_seconds"] = round(time.monotonic() - started, 1)
        results["base_disk_bytes"] = disks.allocated_bytes(base_disk)
        started = time.monotonic()
        disks.ensure_base_disk(layout, image)
        results["disk_reuse_seconds"] = round(time.monotonic() - started, 3)

        provider = LibvirtProvider(data_dir=work, acceleration=args.acceleration)
        await provider.open()
        # NB: the once-per-host acceleration probe is not part of a start
        results["acceleration_probe"] = (await provider.acceleration()).reason
        org = f"b{uuid.uuid4().hex[:8]}"
        wws_runs: list[float] = []
        raw_runs: list[float] = []
        for index in range(args.runs):
            seconds, ref, observed = await provider_boot(provider, image, key, org)
            wws_runs.append(seconds)
            print(f"run {index + 1}: provider ensure → SSH {seconds:.1f}s", file=sys.stderr)
            if index == 0:
                # a second VM of the same image adds only its overlay and its home
                results["second_vm_bytes"] = {
                    "overlay": disks.allocated_bytes(layout.root_disk(ref.uid)),
                    "home": disks.allocated_bytes(layout.home_disk(ref.uid)),
                    "base_disk_shared": disks.allocated_bytes(base_disk),
                }
                results.update(await idle_memory(ref, observed, key, args.idle_seconds))
            # NB: one VM at a time: an idle VM still costs CPU under emulation
            await provider.delete(ref)
            seconds_raw, procs = await asyncio.to_thread(raw_boot, boot, base_disk, key, work)
            raw_runs.append(seconds_raw)
            print(f"run {index + 1}: raw qemu → SSH {seconds_raw:.1f}s", file=sys.stderr)
            stop_raw(procs)
        results["provider_ssh_seconds"] = [round(s, 1) for s in wws_runs]
        results["raw_ssh_seconds"] = [round(s, 1) for s in raw_runs]
        results["provider_p50"] = round(statistics.median(wws_runs), 1)
        results["raw_p50"] = round(statistics.median(raw_runs), 1)
        results["ratio"] = round(statistics.median(wws_runs) / statistics.median(raw_runs), 2)
        results["domain_type"] = (await provider.acceleration()).domain_type
        await provider.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--image", default=os.environ.get("WWS_TEST_IMAGE", ""))
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--acceleration", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, value in results.items():
            target = TARGETS.get(name)
            print(f"{name:28} {value}" + (f"   (target {target})" if target else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
