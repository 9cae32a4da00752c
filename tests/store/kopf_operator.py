"""A small kopf operator for the store's conformance tests (run by tests/store/test_kopf.py).

    KUBECONFIG=DIR/kubeconfig WWS_KOPF_LOG=FILE python -m kopf run --standalone -A THIS_FILE

Every handler invocation is appended to the WWS_KOPF_LOG file as one line, so the test can
count them across operator restarts; handler results go to the object's status (kopf's own
mechanism), the timer counts in ``status.ticks`` and the daemon beats in ``status.daemon``.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from typing import Any

import aiohttp
import kopf
import yaml

GROUP, VERSION, PLURAL = "kopf.test.wws.dev", "v1", "things"
TIMER_INTERVAL = 0.5
DAEMON_INTERVAL = 0.3


def record(*words: object) -> None:
    """One line per handler invocation; O_APPEND keeps concurrent lines whole."""
    line = " ".join(str(word) for word in words) + "\n"
    with open(os.environ["WWS_KOPF_LOG"], "a", encoding="utf-8") as handle:
        handle.write(line)


def _connection() -> tuple[str, str, ssl.SSLContext]:
    with open(os.environ["KUBECONFIG"], encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    cluster = config["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    return (
        cluster["server"],
        config["users"][0]["user"]["token"],
        ssl.create_default_context(cadata=ca),
    )


@kopf.on.startup()
def configure(*, settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.connect_timeout = 5
    settings.posting.level = 20  # INFO: kopf also posts core/v1 Events to the store


@kopf.on.create(GROUP, VERSION, PLURAL, id="on_create")
def created(
    *, name: str, namespace: str | None, uid: str, spec: kopf.Spec, **_: Any
) -> dict[str, Any]:
    record("create", namespace, name, uid, spec["size"])
    return {"size": spec["size"], "message": "created"}


@kopf.on.update(GROUP, VERSION, PLURAL, id="on_update", field="spec.size")
def updated(*, name: str, namespace: str | None, old: Any, new: Any, **_: Any) -> dict[str, Any]:
    record("update", namespace, name, old, new)
    return {"size": new, "previous": old}


@kopf.on.delete(GROUP, VERSION, PLURAL, id="on_delete")
def deleted(*, name: str, namespace: str | None, **_: Any) -> None:
    record("delete", namespace, name)


@kopf.timer(GROUP, VERSION, PLURAL, id="ticker", interval=TIMER_INTERVAL)
def tick(*, status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    patch.status["ticks"] = int(status.get("ticks") or 0) + 1


@kopf.daemon(GROUP, VERSION, PLURAL, id="beater", cancellation_timeout=5)
async def beat(*, name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """Writes ``status.daemon.beats`` itself (a daemon's kopf patch lands only when it ends)."""
    record("daemon-start", namespace, name)
    server, token, context = _connection()
    url = f"{server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}
    beats = 0
    try:
        async with aiohttp.ClientSession() as session:
            while not stopped:
                beats += 1
                body = json.dumps({"status": {"daemon": {"beats": beats, "pid": os.getpid()}}})
                async with session.patch(url, data=body, headers=headers, ssl=context) as reply:
                    if reply.status == 404:
                        return
                await stopped.wait(DAEMON_INTERVAL)
    finally:
        record("daemon-stop", namespace, name)
