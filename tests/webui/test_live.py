"""Live status through a real ``wws webui serve``: one watch, fanned out only to the people
the API lets see each namespace, within a second of the status change."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.devgithub import DevGitHub
from tests.support.kubeapi import Api
from tests.support.names import free_port
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from tests.webui.conftest import (
    may,
    oauth_redirect_to_callback,
    ui_kubeconfig,
    workspace,
    ws_path,
)


@pytest.fixture
def ui_url(store: StoreProcess, dev_github: DevGitHub, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "id").write_text("wws")
    (tmp_path / "secret").write_text("dev")
    port = free_port()
    log = (tmp_path / "webui.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "wws.cli", "webui", "serve",
         "--kubeconfig", str(ui_kubeconfig(store)), "--listen", f"127.0.0.1:{port}",
         "--github-url", dev_github.url, "--github-client-id-file", str(tmp_path / "id"),
         "--github-client-secret-file", str(tmp_path / "secret")],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, (tmp_path / "webui.log").read_text()[-3000:]
        try:
            return httpx.get(url + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    eventually(answers, "the web UI", timeout=30)
    try:
        yield url
    finally:
        print((tmp_path / "webui.log").read_text()[-4000:])
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def browser_of(url: str, dev_github: DevGitHub, login: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    started = client.get("/login/github")
    callback = oauth_redirect_to_callback(dev_github, started.headers["location"], login)
    parts = urlsplit(callback)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 303
    return client


def listen(client: httpx.Client, into: queue.Queue[tuple[float, dict[str, object]]]) -> None:
    with client.stream("GET", "/events", timeout=None) as stream:
        into.put((time.monotonic(), {"connected": True}))
        for line in stream.iter_lines():
            if line.startswith("data: "):
                into.put((time.monotonic(), json.loads(line[len("data: ") :])))


def test_events_reach_only_who_may_see_them(
    ui_url: str, api: Api, store: StoreProcess, dev_github: DevGitHub
) -> None:
    api.create(
        "/apis/wws.dev/v1alpha1/organizations",
        {"apiVersion": "wws.dev/v1alpha1", "kind": "Organization", "metadata": {"name": "other"},
         "spec": {"members": [{"user": "mallory"}]}},
    )  # fmt: skip
    eventually(
        lambda: may(store, "github:mallory", "list", "workspaces", namespace="other"),
        "mallory a member of other",
    )
    api.create(ws_path("acme"), workspace("alice-dev"))
    heard: dict[str, queue.Queue[tuple[float, dict[str, object]]]] = {}
    for login in ("alice", "bob", "mallory"):
        heard[login] = queue.Queue()
        client = browser_of(ui_url, dev_github, login)
        threading.Thread(target=listen, args=(client, heard[login]), daemon=True).start()
        assert heard[login].get(timeout=10)[1] == {"connected": True}
    time.sleep(0.5)
    for number in range(3):
        changed = time.monotonic()
        api.patch_ok(
            ws_path("acme", "alice-dev") + "/status",
            {"status": {"phase": "Starting", "message": f"step {number}"}},
        )
        for login in ("alice", "bob"):  # both in acme
            while True:
                when, event = heard[login].get(timeout=5)
                if event.get("message") == f"step {number}":
                    break
            assert event["id"] == "acme/alice-dev"
            assert when - changed < 1.0, f"{login} heard it after {when - changed:.2f} s"
    time.sleep(0.5)
    mallory = []
    while not heard["mallory"].empty():
        mallory.append(heard["mallory"].get()[1])
    assert not any(str(e.get("id", "")).startswith("acme/") for e in mallory), mallory
