"""``wws up``: the store, the controller and (when present) the web UI on one machine.

Each part runs as its own process, exactly as it would alone (`wws store serve`, `wws
controller run`, ...), so one machine and a scaled-out install behave the same. Ctrl-C (or
SIGTERM) stops them in reverse order.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

import yaml

from wws import logconfig

log = logconfig.get(__name__)
REPO = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _wws(*args: str) -> list[str]:
    return [sys.executable, "-m", "wws.cli", *args]


def _wait_for_store(kubeconfig: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("wws up: the store exited; see its log lines above")
        if kubeconfig.exists():
            config = yaml.safe_load(kubeconfig.read_text())
            server = str(config["clusters"][0]["cluster"]["server"])
            ca = kubeconfig.parent / "tls" / "ca.crt"
            try:
                context = ssl.create_default_context(cafile=str(ca))
                with urllib.request.urlopen(server + "/readyz", context=context, timeout=2):
                    return server
            except OSError:
                pass
        time.sleep(0.2)
    raise SystemExit(f"wws up: the store did not answer within {timeout:.0f} s")


def main(*, data_dir: Path, listen: str, health_listen: str = "127.0.0.1:8081") -> int:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = data_dir / "kubeconfig"
    if kubeconfig.exists():
        kubeconfig.unlink()  # so we wait for the one this store writes
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def stop_all() -> None:
        for part, child in reversed(children):
            if child.poll() is None:
                log.info("up.stopping", part=part)
                child.send_signal(signal.SIGTERM)
        for _part, child in reversed(children):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # NB: explicit, because a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    try:
        _say("wws up: starting the state store ...")
        store = subprocess.Popen(
            _wws(
                "store",
                "serve",
                "--data-dir",
                str(data_dir / "store"),
                "--listen",
                listen,
                "--crds",
                str(REPO / "crds"),
            ),
            env=env,
        )
        children.append(("store", store))
        store_kubeconfig = data_dir / "store" / "kubeconfig"
        server = _wait_for_store(store_kubeconfig, store, timeout=60)
        kubeconfig.symlink_to(store_kubeconfig)

        _say("wws up: checking the workspace image ...")
        from wws import imagebuild

        imagebuild.ensure_image(data_dir, progress=_say)

        _say("wws up: starting the controller ...")
        # The controller keeps its provider state (the Podman socket, workspace config
        # folders) under the same data dir as everything else of this installation.
        controller = subprocess.Popen(
            _wws(
                "controller",
                "run",
                "--kubeconfig",
                str(kubeconfig),
                "--health-listen",
                health_listen,
            ),
            env={**env, "WWS_DATA_DIR": str(data_dir)},
        )
        children.append(("controller", controller))

        if importlib.util.find_spec("webui.app") is not None:
            webui = subprocess.Popen(
                _wws("webui", "serve", "--kubeconfig", str(kubeconfig)), env=env
            )
            children.append(("webui", webui))

        _say("")
        _say(f"WWS is up. The API server is {server}")
        _say(f"  kubeconfig: {kubeconfig}")
        _say(f"  try:        kubectl --kubeconfig {kubeconfig} apply -f {REPO / 'examples'}")
        _say(f"              kubectl --kubeconfig {kubeconfig} get workspaces -A")
        _say("Press Ctrl-C to stop.")
        while True:
            for part, child in children:
                if child.poll() is not None:
                    _say(f"wws up: the {part} exited with code {child.returncode}; stopping")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("wws up: stopping ...")
        return 0
    finally:
        stop_all()
