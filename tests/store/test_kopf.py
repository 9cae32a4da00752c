"""A real kopf operator (tests/store/kopf_operator.py) against the store, restarted mid-way.

Convergence is judged from the objects as the API serves them (status written by kopf's
handlers, timer and daemon; kopf's finalizer), and the operator's append-only invocation log
shows that a restarted kopf does not handle already-handled objects again.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kubeapi import Api
from tests.support.names import unique
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually

HERE = Path(__file__).parent
OPERATOR = HERE / "kopf_operator.py"
GROUP, VERSION, PLURAL = "kopf.test.wws.dev", "v1", "things"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
#: kopf stores a handler's result in status under its id; a field filter suffixes the id.
UPDATE_RESULT = "on_update/spec.size"


def things(namespace: str, name: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


def thing(name: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": name},
        "spec": {"size": size},
    }


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    process = StoreProcess(tmp_path_factory.mktemp("store"), crds_dir=HERE / "kopf_crds").start()
    try:
        yield process
    finally:
        process.stop()


class Operator:
    """``kopf run --standalone -A`` of the test operator, in a subprocess."""

    def __init__(self, store: StoreProcess, folder: Path) -> None:
        self.store = store
        self.invocations = folder / "invocations.log"
        self.output = folder / "kopf.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.store.kubeconfig),
            "WWS_KOPF_LOG": str(self.invocations),
            "PYTHONPATH": str(REPO),
        }
        with self.output.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(OPERATOR)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"kopf did not stop on SIGINT:\n{self.log()}")

    def log(self) -> str:
        return self.output.read_text()[-6000:] if self.output.exists() else ""

    def calls(self) -> collections.Counter[tuple[str, ...]]:
        """How often each (kind, name) was invoked, from the append-only log."""
        if not self.invocations.exists():
            return collections.Counter()
        lines = self.invocations.read_text().splitlines()
        return collections.Counter((line.split()[0], line.split()[2]) for line in lines)

    def objects(self) -> list[dict[str, Any]]:
        """What the API serves of the operator's objects, for failure messages."""
        api = Api(self.store)
        try:
            listed = api.get_json(f"/apis/{GROUP}/{VERSION}/{PLURAL}")
        finally:
            api.close()
        return [
            {
                "name": item["metadata"]["name"],
                "finalizers": item["metadata"].get("finalizers"),
                "status": item.get("status"),
            }
            for item in listed["items"]
        ]

    def lines(self, kind: str) -> list[list[str]]:
        if not self.invocations.exists():
            return []
        return [
            line.split()
            for line in self.invocations.read_text().splitlines()
            if line.split()[0] == kind
        ]


@pytest.fixture
def operator(shared_store: StoreProcess, tmp_path: Path) -> Iterator[Operator]:
    running = Operator(shared_store, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def until(check: Callable[[], bool], operator: Operator, what: str, timeout: float = 30) -> None:
    """``eventually``, giving up at once when kopf exits, with its calls, objects and log."""

    def exited() -> str | None:
        assert operator.process is not None
        if operator.process.poll() is None:
            return None
        return f"kopf exited:\n{operator.log()}"

    eventually(
        check,
        what,
        timeout=timeout,
        abort=exited,
        detail=lambda: f"calls {operator.calls()}; objects {operator.objects()}\n{operator.log()}",
    )


def test_operator_converges_and_a_restart_does_not_rehandle(api: Api, operator: Operator) -> None:
    namespace = api.namespace(unique("kopf"))

    def get(name: str) -> dict[str, Any]:
        return api.get_json(things(namespace, name))

    def status(name: str) -> dict[str, Any]:
        return get(name).get("status") or {}

    def converged(name: str, size: int, min_ticks: int = 2, min_beats: int = 2) -> bool:
        obj = get(name)
        found = obj.get("status") or {}
        return (
            found.get("on_create", {}).get("size") is not None
            and KOPF_FINALIZER in (obj["metadata"].get("finalizers") or [])
            and int(found.get("ticks") or 0) >= min_ticks
            and int((found.get("daemon") or {}).get("beats") or 0) >= min_beats
        )

    operator.start()
    for name, size in (("t1", 1), ("t2", 2)):
        api.create(things(namespace), thing(name, size))
    until(
        lambda: converged("t1", 1) and converged("t2", 2),
        operator,
        "create handlers, finalizer, timer and daemon",
    )
    assert status("t1")["on_create"] == {"size": 1, "message": "created"}
    assert status("t2")["on_create"] == {"size": 2, "message": "created"}
    annotations = get("t1")["metadata"]["annotations"]
    assert "kopf.zalando.org/last-handled-configuration" in annotations

    api.patch_ok(things(namespace, "t1"), {"spec": {"size": 5}})
    until(
        lambda: status("t1").get(UPDATE_RESULT) == {"size": 5, "previous": 1},
        operator,
        "the update handler's result",
    )
    assert operator.calls()[("create", "t1")] == 1
    assert operator.calls()[("create", "t2")] == 1
    assert operator.calls()[("update", "t1")] == 1
    first_daemon = status("t1")["daemon"]["pid"]

    operator.stop()
    assert operator.calls()[("daemon-stop", "t1")] == 1
    # While the operator is down: one change and one new object, to be handled once each.
    api.patch_ok(things(namespace, "t2"), {"spec": {"size": 7}})
    api.create(things(namespace), thing("t3", 3))
    ticks_before = {name: int(status(name)["ticks"]) for name in ("t1", "t2")}
    handled_t1 = get("t1")["status"]["on_create"]

    operator.start()
    until(
        lambda: status("t2").get(UPDATE_RESULT) == {"size": 7, "previous": 2},
        operator,
        "the update made while kopf was down",
    )
    until(lambda: converged("t3", 3), operator, "the object created while kopf was down")
    # kopf has looked at every object again for a while: timers went on and daemons restarted.
    until(
        lambda: all(int(status(name)["ticks"]) >= ticks_before[name] + 3 for name in ("t1", "t2")),
        operator,
        "timers after the restart",
    )
    until(
        lambda: status("t1")["daemon"]["pid"] != first_daemon,
        operator,
        "the daemon of the new kopf process",
    )
    calls = operator.calls()
    assert calls[("daemon-start", "t1")] == 2
    assert calls[("create", "t1")] == 1, calls
    assert calls[("create", "t2")] == 1, calls
    assert calls[("create", "t3")] == 1, calls
    assert calls[("update", "t1")] == 1, calls
    assert calls[("update", "t2")] == 1, calls
    assert calls[("delete", "t1")] == 0, calls
    assert status("t1")["on_create"] == handled_t1

    # Deletion: kopf's finalizer holds the object until the delete handler has run.
    response = api.delete(things(namespace, "t1"))
    assert response.status_code == 200
    assert response.json()["metadata"].get("deletionTimestamp")
    until(
        lambda: api.get(things(namespace, "t1")).status_code == 404,
        operator,
        "the deletion to finish",
    )
    assert operator.calls()[("delete", "t1")] == 1
    until(
        lambda: operator.calls()[("daemon-stop", "t1")] == 2,
        operator,
        "the daemon of the deleted object to stop",
    )
    assert [line[2] for line in operator.lines("delete")] == ["t1"]
    assert api.get(things(namespace, "t2")).status_code == 200
