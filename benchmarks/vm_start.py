"""Benchmark of the kvm provider: ``python -m benchmarks.vm_start``.

One run, on this machine, in a temporary data dir (the kernel package is fetched again):

- the VM layer: kernel + initramfs, then the image's base disk (``mkfs.ext4 -d`` +
  ``qemu-img convert``), timed; then asked again (reused: no work);
- apply → Ready: a Workspace with ``provider: kvm`` created in the real store (what
  ``kubectl apply`` sends), reconciled by the real controller (``wws controller run``), until
  a watch shows its Ready condition True (the agent has reported the user, SSH and
  code-server up); also when SSHReady turned True. Beside it a raw ``qemu-system-x86_64``
  direct-kernel boot of the same kernel, initramfs and base disk (its own overlay and home,
  the same shares by ``virtiofsd``, user-mode NICs) to a working SSH login; ``--runs`` of
  each, alternating, medians and their ratio;
- the bytes a second VM of the same image adds (its overlay and home, allocated);
- host memory of an idle VM beyond its guest's own: QEMU's RSS (+ virtiofsd) minus the
  guest's used memory (``MemTotal - MemAvailable`` inside).

Every VM is booted cold (a new home: the first boot also makes SSH host keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

import aiohttp

from benchmarks.workspace_start import GROUP, VERSION, Api, start_controller
from images.build import image as imagebuild
from providers import agent
from providers.libvirt import LibvirtProvider, bootfiles, disks, naming
from providers.podman import service
from providers.podman.folders import AgentFolders
from tests.support.storeproc import REPO, StoreProcess

TARGETS = {"ratio": 1.3, "disk_build_seconds": 60.0}
#: apply → Ready under software emulation on a busy 2-core host (first boot: SSH host keys).
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


# --- the controller ---------------------------------------------------------------------


def vm_workspace(namespace: str, name: str, image: str, key: Path) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "owner": "alice",
            "image": image,
            "provider": "kvm",
            "resources": {"cpu": "2", "memory": "2Gi"},
            "home": {"size": "10Gi"},
            "ssh": {"authorizedKeys": [key.with_suffix(".pub").read_text().strip()]},
        },
    }


class Watch:
    """When a namespace watch first showed each workspace's SSHReady and Ready True."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.seen: dict[tuple[str, str], float] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Event()

    async def run(self, started: asyncio.Event) -> None:
        url = self.api.workspaces(self.namespace) + "?watch=true"
        timeout = aiohttp.ClientTimeout(total=None)
        async with self.api.session.get(url, timeout=timeout) as response:
            started.set()
            async for line in response.content:
                obj = json.loads(line).get("object") or {}
                now = time.monotonic()
                name = str(obj["metadata"]["name"])
                self.objects[name] = obj
                for cond in (obj.get("status") or {}).get("conditions") or []:
                    if cond.get("status") == "True" and cond.get("type") in ("SSHReady", "Ready"):
                        self.seen.setdefault((name, cond["type"]), now)
                self.changed.set()

    async def until(self, key: tuple[str, str], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while key not in self.seen:
            if time.monotonic() > deadline:
                status = (self.objects.get(key[0]) or {}).get("status")
                raise TimeoutError(f"{key} not seen in {timeout:.0f}s; status: {status}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)
        return self.seen[key]


def link_caches(layout: naming.Layout, data_dir: Path) -> None:
    """The controller gets the kernel, initramfs, base disk and acceleration decision made
    above (hard links): its starts are measured, not the once-per-host work."""
    target = data_dir / "kvm"
    target.mkdir(parents=True)
    for name in ("cache", "images"):
        subprocess.run(["cp", "-al", str(layout.root / name), str(target / name)], check=True)
    decision = layout.root / "acceleration.json"
    if decision.exists():
        shutil.copy(decision, target / decision.name)


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


def _ssh_output(key: Path, port: int, command: str) -> str:
    argv = [
        "ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "alice@127.0.0.1", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout


async def idle_memory(uid: str, port: int, key: Path, idle_seconds: float) -> dict[str, float]:
    """QEMU's (and virtiofsd's) RSS beyond the guest's own used memory, once idle."""
    await asyncio.sleep(idle_seconds)
    qemu_kib = sum(_rss_kib(p) for p in _pids(f"guest={naming.domain_name(uid)}"))
    fsd_kib = sum(_rss_kib(p) for p in _pids(f"virtiofsd.*{uid}"))
    used = _ssh_output(
        key, port, "awk '/MemTotal/{t=$2} /MemAvailable/{a=$2} END{print t-a}' /proc/meminfo"
    )
    guest_kib = int(used.strip() or 0)
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
    podman: service.Service | None = None
    store: StoreProcess | None = None
    controller: subprocess.Popen[bytes] | None = None
    api: Api | None = None
    watcher: asyncio.Task[None] | None = None
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
        # NB: the once-per-host acceleration probe is not part of a start
        provider = LibvirtProvider(data_dir=work, acceleration=args.acceleration)
        await provider.open()
        results["acceleration_probe"] = (await provider.acceleration()).reason
        results["domain_type"] = (await provider.acceleration()).domain_type
        await provider.close()

        # The real store and controller, with the caches made above.
        folder = work / "controller"
        link_caches(layout, folder / "data")
        podman = service.ensure_service(socket_path=folder / "podman" / "podman.sock")
        store = StoreProcess(folder / "store", crds_dir=REPO / "crds").start()
        api = Api(store)
        namespace = f"b{uuid.uuid4().hex[:8]}"
        await api.post(
            f"{store.url}/apis/{GROUP}/{VERSION}/organizations",
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Organization",
             "metadata": {"name": namespace}},
        )  # fmt: skip
        health = f"127.0.0.1:{_free_port()}"
        controller = start_controller(store, podman.socket_path, folder, health)
        watch = Watch(api, namespace)
        watching = asyncio.Event()
        watcher = asyncio.create_task(watch.run(watching))
        await watching.wait()
        controller_layout = naming.Layout(folder / "data" / "kvm")

        wws_runs: list[float] = []
        ssh_runs: list[float] = []
        raw_runs: list[float] = []
        for index in range(args.runs):
            name = f"vm-{index}"
            started = time.monotonic()
            await api.post(api.workspaces(namespace), vm_workspace(namespace, name, image, key))
            ready = await watch.until((name, "Ready"), SSH_TIMEOUT) - started
            ssh_ready = await watch.until((name, "SSHReady"), 1) - started
            wws_runs.append(ready)
            ssh_runs.append(ssh_ready)
            print(
                f"run {index + 1}: apply → Ready {ready:.1f}s (SSHReady {ssh_ready:.1f}s)",
                file=sys.stderr,
            )
            if index == 0:
                obj = watch.objects[name]
                uid = str(obj["metadata"]["uid"])
                # a second VM of the same image adds only its overlay and its home
                results["second_vm_bytes"] = {
                    "overlay": disks.allocated_bytes(controller_layout.root_disk(uid)),
                    "home": disks.allocated_bytes(controller_layout.home_disk(uid)),
                    "base_disk_shared": disks.allocated_bytes(base_disk),
                }
                port = int(obj["status"]["endpoints"]["sshPort"])
                results.update(await idle_memory(uid, port, key, args.idle_seconds))
                if args.keep_logs:  # the agent's own log: where the guest's time went
                    agent_log = _ssh_output(key, port, "cat /home/.wws/logs/agent.log")
                    (Path(args.keep_logs) / f"{name}-agent.log").write_text(agent_log)
            if args.keep_logs:
                uid = str(watch.objects[name]["metadata"]["uid"])
                with contextlib.suppress(OSError):
                    shutil.copy(
                        controller_layout.console_log(uid), Path(args.keep_logs) / f"{name}.log"
                    )
            # NB: one VM at a time: an idle VM still costs CPU under emulation
            await api.delete(namespace, name)
            seconds_raw, procs = await asyncio.to_thread(raw_boot, boot, base_disk, key, work)
            raw_runs.append(seconds_raw)
            print(f"run {index + 1}: raw qemu → SSH {seconds_raw:.1f}s", file=sys.stderr)
            stop_raw(procs)
        results["apply_ready_seconds"] = [round(s, 1) for s in wws_runs]
        results["apply_sshready_seconds"] = [round(s, 1) for s in ssh_runs]
        results["raw_ssh_seconds"] = [round(s, 1) for s in raw_runs]
        results["apply_ready_p50"] = round(statistics.median(wws_runs), 1)
        results["apply_sshready_p50"] = round(statistics.median(ssh_runs), 1)
        results["raw_p50"] = round(statistics.median(raw_runs), 1)
        results["ratio"] = round(statistics.median(wws_runs) / statistics.median(raw_runs), 2)
        results["ratio_sshready"] = round(
            statistics.median(ssh_runs) / statistics.median(raw_runs), 2
        )
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if watcher is not None:
            watcher.cancel()
        if api is not None:
            await api.close()
        if controller is not None and controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            controller.wait(timeout=60)
        if store is not None:
            store.stop()
        if args.keep_logs:
            with contextlib.suppress(OSError):
                shutil.copy(work / "controller" / "controller.log", args.keep_logs)
        if podman is not None:
            podman.stop()
        _remove_leftovers(work)
        shutil.rmtree(work, ignore_errors=True)
    return results


def _remove_leftovers(work: Path) -> None:
    """Domains of this run left by a failure (the controller deletes its own)."""
    found = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for domain in found:
        xml = subprocess.run(
            ["virsh", "-c", "qemu:///system", "dumpxml", domain], capture_output=True, text=True
        ).stdout
        if str(work) in xml:
            for verb in ("destroy", "undefine"):
                subprocess.run(["virsh", "-c", "qemu:///system", verb, domain], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--image", default=os.environ.get("WWS_TEST_IMAGE", ""))
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--acceleration", default="")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-logs", help="a folder for the controller's and the VMs' logs")
    args = parser.parse_args()
    if args.keep_logs:
        Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
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
