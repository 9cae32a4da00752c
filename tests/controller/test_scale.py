"""The controller at scale (issue 12), against the real store, kopf and Podman: drift is
found from Podman's own events (with a resync period far too long to matter), a lost event
stream is followed again and re-listed so nothing is missed, and a rotated token still
reaches the workspace long before any resync (Secrets are followed, not polled).

The timings themselves (1,000 idle workspaces, 50 at once, ...) are benchmarks/scale.py's.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from providers.podman import service
from tests.controller.conftest import Controller, inspect
from tests.controller.test_workspaces import container_of, events, workspace_yaml
from tests.support.kubectl import Kubectl
from tests.support.podman import podman
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]

#: Far longer than any test here: whatever is repaired was found by an event (or by the
#: listing that follows a reconnection), never by the periodic listing. (How fast is
#: benchmarks/scale.py's question; the waits here are generous and far below this.)
LONG_RESYNC = 600.0
WAIT = 60.0


@pytest.fixture(scope="module")
def own_podman(
    podman_service: service.Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[service.Service]:
    """A Podman API service of this module's own (same storage as the shared one), which a
    test may kill to cut the controller's event stream."""
    folder = tmp_path_factory.mktemp("podman")
    svc = service.ensure_service(socket_path=folder / "podman.sock")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def controller(
    store: StoreProcess,
    own_podman: service.Service,
    workspace_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Controller]:
    running = Controller(
        store,
        tmp_path_factory.mktemp("controller"),
        own_podman.socket_path,
        resync=LONG_RESYNC,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _running_again(container: str, started_before: str) -> bool:
    state = inspect(container)["State"]
    return bool(state["Running"]) and state["StartedAt"] != started_before


def test_a_killed_container_runs_again_without_a_resync(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "killed"))
    obj = kubectl.wait_ready(org, "killed")
    container = container_of(obj)
    before = inspect(container)["State"]["StartedAt"]

    podman("kill", container)
    eventually(
        lambda: _running_again(container, before), "the container running again", timeout=WAIT
    )
    drift = [e for e in events(kubectl, org, "killed") if e["reason"] == "Drift"]
    assert drift and "stopped outside WWS" in drift[0]["message"]


def test_a_lost_event_stream_is_followed_again_and_nothing_is_missed(
    kubectl: Kubectl, org: str, own_podman: service.Service, controller: Controller
) -> None:
    kubectl.apply(workspace_yaml(org, "unseen"))
    obj = kubectl.wait_ready(org, "unseen")
    container = container_of(obj)
    before = inspect(container)["State"]["StartedAt"]

    # The service goes (the controller's event stream with it); the container is killed
    # while nobody is listening, so no event of it will ever reach the controller.
    assert own_podman.process is not None
    own_podman.process.send_signal(signal.SIGKILL)
    own_podman.process.wait(timeout=10)
    podman("kill", container)
    assert not inspect(container)["State"]["Running"]
    time.sleep(2)  # NB: the controller notices, and retries while there is no service
    restarted = service.ensure_service(socket_path=own_podman.socket_path)
    own_podman.process = restarted.process

    # The controller subscribes again and lists: the dead container is found and started.
    eventually(
        lambda: _running_again(container, before), "the container running again", timeout=WAIT
    )
    assert "runtime event stream" in controller.log()
    drift = [e for e in events(kubectl, org, "unseen") if e["reason"] == "Drift"]
    assert drift and "stopped outside WWS" in drift[0]["message"]


def test_a_rotated_token_reaches_the_workspace_without_a_resync(
    kubectl: Kubectl, org: str, controller: Controller
) -> None:
    kubectl.run("-n", org, "create", "secret", "generic", "gh", "--from-literal=token=ghp_first")
    kubectl.apply(workspace_yaml(org, "tokened", github="{tokenSecretRef: {name: gh}}"))
    obj = kubectl.wait_ready(org, "tokened")
    config = controller.folder / "data" / "workspaces" / obj["metadata"]["uid"] / "config"
    secret_file = config / "secrets" / "github-token"
    eventually(lambda: secret_file.exists(), "the token's file")
    assert secret_file.read_text().strip() == "ghp_first"

    manifest = kubectl.run(
        "-n", org, "create", "secret", "generic", "gh", "--from-literal=token=ghp_second",
        "--dry-run=client", "-o", "yaml",
    ).stdout  # fmt: skip
    kubectl.apply(manifest)
    eventually(
        lambda: secret_file.read_text().strip() == "ghp_second", "the new token", timeout=WAIT
    )
