"""Live status through a real ``wws webui serve``: one watch, fanned out only to the people
the API lets see each namespace, within a second of the status change."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.devgithub import DevGitHub
from tests.support.kubeapi import Api
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually
from tests.support.webuiproc import WebUIProcess
from tests.webui.conftest import may, sign_in, ui_kubeconfig, workspace, ws_path


@pytest.fixture
def ui_url(store: StoreProcess, dev_github: DevGitHub, tmp_path: Path) -> Iterator[str]:
    ui = WebUIProcess(ui_kubeconfig(store), tmp_path / "webui", dev_github.url).start()
    try:
        yield ui.url
    finally:
        ui.stop()


def browser_of(url: str, dev_github: DevGitHub, login: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    sign_in(client, dev_github, login)
    return client


def listen(client: httpx.Client, into: queue.Queue[tuple[float, dict[str, object]]]) -> None:
    """Put each event of ``/events`` into ``into`` until the stream ends."""
    try:
        with client.stream("GET", "/events", timeout=None) as stream:
            into.put((time.monotonic(), {"connected": True}))
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    into.put((time.monotonic(), json.loads(line[len("data: ") :])))
    except httpx.TransportError:
        # NB: the stream ends when the server stops at the end of the test: that is this
        # listener's end, not an error (a raised one would be a pytest warning).
        pass
    finally:
        into.put((time.monotonic(), {"closed": True}))
        client.close()


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
