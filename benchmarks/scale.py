"""Benchmark of the controller at scale (issue 12): ``python -m benchmarks.scale``.

One run starts everything for real — the embedded store, a Podman API service of its own,
the controller as ``wws controller run`` (default ``--resync 30``) — and measures, in order:

1. ``--stopped`` (default 1,000) Workspaces with ``running: false`` created at once (16
   concurrent creates, what ``kubectl apply -f`` of many files does) → the time until every
   one has a status for its generation (``status.observedGeneration``, seen on a watch);
2. then, with nothing changing, ``--idle`` seconds (default 300) of the controller's and the
   store's CPU (user + system, as a share of one core) and the controller's RSS (now, and
   its peak); the idle window starts ``--settle`` seconds after step 1;
3. ``--running`` (default 50) Workspaces with ``running: true`` created at once → all
   phase Running;
4. once all of them are Ready (reported as ``ready_all_s``), one killed behind WWS's back
   (``podman kill``) → running again (a new start time, as ``podman inspect`` shows it);
5. ``--delete`` (default 61: the running ones plus stopped ones) deleted at once (their
   containers and homes with them) → all gone from the API.

``--only stopped`` runs steps 1 and 2 alone (e.g. with ``--stopped 10000``: the store's RSS is
reported too). The stopped workspaces left at the end are removed behind the controller's
back after it has stopped (their homes with ``podman volume rm``), which is much quicker
than deleting thousands through it and is not what is measured.

The machine is shared: the load average before and after is printed with the figures.
NB: every Podman container and volume takes one of Podman's locks (``num_locks``, 2,048 by
default in ``containers.conf``): more than about 2,000 workspaces on one Podman need it
raised (and ``podman system renumber``) first, or their homes are refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.workspace_start import (
    GROUP,
    VERSION,
    Api,
    cpu_seconds,
    peak_rss_mb,
    podman_cli,
    start_controller,
    workspace,
)
from images.build import image as imagebuild
from providers.podman import naming, service
from tests.support.storeproc import REPO, StoreProcess

TARGETS = {
    "stopped_status_s": 10.0,
    "idle_controller_cpu_pct": 2.0,
    "idle_controller_rss_mb": 120.0,
    "idle_store_cpu_pct": 1.0,
    "running_all_s": 20.0,
    "delete_all_s": 20.0,
    "killed_back_s": 5.0,
    "store_rss_mb_10k": 400.0,
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class StatusWatch:
    """A watch on the namespace's Workspaces: when each first had a status for its
    generation, was Running, and went away."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.statused: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.deleted: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self, started: asyncio.Event) -> None:
        url = self.api.workspaces(self.namespace) + "?watch=true&allowWatchBookmarks=true"
        forever = aiohttp.ClientTimeout(total=None)
        async with self.api.session.get(url, timeout=forever) as response:
            started.set()
            async for line in response.content:
                event = json.loads(line)
                obj = event.get("object") or {}
                metadata = obj.get("metadata") or {}
                name = str(metadata.get("name"))
                status = obj.get("status") or {}
                now = time.monotonic()
                if event.get("type") == "DELETED":
                    self.deleted.setdefault(name, now)
                elif status.get("observedGeneration") == metadata.get("generation"):
                    self.statused.setdefault(name, now)
                if status.get("phase") == "Running":
                    self.running.setdefault(name, now)
                    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
                    if ready and ready[0].get("status") == "True":
                        self.ready.setdefault(name, now)
                self.changed.set()

    async def until(self, seen: dict[str, float], names: list[str], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not all(name in seen for name in names):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [name for name in names if name not in seen]
                raise TimeoutError(f"{len(missing)} not seen within {timeout:.0f} s: {missing[:5]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return max(seen[name] for name in names)


async def create_all(api: Api, namespace: str, bodies: list[dict[str, Any]]) -> float:
    """Create every body, 16 at a time; when the last create was acknowledged."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker() -> None:
        while not queue.empty():
            await api.post(api.workspaces(namespace), queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(16)))
    return time.monotonic()


async def store_requests(api: Api) -> float:
    """Requests the store has authorized so far (``wws_store_authorization_decisions``,
    allowed): every request of every client, this one's included."""
    async with api.session.get(f"{api.url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("wws_store_authorization_decisions_total") and "allowed" in line:
            return float(line.rsplit(" ", 1)[1])
    raise RuntimeError("the store's /metrics has no authorization counter")


async def stopped_phase(
    api: Api,
    watch: StatusWatch,
    namespace: str,
    image: str,
    args: argparse.Namespace,
    controller: subprocess.Popen[bytes],
    store: StoreProcess,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    names = [f"idle-{n:05d}" for n in range(args.stopped)]
    bodies = [workspace(namespace, name, image, running=False) for name in names]
    requests0, cpu0 = await store_requests(api), cpu_seconds(controller.pid)
    began = time.monotonic()
    applied = await create_all(api, namespace, bodies)
    done = await watch.until(watch.statused, names, timeout=args.timeout)
    figures["stopped_applied_s"] = applied - began
    figures["stopped_status_s"] = done - began
    print(
        f"{args.stopped} stopped: applied in {applied - began:.1f} s, all with a status"
        f" after {done - began:.1f} s",
        flush=True,
    )
    await asyncio.sleep(args.settle)
    # NB: load-independent figures of the burst (up to the end of the settle): the
    # controller's CPU seconds and the requests the store served, less this benchmark's own
    # (one create per workspace, this /metrics read), per workspace.
    requests1, cpu1 = await store_requests(api), cpu_seconds(controller.pid)
    n = max(args.stopped, 1)
    figures["stopped_requests_per_ws"] = (requests1 - requests0 - args.stopped - 1) / n
    figures["stopped_controller_cpu_ms_per_ws"] = 1000 * (cpu1 - cpu0) / n
    print(
        f"burst: {figures['stopped_requests_per_ws']:.2f} store requests and"
        f" {figures['stopped_controller_cpu_ms_per_ws']:.1f} ms of controller CPU per"
        " workspace (besides the benchmark's own create)",
        flush=True,
    )
    store_pid = store.process.pid if store.process is not None else 0
    c0, s0, t0 = cpu_seconds(controller.pid), cpu_seconds(store_pid), time.monotonic()
    await asyncio.sleep(args.idle)
    c1, s1, t1 = cpu_seconds(controller.pid), cpu_seconds(store_pid), time.monotonic()
    figures["idle_seconds"] = t1 - t0
    figures["idle_controller_cpu_pct"] = 100 * (c1 - c0) / (t1 - t0)
    figures["idle_store_cpu_pct"] = 100 * (s1 - s0) / (t1 - t0)
    figures["idle_controller_rss_mb"] = rss_mb(controller.pid)
    figures["controller_peak_rss_mb"] = peak_rss_mb(controller.pid)
    figures["store_rss_mb"] = rss_mb(store_pid)
    figures["store_peak_rss_mb"] = peak_rss_mb(store_pid)
    print(
        f"idle {t1 - t0:.0f} s: controller {figures['idle_controller_cpu_pct']:.2f} % of a"
        f" core, RSS {figures['idle_controller_rss_mb']:.0f} MB; store"
        f" {figures['idle_store_cpu_pct']:.2f} %, RSS {figures['store_rss_mb']:.0f} MB",
        flush=True,
    )
    return figures


async def running_phase(
    api: Api, watch: StatusWatch, namespace: str, image: str, args: argparse.Namespace
) -> dict[str, float]:
    figures: dict[str, float] = {}
    names = [f"run-{n:03d}" for n in range(args.running)]
    bodies = [workspace(namespace, name, image) for name in names]
    began = time.monotonic()
    await create_all(api, namespace, bodies)
    done = await watch.until(watch.running, names, timeout=args.timeout)
    figures["running_all_s"] = done - began
    print(f"{args.running} running at once: all Running after {done - began:.1f} s", flush=True)
    ready = await watch.until(watch.ready, names, timeout=args.timeout)
    figures["ready_all_s"] = ready - began
    print(f"{args.running} running at once: all Ready after {ready - began:.1f} s", flush=True)

    # One killed behind WWS's back, in a steady state: all Ready (SSH and code-server
    # answering), so the figure is the repair path's, not the 50 first boots' (measured
    # right after "all Running" it was 5.7-7.6 s on a quiet machine, with both cores
    # busy with 50 code-servers starting).
    obj = await api_get(api, namespace, names[0])
    container = naming.container_name(obj["metadata"]["uid"])
    before = inspect_started(container)
    podman_cli("kill", container)
    killed = time.monotonic()
    while True:
        started = inspect_started(container)
        if started and started != before and inspect_running(container):
            break
        if time.monotonic() - killed > args.timeout:
            raise TimeoutError("the killed container did not come back")
        await asyncio.sleep(0.05)
    figures["killed_back_s"] = time.monotonic() - killed
    print(f"killed container running again after {figures['killed_back_s']:.1f} s", flush=True)

    # Delete the running ones and enough stopped ones to make --delete.
    extra = max(0, args.delete - len(names))
    doomed = names + [f"idle-{n:05d}" for n in range(min(extra, args.stopped))]
    began = time.monotonic()
    await asyncio.gather(*(api_delete(api, namespace, name) for name in doomed))
    done = await watch.until(watch.deleted, doomed, timeout=args.timeout)
    figures["delete_all_s"] = done - began
    figures["deleted"] = len(doomed)
    print(f"{len(doomed)} deleted at once: all gone after {done - began:.1f} s", flush=True)
    return figures


async def api_get(api: Api, namespace: str, name: str) -> dict[str, Any]:
    async with api.session.get(api.workspaces(namespace, name)) as response:
        return dict(await response.json())


async def api_delete(api: Api, namespace: str, name: str) -> None:
    async with api.session.delete(api.workspaces(namespace, name)) as response:
        await response.read()


def inspect_started(container: str) -> str:
    result = podman_cli("inspect", "--format", "{{.State.StartedAt}}", container, check=False)
    return result.stdout.strip()


def inspect_running(container: str) -> bool:
    result = podman_cli("inspect", "--format", "{{.State.Running}}", container, check=False)
    return result.stdout.strip() == "true"


def remove_leftovers(namespace: str) -> None:
    """What the run left in Podman, removed behind the (stopped) controller's back."""
    label = f"label={naming.LABEL_NAMESPACE}={namespace}"
    containers = podman_cli("ps", "-aq", "--filter", label, check=False).stdout.split()
    for start in range(0, len(containers), 100):
        podman_cli("rm", "-f", "-t", "0", *containers[start : start + 100], check=False)
    volumes = podman_cli("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
    for start in range(0, len(volumes), 200):
        podman_cli("volume", "rm", "-f", *volumes[start : start + 200], check=False)
    podman_cli("network", "rm", "-f", naming.network_name(namespace), check=False)


async def run(args: argparse.Namespace) -> dict[str, float]:
    image = imagebuild.ensure_image(Path(args.data_dir)).image
    figures: dict[str, float] = {}
    print(f"load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="wws-scale-") as tmp:
        folder = Path(tmp)
        podman = service.ensure_service(socket_path=folder / "podman" / "podman.sock")
        store = StoreProcess(folder / "store", crds_dir=REPO / "crds").start()
        controller: subprocess.Popen[bytes] | None = None
        api = Api(store)
        namespace = f"scale-{uuid.uuid4().hex[:6]}"
        try:
            await api.post(
                f"{store.url}/apis/{GROUP}/{VERSION}/organizations",
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Organization",
                    "metadata": {"name": namespace},
                },
            )
            health = f"127.0.0.1:{args.health_port}"
            controller = start_controller(store, podman.socket_path, folder, health)
            watch = StatusWatch(api, namespace)
            started = asyncio.Event()
            watcher = asyncio.create_task(watch.run(started))
            await started.wait()
            await asyncio.sleep(2)  # NB: the namespace, made by the controller
            figures.update(
                await stopped_phase(api, watch, namespace, image, args, controller, store)
            )
            if args.only == "all":
                figures.update(await running_phase(api, watch, namespace, image, args))
            figures["controller_peak_rss_mb"] = peak_rss_mb(controller.pid)
            watcher.cancel()
        finally:
            await api.close()
            if controller is not None and controller.poll() is None:
                controller.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    controller.wait(timeout=60)
                if controller.poll() is None:
                    controller.kill()
            store.stop()
            remove_leftovers(namespace)
            podman.stop()
            if args.keep_logs:
                os.makedirs(args.keep_logs, exist_ok=True)
                for name in ("controller.log",):
                    with contextlib.suppress(OSError):
                        Path(args.keep_logs, name).write_bytes((folder / name).read_bytes())
    print(f"load average after: {load_average()}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stopped", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=300.0)
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--running", type=int, default=50)
    parser.add_argument("--delete", type=int, default=61)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--only", choices=("all", "stopped"), default="all")
    parser.add_argument("--data-dir", default=str(REPO / ".data" / "bench"))
    parser.add_argument("--health-port", type=int, default=18182)
    parser.add_argument("--keep-logs", help="copy the controller's log here")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    print(json.dumps(figures, indent=2))
    print("| metric | value | target |\n|---|---|---|")
    for key, value in figures.items():
        target = TARGETS.get(key)
        print(f"| {key} | {value:.2f} | {'' if target is None else target} |")


if __name__ == "__main__":
    main()
