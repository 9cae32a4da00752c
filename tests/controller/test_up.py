"""``wws up``: store + controller on one machine, a ready-to-paste kubectl line, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from images.build import image as imagebuild
from tests.support.kubectl import PINNED
from tests.support.names import free_port
from tests.support.storeproc import REPO

pytestmark = pytest.mark.podman


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(child) for child in text}
    return found


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name ``text`` (e.g. a Podman service's socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "status").read_text()
        except OSError:
            continue
        if text in command and "zombie" not in state:
            found.append(command)
    return found


def test_up_serves_the_api_and_ctrl_c_stops_everything(
    workspace_image: str, tmp_path: Path
) -> None:
    if workspace_image != imagebuild.IMAGE:
        pytest.skip(f"wws up uses {imagebuild.IMAGE}; this run tests {workspace_image}")
    data_dir = tmp_path / "up"
    health, webui = free_port(), free_port()
    output = (tmp_path / "up.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "wws.cli", "up", "--data-dir", str(data_dir),
         "--listen", f"127.0.0.1:{free_port()}", "--health-listen", f"127.0.0.1:{health}",
         "--webui-listen", f"127.0.0.1:{webui}", "--webui-issuer-listen",
         f"127.0.0.1:{free_port()}"],
        cwd=REPO, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in Path(output.name).read_text():
            assert process.poll() is None, Path(output.name).read_text()[-3000:]
            assert time.monotonic() < deadline, Path(output.name).read_text()[-3000:]
            time.sleep(0.2)
        said = Path(output.name).read_text()
        kubeconfig = data_dir / "kubeconfig"
        assert f"kubeconfig: {kubeconfig}" in said
        assert f"kubectl --kubeconfig {kubeconfig} apply -f {REPO / 'examples'}" in said
        kubectl = [str(PINNED), "--kubeconfig", str(kubeconfig), "--cache-dir",
                   str(tmp_path / "kc")]  # fmt: skip
        crds = subprocess.run([*kubectl, "get", "crd", "-o", "name"], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        assert "workspaces.wws.dev" in crds
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the controller's health endpoint"
                time.sleep(0.2)
        # The web UI: its URL and a one-time sign-in link for the administrator.
        assert f"The web UI is http://127.0.0.1:{webui}/" in said
        link = next(
            line.split(": ", 1)[1] for line in said.splitlines() if "/bootstrap?token=" in line
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{webui}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the web UI's health endpoint"
                time.sleep(0.2)
        signed_in = httpx.get(link.strip(), follow_redirects=False)
        assert signed_in.status_code == 303
        assert httpx.get(link.strip(), follow_redirects=False).status_code == 400  # once
        children = _children(process.pid)
        assert len(children) >= 3  # the store, the controller and the web UI
        # The controller's Podman service (if it has started one by now) is a grandchild.
        children |= {grandchild for child in children for grandchild in _children(child)}

        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=30) == 0
        for child in children:
            assert (
                not Path(f"/proc/{child}").exists()
                or "zombie" in Path(f"/proc/{child}/status").read_text()
            ), f"child {child} still runs"
        assert "stopping" in Path(output.name).read_text()
        assert _processes_mentioning(str(data_dir)) == [], "a part of wws up outlived it"
    finally:
        if process.poll() is None:
            process.kill()
        output.close()
