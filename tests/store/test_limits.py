"""Denial of service: what one client may cost everyone else (issue 8).

Each test is one of the issue's reproductions, against a real store process: a JSON patch that
doubles the object, a 64 MB request head, slowloris heads and bodies, a flood of connections
and requests, and objects of several MiB. The connection tests use raw TLS sockets, because an
HTTP client library would not misbehave the way an attacker does.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.store.conftest import CRDS
from tests.support.kubeapi import JSON_PATCH, Api, widget, widgets
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

MiB = 1024 * 1024
TIMEOUT = 2  # seconds: --header-timeout and --body-timeout of the tight store


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """A store with small limits, so each can be reached quickly."""
    process = StoreProcess(
        tmp_path_factory.mktemp("tight"),
        crds_dir=CRDS,
        extra_args=(
            "--max-header-bytes",
            str(64 * 1024),
            "--header-timeout",
            str(TIMEOUT),
            "--body-timeout",
            str(TIMEOUT),
            "--max-connections",
            "12",
            "--max-requests-inflight",
            "4",
            "--max-mutating-requests-inflight",
            "1",
            "--max-object-bytes",
            str(256 * 1024),
        ),
    ).start()
    try:
        yield process
    finally:
        process.stop()


def _connect(store: StoreProcess, *, receive_buffer: int | None = None) -> ssl.SSLSocket:
    host, port = store.url.removeprefix("https://").rsplit(":", 1)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the TCP window is small too
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(15)
    raw.connect((host, int(port)))
    return store.ssl_context().wrap_socket(raw, server_hostname=host)


def _stream_ends(sock: ssl.SSLSocket, timeout: float = 10) -> bool:
    """Read a watch response to its end: the last chunk, or the connection cut off."""
    sock.settimeout(timeout)
    tail = b""
    try:
        while chunk := sock.recv(1 << 20):
            tail = (tail + chunk)[-16:]
            if tail.endswith(b"\r\n0\r\n\r\n"):
                return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False
    return True


def _read_all(sock: ssl.SSLSocket, timeout: float = 15) -> bytes:
    """Everything until the server closes the connection (fails if it does not)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


# ------------------------------------------------------------------------ JSON patch


def test_json_patch_of_more_than_10000_operations_is_413(api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("ops"))
    operations = [{"op": "test", "path": "/spec/size", "value": 3}] * 20_000
    response = api.patch(widgets(namespace, "ops"), operations, JSON_PATCH)
    assert response.status_code == 413, response.text
    assert "10000" in response.json()["message"]
    fine = api.patch(widgets(namespace, "ops"), operations[:10_000], JSON_PATCH)
    assert fine.status_code == 200, fine.text


def test_json_patch_copies_that_double_the_object_are_refused(api: Api, namespace: str) -> None:
    """The issue's 1.2 KB patch: each copy of a list into itself doubles it."""
    created = api.create(widgets(namespace), widget("doubling", tags=["x" * 1000]))
    operations = [{"op": "copy", "from": "/spec/tags", "path": "/spec/tags/-"}] * 14
    assert len(json.dumps(operations)) < 1300
    response = api.patch(widgets(namespace, "doubling"), operations, JSON_PATCH)
    assert response.status_code == 422, response.text[:300]
    assert "copy" in response.json()["message"]
    after = api.get_json(widgets(namespace, "doubling"))
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_the_store_keeps_answering_while_a_doubling_patch_is_refused(
    api: Api, namespace: str
) -> None:
    """Forty doublings would ask for a terabyte: the patch is refused at its copy budget,
    and /livez answers meanwhile."""
    api.create(widgets(namespace), widget("forty", tags=["x" * 1000]))
    operations = [{"op": "copy", "from": "/spec/tags", "path": "/spec/tags/-"}] * 40
    result: dict[str, int] = {}

    def patch() -> None:
        result["status"] = api.patch(
            widgets(namespace, "forty"), operations, JSON_PATCH
        ).status_code

    thread = threading.Thread(target=patch)
    thread.start()
    try:
        with httpx.Client(verify=api.store.ssl_context(), timeout=5) as other:
            assert other.get(api.store.url + "/livez").status_code == 200
    finally:
        thread.join(timeout=60)
    assert result["status"] == 422


# ------------------------------------------------------------------------ stored object size


def test_objects_over_1_5_mib_are_413_and_change_nothing(api: Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    small = {"metadata": {"name": "cm"}, "data": {"v": "a" * MiB}}
    created = api.create(path, small)
    big = {"metadata": {"name": "cm2"}, "data": {"v": "b" * (2 * MiB)}}
    response = api.request("POST", path, json=big)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["reason"] == "RequestEntityTooLarge"
    assert "--max-object-bytes" in response.json()["message"]
    assert api.get(f"{path}/cm2").status_code == 404
    # An update that grows an object past the limit is refused the same way.
    grow = api.patch(f"{path}/cm", {"data": {"w": "c" * (MiB // 2 + 1000)}})
    assert grow.status_code == 413, grow.text[:300]
    after = api.get_json(f"{path}/cm")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_max_object_bytes_is_configurable(tight: StoreProcess) -> None:
    api = Api(tight)
    try:
        namespace = api.namespace(unique("ns"))
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        api.create(path, {"metadata": {"name": "fits"}, "data": {"v": "a" * 200_000}})
        response = api.request(
            "POST", path, json={"metadata": {"name": "big"}, "data": {"v": "a" * 300_000}}
        )
        assert response.status_code == 413, response.text[:300]
        assert "262144" in response.json()["message"]
    finally:
        api.close()


# ------------------------------------------------------------------------ connections


def test_request_head_over_the_limit_is_431_before_the_token(tight: StoreProcess) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
        # The issue sent 64 MB; the tight store's limit is 64 KiB, the default 1 MiB.
        filler = b"X-Filler: " + b"a" * 8192 + b"\r\n"
        try:  # the server refuses at the limit; what comes after is discarded, then cut off
            for _ in range(64 * MiB // len(filler)):
                sock.sendall(filler)
        except OSError:
            pass
        response = _read_all(sock)
    finally:
        sock.close()
    assert _status_of(response) == 431, response[:200]
    assert b'"RequestHeaderFieldsTooLarge"' in response


def test_a_slowloris_request_head_is_cut_off(tight: StoreProcess) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\n")
        started = time.monotonic()
        for _ in range(4):  # a header line now and then, never the end of the head
            time.sleep(TIMEOUT / 2)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        response = _read_all(sock)
    finally:
        sock.close()
    assert _status_of(response) == 408, response[:200]
    assert time.monotonic() - started < 15


def test_an_idle_connection_is_closed(tight: StoreProcess) -> None:
    sock = _connect(tight)
    try:
        assert _read_all(sock) == b""  # closed by the server, not by the 15 s read timeout
    finally:
        sock.close()


def test_a_connection_that_never_finishes_its_tls_handshake_is_closed(
    tight: StoreProcess,
) -> None:
    host, port = tight.url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as raw:
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):  # closed, or reset: either is fine
            assert raw.recv(1) == b""
        assert time.monotonic() - started < 10  # the head deadline (2 s), not asyncio's 60 s


def test_a_slow_body_is_cut_off(tight: StoreProcess) -> None:
    sock = _connect(tight)
    try:
        sock.sendall(
            b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {tight.token}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"metadata":'
        )
        started = time.monotonic()
        response = _read_all(sock)
    finally:
        sock.close()
    assert b"201 Created" not in response
    assert time.monotonic() - started < 15


def test_connections_over_the_limit_are_closed(tight: StoreProcess) -> None:
    opened = [_connect(tight) for _ in range(20)]
    try:
        # Within the idle deadline (2 s), only the connections over the limit (12) are closed.
        time.sleep(0.5)
        ready, _, _ = select.select(opened, [], [], 0.2)
        closed = 0
        for sock in ready:
            sock.settimeout(0.1)
            try:
                closed += sock.recv(1) == b""
            except (ConnectionResetError, ssl.SSLError):
                closed += 1
            except TimeoutError:
                pass
        assert 20 - 12 <= closed < 20
    finally:
        for sock in opened:
            sock.close()
    # Once they are gone, the store serves again.
    deadline = time.monotonic() + 10
    while True:
        api = Api(tight)
        try:
            if api.get("/api/v1/namespaces").status_code == 200:
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        finally:
            api.close()


def test_requests_over_the_inflight_limit_get_429_before_the_token(tight: StoreProcess) -> None:
    """--max-mutating-requests-inflight 1: a write whose body is still arriving holds the
    only slot, so the next write is told to come back, whoever sends it."""
    sock = _connect(tight)
    try:
        sock.sendall(
            b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {tight.token}\r\nContent-Length: 1000\r\n\r\n".encode()
        )
        time.sleep(0.3)
        anonymous = Api(tight, token="not-the-token")
        try:
            response = anonymous.request("POST", "/api/v1/namespaces", json={"metadata": {}})
            assert response.status_code == 429, response.text
            assert response.headers["retry-after"] == "1"
            assert response.json()["reason"] == "TooManyRequests"
            # Reads have their own bound, and health checks none.
            assert anonymous.get("/api/v1/namespaces").status_code == 401
            assert anonymous.get("/livez").status_code == 200
        finally:
            anonymous.close()
    finally:
        sock.close()


# ------------------------------------------------------------------------ watches


def test_watch_timeout_seconds_must_be_finite(api: Api, namespace: str) -> None:
    for value in ("nan", "inf", "-inf", "-1"):
        response = api.get(
            widgets(namespace), params={"watch": "true", "timeoutSeconds": value}, timeout=10
        )
        assert response.status_code == 400, (value, response.text)


def _watch_without_reading(store: StoreProcess, path: str, timeout: int) -> ssl.SSLSocket:
    # A small receive buffer: the server's writes block soon.
    sock = _connect(store, receive_buffer=4096)
    sock.sendall(
        f"GET {path}?watch=true&timeoutSeconds={timeout} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {store.token}\r\n\r\n".encode()
    )
    return sock


def _was_reset(sock: ssl.SSLSocket) -> bool:
    """Whether the server cut this connection, found without reading from it."""
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
        return True
    try:
        for _ in range(3):
            sock.sendall(b"x" * 1024)
            time.sleep(0.2)
    except OSError:
        return True
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0


def _write_big_configmaps(api: Api, namespace: str, count: int, size: int) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api.create(path, {"metadata": {"name": "big"}, "data": {"v": ""}})
    for number in range(count):
        response = api.patch(f"{path}/big", {"data": {"v": str(number % 10) * size}})
        assert response.status_code == 200, response.text[:200]


def test_watch_timeout_holds_while_the_client_does_not_read(api: Api, namespace: str) -> None:
    store = api.store
    sock = _watch_without_reading(store, f"/api/v1/namespaces/{namespace}/configmaps", 3)
    try:
        _write_big_configmaps(api, namespace, 12, 1000 * 1000)
        # Past timeoutSeconds (and the second of grace for the end of the stream), with the
        # server's writes to this client blocked all along: the server cut the connection.
        time.sleep(6)
        assert _was_reset(sock), "the watch outlived its timeoutSeconds"
    finally:
        sock.close()


def test_a_watcher_that_falls_too_far_behind_is_closed(api: Api, namespace: str) -> None:
    """A client that never reads: its queue reaches the limit (16 MiB) and it is closed,
    instead of the server's memory growing with every write."""
    store = api.store
    sock = _watch_without_reading(store, f"/api/v1/namespaces/{namespace}/configmaps", 600)
    try:
        _write_big_configmaps(api, namespace, 40, 1000 * 1000)
        time.sleep(1)
        assert _stream_ends(sock), "a watcher 40 MB behind was kept"
    finally:
        sock.close()
    assert "store.watch_closed" in store.log_path.read_text()
