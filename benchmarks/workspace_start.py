"""Benchmark of workspace starts: ``python -m benchmarks.workspace_start``.

One run starts everything for real — the embedded store, Podman's API service, the
controller as ``wws controller run`` — and prints:

- apply → Ready (the in-workspace agent has reported the user, SSH and code-server up; no
  dotfiles, no languages) for ``--ready-runs`` workspaces one after another (p50, p95),
  each deleted before the next;
- the warm start: ``running: false`` → Ready (stopped), then ``running: true`` → Ready,
  ``--warm-runs`` times (p50, p95);
- a first boot with dotfiles (a repository served over HTTP by the benchmark on the
  organization network's gateway), a bootstrap script and python: apply → Ready, and →
  every condition True (dotfiles cloned, bootstrap run);
- apply → ContainerReady for ``--sequential`` workspaces created one after another (p50,
  p95), beside a raw ``podman run -d`` of the same image with the same limits, ports, home
  volume and network (p50, p95), and the ratio of the medians;
- ``--parallel`` workspaces applied at once → the time until all are Running;
- the controller's peak RSS (``VmHWM``).

"apply" is the create request to the API server (what ``kubectl apply`` sends), so kubectl's
own start-up is not counted (a patch of ``spec.running`` likewise); the time ends when a
watch on the namespace delivers the status that says so (Ready True for the current
generation, ContainerReady, phase Running). The raw runs alternate with the controller's so
that both see the same machine. ``--only agent`` (resp. ``container``) runs only the first
three (resp. the last three).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from images.build import image as imagebuild
from providers.podman import naming, service
from tests.support.storeproc import REPO, StoreProcess
from tests.workspace.conftest import GitServer, make_org_network, make_repo

GROUP, VERSION = "wws.dev", "v1alpha1"
TARGETS = {
    "ratio": 1.5,
    "parallel_seconds": 60.0,
    "rss_mb": 200.0,
    "ready_p50": 10.0,
    "warm_p50": 5.0,
}
AGENT_CONDITIONS = (
    "UserReady",
    "SSHReady",
    "EditorReady",
    "LanguagesReady",
    "DotfilesReady",
    "BootstrapReady",
)
DOTFILES_BOOTSTRAP = '#!/bin/sh\necho dotfiles bootstrap ran >> "$HOME/.bench-dotfiles"\n'
BOOTSTRAP_SCRIPT = 'echo "bootstrap for $USER" >> "$HOME/bootstrap-runs"\n'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def podman_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=service.podman_env(), capture_output=True, text=True, check=check
    )


def workspace(namespace: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "owner": "alice",
            "image": image,
            "resources": {"cpu": "1", "memory": "1Gi"},
            **spec,
        },
    }


class Api:
    """The store's API over aiohttp, with a namespace watch that timestamps conditions."""

    def __init__(self, store: StoreProcess) -> None:
        self.url = store.url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=64, ssl=ssl.create_default_context(cafile=str(store.ca_path))
            ),
            headers={"Authorization": f"Bearer {store.token}"},
        )
        self.seen: dict[tuple[str, str], float] = {}
        """(name, what) → monotonic time the watch first showed it."""
        self.changed = asyncio.Event()

    async def close(self) -> None:
        await self.session.close()

    def workspaces(self, namespace: str, name: str = "") -> str:
        path = f"{self.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/workspaces"
        return f"{path}/{name}" if name else path

    async def post(self, url: str, body: dict[str, Any]) -> None:
        async with self.session.post(url, json=body) as response:
            if response.status >= 300:
                raise RuntimeError(f"POST {url}: {response.status} {await response.text()}")

    async def patch(self, url: str, body: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.session.patch(url, data=json.dumps(body), headers=headers) as response:
            if response.status >= 300:
                raise RuntimeError(f"PATCH {url}: {response.status} {await response.text()}")

    async def delete(self, namespace: str, name: str) -> None:
        async with self.session.delete(self.workspaces(namespace, name)) as response:
            await response.read()
        while True:
            async with self.session.get(self.workspaces(namespace, name)) as response:
                if response.status == 404:
                    return
            await asyncio.sleep(0.2)

    async def delete_all(self, namespace: str) -> None:
        async with self.session.delete(self.workspaces(namespace)) as response:
            await response.read()

    async def count(self, namespace: str) -> int:
        async with self.session.get(self.workspaces(namespace)) as response:
            return len((await response.json())["items"])

    async def watch(self, namespace: str, started: asyncio.Event) -> None:
        url = self.workspaces(namespace) + "?watch=true&allowWatchBookmarks=true"
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            started.set()
            async for line in response.content:
                event = json.loads(line)
                obj = event.get("object") or {}
                name = str((obj.get("metadata") or {}).get("name"))
                status = obj.get("status") or {}
                now = time.monotonic()
                generation = (obj.get("metadata") or {}).get("generation")
                conds = {c.get("type"): c for c in status.get("conditions") or []}
                for cond in conds.values():
                    if cond.get("type") == "ContainerReady" and cond.get("status") == "True":
                        self.seen.setdefault((name, "ContainerReady"), now)
                    if (
                        cond.get("type") == "Ready"
                        and cond.get("status") == "True"
                        and cond.get("observedGeneration") == generation
                    ):
                        self.seen.setdefault((name, f"Ready/{generation}/{cond['reason']}"), now)
                if all(
                    (conds.get(t) or {}).get("status") == "True"
                    and (conds.get(t) or {}).get("observedGeneration") == generation
                    for t in AGENT_CONDITIONS
                ):
                    self.seen.setdefault((name, f"AllTrue/{generation}"), now)
                if status.get("phase") == "Running":
                    self.seen.setdefault((name, "Running"), now)
                self.changed.set()

    async def until(self, keys: list[tuple[str, str]], timeout: float) -> float:
        """Wait until the watch has shown every key; the time of the last one."""
        deadline = time.monotonic() + timeout
        while not all(key in self.seen for key in keys):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [key for key in keys if key not in self.seen]
                raise TimeoutError(f"not seen within {timeout:.0f} s: {missing[:5]}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return max(self.seen[key] for key in keys)


def start_controller(
    store: StoreProcess, socket_path: Path, folder: Path, health: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "WWS_PODMAN_SOCKET": str(socket_path),
        "WWS_DATA_DIR": str(folder / "data"),
    }
    log = (folder / "controller.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wws.cli",
            "controller",
            "run",
            "--kubeconfig",
            str(store.kubeconfig),
            "--health-listen",
            health,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the controller exited; see {folder / 'controller.log'}")
        try:
            with urllib.request.urlopen(f"http://{health}/readyz", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the controller did not become ready")


def raw_podman_run(image: str, network: str) -> float:
    """``podman run -d`` with what the provider gives a workspace; its wall time."""
    name = f"wws-rawbench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    podman_cli(
        "run", "-d", "--name", name, "--network", network,
        "-p", "127.0.0.1::8080", "-p", "127.0.0.1::22",
        "--cpus", "1", "--memory", "1g", "--memory-swap", "1g",
        "-v", f"{name}-home:/home", image,
    )  # fmt: skip
    took = time.monotonic() - started
    podman_cli("rm", "-f", "-t", "0", name)
    podman_cli("volume", "rm", "-f", f"{name}-home")
    return took


async def agent_starts(
    api: Api, namespace: str, image: str, args: argparse.Namespace, dotfiles_url: str
) -> dict[str, float]:
    """apply → Ready (cold), running: false → true → Ready (warm), a first boot with
    dotfiles, a bootstrap script and python."""
    figures: dict[str, float] = {}
    cold: list[float] = []
    for i in range(args.ready_runs):
        name = f"ready-{i}"
        t0 = time.monotonic()
        await api.post(api.workspaces(namespace), workspace(namespace, name, image))
        cold.append(await api.until([(name, "Ready/1/Running")], 120) - t0)
        await api.delete(namespace, name)
    figures["ready_p50"] = statistics.median(cold)
    figures["ready_p95"] = percentile(cold, 95)
    figures["ready_runs"] = float(len(cold))

    warm: list[float] = []
    name = "warm"
    await api.post(api.workspaces(namespace), workspace(namespace, name, image))
    await api.until([(name, "Ready/1/Running")], 120)
    generation = 1
    for _ in range(args.warm_runs):
        await api.patch(api.workspaces(namespace, name), {"spec": {"running": False}})
        generation += 1
        await api.until([(name, f"Ready/{generation}/Stopped")], 120)
        t0 = time.monotonic()
        await api.patch(api.workspaces(namespace, name), {"spec": {"running": True}})
        generation += 1
        warm.append(await api.until([(name, f"Ready/{generation}/Running")], 120) - t0)
    await api.delete(namespace, name)
    figures["warm_p50"] = statistics.median(warm)
    figures["warm_p95"] = percentile(warm, 95)
    figures["warm_runs"] = float(len(warm))

    name = "first-boot"
    spec = {
        "dotfiles": {"repo": dotfiles_url},
        "bootstrap": {"script": BOOTSTRAP_SCRIPT},
        "languages": [{"name": "python"}],
    }
    t0 = time.monotonic()
    await api.post(api.workspaces(namespace), workspace(namespace, name, image, **spec))
    figures["first_boot_ready"] = await api.until([(name, "Ready/1/Running")], 600) - t0
    figures["first_boot_all"] = await api.until([(name, "AllTrue/1")], 600) - t0
    await api.delete(namespace, name)
    return figures


async def container_starts(
    api: Api,
    namespace: str,
    image: str,
    args: argparse.Namespace,
    controller: subprocess.Popen[bytes],
) -> dict[str, float]:
    """apply → ContainerReady beside raw ``podman run``, many at once, deleting them all."""
    network = naming.network_name(namespace)
    sequential: list[float] = []
    raw: list[float] = []
    for i in range(args.sequential):
        raw.append(await asyncio.to_thread(raw_podman_run, image, network))
        name = f"seq-{i}"
        t0 = time.monotonic()
        await api.post(api.workspaces(namespace), workspace(namespace, name, image))
        sequential.append(await api.until([(name, "ContainerReady")], 60) - t0)

    names = [f"par-{i}" for i in range(args.parallel)]
    cpu0 = cpu_seconds(controller.pid)
    t0 = time.monotonic()
    await asyncio.gather(
        *(api.post(api.workspaces(namespace), workspace(namespace, name, image)) for name in names)
    )
    parallel = await api.until([(name, "Running") for name in names], 300) - t0
    parallel_cpu = cpu_seconds(controller.pid) - cpu0

    # Clean up through the controller (exercises the deletions too).
    t0 = time.monotonic()
    await api.delete_all(namespace)
    while await api.count(namespace):
        await asyncio.sleep(0.2)
    deleted = time.monotonic() - t0
    seq_p50, raw_p50 = statistics.median(sequential), statistics.median(raw)
    return {
        "sequential_p50": seq_p50,
        "sequential_p95": percentile(sequential, 95),
        "raw_p50": raw_p50,
        "raw_p95": percentile(raw, 95),
        "ratio": seq_p50 / raw_p50,
        "parallel_seconds": parallel,
        "parallel_count": float(args.parallel),
        "parallel_controller_cpu_seconds": parallel_cpu,
        "delete_all_seconds": deleted,
    }


async def run(args: argparse.Namespace) -> dict[str, float]:
    image = imagebuild.ensure_image(Path(args.data_dir)).image
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="wws-bench-") as tmp:
        folder = Path(tmp)
        podman = service.ensure_service(socket_path=folder / "podman" / "podman.sock")
        store = StoreProcess(folder / "store", crds_dir=REPO / "crds").start()
        controller: subprocess.Popen[bytes] | None = None
        api = Api(store)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        network = naming.network_name(namespace)
        git: GitServer | None = None
        try:
            # The organization's network first, so a git server can listen on its gateway.
            org_network = await asyncio.to_thread(make_org_network, namespace)
            (folder / "git").mkdir()
            git = GitServer(folder / "git", org_network.gateway)
            repo = make_repo(
                folder / "dotfiles",
                {
                    ".bench-dotfile": ("from the dotfiles repository\n", 0o644),
                    ".config/yadm/bootstrap": (DOTFILES_BOOTSTRAP, 0o755),
                },
            )
            dotfiles_url = git.publish("dotfiles", repo)
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
            started = asyncio.Event()
            watcher = asyncio.create_task(api.watch(namespace, started))
            await started.wait()

            # Warm-up: the provider's connections, the image's layers in the page cache. It
            # keeps running: the provider removes an organization's network with its last
            # workspace, and the git server listens on that network.
            await api.post(api.workspaces(namespace), workspace(namespace, "warm-up", image))
            await api.until([("warm-up", "Ready/1/Running")], timeout=120)

            if args.only in ("all", "agent"):
                figures.update(await agent_starts(api, namespace, image, args, dotfiles_url))
            if args.only in ("all", "container"):
                figures.update(await container_starts(api, namespace, image, args, controller))
            figures["rss_mb"] = peak_rss_mb(controller.pid)
            watcher.cancel()
        finally:
            await api.close()
            if git is not None:
                git.close()
            if controller is not None and controller.poll() is None:
                controller.send_signal(signal.SIGTERM)
                controller.wait(timeout=30)
            store.stop()
            for line in podman_cli(
                "ps", "-aq", "--filter", f"label={naming.LABEL_NAMESPACE}={namespace}", check=False
            ).stdout.split():
                podman_cli("rm", "-f", "-t", "0", line, check=False)
            for line in podman_cli(
                "volume", "ls", "-q", "--filter", f"label={naming.LABEL_NAMESPACE}={namespace}",
                check=False,
            ).stdout.split():  # fmt: skip
                podman_cli("volume", "rm", "-f", line, check=False)
            podman_cli("network", "rm", "-f", network, check=False)
            podman.stop()
            if args.keep_logs:
                shutil.copytree(folder, args.keep_logs, dirs_exist_ok=True)
    return figures


def _rows(figures: dict[str, float], args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    if "ready_p50" in figures:
        rows += [
            (
                f"apply → Ready (code-server + SSH answering), {args.ready_runs} runs, p50 / p95",
                f"{figures['ready_p50']:.2f} s / {figures['ready_p95']:.2f} s",
                f"p50 ≤ {TARGETS['ready_p50']:.0f} s",
            ),
            (
                f"warm start: `running: true` → Ready, {args.warm_runs} runs, p50 / p95",
                f"{figures['warm_p50']:.2f} s / {figures['warm_p95']:.2f} s",
                f"p50 ≤ {TARGETS['warm_p50']:.0f} s",
            ),
            (
                "first boot with dotfiles + bootstrap + python: apply → Ready",
                f"{figures['first_boot_ready']:.1f} s",
                "",
            ),
            (
                "first boot with dotfiles + bootstrap + python: apply → every condition True",
                f"{figures['first_boot_all']:.1f} s",
                "",
            ),
        ]
    if "sequential_p50" in figures:
        n, p = args.sequential, args.parallel
        rows += [
            (
                f"apply → ContainerReady, {n} one after another, p50 / p95",
                f"{figures['sequential_p50']:.2f} s / {figures['sequential_p95']:.2f} s",
                "",
            ),
            (
                "raw `podman run -d`, same image and limits, p50 / p95",
                f"{figures['raw_p50']:.2f} s / {figures['raw_p95']:.2f} s",
                "",
            ),
            ("ratio of the medians", f"{figures['ratio']:.2f}", f"≤ {TARGETS['ratio']}"),
            (
                f"{p} applied at once → all Running",
                f"{figures['parallel_seconds']:.1f} s",
                f"≤ {TARGETS['parallel_seconds']:.0f} s",
            ),
            (
                f"controller CPU time while the {p} started",
                f"{figures['parallel_controller_cpu_seconds']:.1f} s",
                "",
            ),
            (
                f"delete all {n + p + 1} (container + home) → objects gone",
                f"{figures['delete_all_seconds']:.1f} s",
                "",
            ),
        ]
    rows.append(
        (
            "controller peak RSS (VmHWM)",
            f"{figures['rss_mb']:.0f} MB",
            f"≤ {TARGETS['rss_mb']:.0f} MB",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ready-runs", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--only", choices=("all", "agent", "container"), default="all")
    parser.add_argument("--data-dir", default=str(REPO / ".data" / "bench"))
    parser.add_argument("--health-port", type=int, default=18181)
    parser.add_argument("--keep-logs", help="copy the run's folder (logs, store) here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("| metric | value | target |\n|---|---|---|")
    for row in _rows(figures, args):
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
