"""Benchmark of the web UI: ``python -m benchmarks.webui``.

Real parts: the embedded store (a subprocess), ``wws webui serve`` (a subprocess), HTTP over
loopback. One run prints:

- the dashboard of one organization with 500 workspaces: p50/p95 of the request time seen
  by a client on the same machine (an upper bound of the server time), 200 requests;
- 100 signed-in clients on ``/events``: status change (the PATCH acknowledged) → the event
  at each client, p50/p99 over 20 changes x 100 clients;
- the editor proxy in front of code-server itself (the workspace image's
  ``/usr/lib/wws/bin/code-server`` in a Podman container, published on loopback): its static
  assets fetched directly from code-server and through ``/w/...``, alternating in one run,
  with the headers Chromium sends (median of each, ratio); ``--no-code-server`` skips it;
- the editor proxy against a local aiohttp upstream (``POST /login`` sets
  ``code-server-session``; 1 MiB and 16 KiB assets; a WebSocket echo): the assets through
  ``/w/...`` vs direct, and the WebSocket round trip through the proxy vs direct (p50 of 500
  each, difference). This upstream answers faster than code-server does, so its ratio is the
  proxy's cost against a near-zero baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from images.build import image as imagebuild
from providers.podman.service import podman_env
from tests.support.storeproc import REPO, StoreProcess

ORG = "bench"
ASSET = os.urandom(1 << 20)
SMALL = os.urandom(16 << 10)
CODE_SERVER = "/usr/lib/wws/bin/code-server"
CODE_SERVER_WORKSPACE = "ws-0002"
#: What Chromium sends for a script or style sheet of the workbench.
BROWSER_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate, br, zstd"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Store:
    def __init__(self, store: StoreProcess) -> None:
        self.store = store
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=store.ssl_context(), limit=32),
            headers={"Authorization": f"Bearer {store.token}"},
        )

    async def call(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json"
    ) -> Any:
        async with self.session.request(
            method,
            self.store.url + path,
            json=body if ctype == "application/json" else None,
            data=None if ctype == "application/json" else __import__("json").dumps(body),
            headers={"Content-Type": ctype},
        ) as answer:
            text = await answer.json(content_type=None)
            if answer.status >= 400:
                raise RuntimeError(f"{method} {path}: {answer.status} {text}")
            return text


async def upstream_app(port: int) -> web.AppRunner:
    """What the proxy needs of code-server: a password sign-in, a static asset, a socket."""

    async def login(request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "./"})
        response.set_cookie("code-server-session", "bench-cookie")
        return response

    async def asset(request: web.Request) -> web.Response:
        if request.cookies.get("code-server-session") != "bench-cookie":
            return web.Response(status=302, headers={"Location": "./login"})
        return web.Response(body=ASSET, content_type="application/javascript")

    async def small(request: web.Request) -> web.Response:
        if request.cookies.get("code-server-session") != "bench-cookie":
            return web.Response(status=302, headers={"Location": "./login"})
        return web.Response(body=SMALL, content_type="application/javascript")

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_get("/static/asset.js", asset)
    app.router.add_get("/static/small.js", small)
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def wait_healthy(url: str, *, what: str, seconds: float = 30.0) -> None:
    """Until ``url/healthz`` answers 200."""
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            try:
                async with session.get(url + "/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url}")


class CodeServer:
    """code-server of the workspace image in a container, on a loopback port."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.name = f"wws-bench-code-server-{secrets.token_hex(4)}"
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        subprocess.run(
            ["podman", "run", "--rm", "-d", "--name", self.name,
             "-p", f"127.0.0.1:{self.port}:8080", "-e", f"PASSWORD={self.password}",
             self.image, CODE_SERVER, "--bind-addr", "0.0.0.0:8080", "--auth", "password",
             "--disable-telemetry", "--disable-update-check"],
            env=podman_env(), check=True, capture_output=True,
        )  # fmt: skip
        await wait_healthy(self.url, what=f"code-server in {self.name}", seconds=120)

    def stop(self) -> None:
        subprocess.run(
            ["podman", "rm", "-f", "-t", "0", self.name], env=podman_env(), capture_output=True
        )


async def point_at_editor(api: Store, workspace: str, url: str, password: str) -> None:
    """``workspace`` runs the editor at ``url``, with its password in a Secret."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{workspace}-code-server"},
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }
    await api.call("POST", f"/api/v1/namespaces/{ORG}/secrets", secret)
    await api.call(
        "PATCH",
        f"/apis/wws.dev/v1alpha1/namespaces/{ORG}/workspaces/{workspace}/status",
        {
            "status": {
                "endpoints": {
                    "codeServer": url,
                    "codeServerPasswordSecretRef": {
                        "name": f"{workspace}-code-server",
                        "key": "password",
                    },
                }
            }
        },
        "application/merge-patch+json",
    )


async def code_server_assets(
    ui: str, cookie: dict[str, str], code_server: CodeServer, rounds: int
) -> list[tuple[str, int, float, float]]:
    """(asset, bytes sent, direct median s, proxied median s) for the workbench's assets."""
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    ) as session:
        async with session.post(
            code_server.url + "/login",
            data={"password": code_server.password},
            allow_redirects=False,
        ) as answer:
            direct_cookie = answer.cookies["code-server-session"].value
        direct_headers = {**BROWSER_HEADERS, "Cookie": f"code-server-session={direct_cookie}"}
        proxied_headers = {
            **BROWSER_HEADERS,
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookie.items()),
        }
        async with session.get(
            code_server.url + "/",
            headers={"Cookie": direct_headers["Cookie"], "Accept-Encoding": "identity"},
        ) as answer:
            page = await answer.text()
        found = re.findall(
            r"[\w./-]*static/out/vs/code/browser/workbench/workbench\.(?:js|css)", page
        )
        found += re.findall(r"[\w./-]*static/out/nls\.messages\.js", page)
        assets = sorted({asset.lstrip("./") for asset in found})
        if not assets:
            raise RuntimeError("no static asset named by code-server's workbench page")
        proxied_base = f"{ui}/w/{ORG}/{CODE_SERVER_WORKSPACE}/"
        figures = []
        for asset in assets:
            times: dict[str, list[float]] = {"direct": [], "proxied": []}
            sizes: set[int] = set()
            for number in range(rounds + 3):
                for label, url, headers in (
                    ("direct", f"{code_server.url}/{asset}", direct_headers),
                    ("proxied", proxied_base + asset, proxied_headers),
                ):
                    start = time.perf_counter()
                    async with session.get(url, headers=headers, allow_redirects=False) as answer:
                        body = await answer.read()
                    elapsed = time.perf_counter() - start
                    assert answer.status == 200, (url, answer.status)
                    sizes.add(len(body))
                    if number >= 3:  # the first rounds warm both paths up
                        times[label].append(elapsed)
            assert len(sizes) == 1, (asset, sizes)  # the same bytes either way
            figures.append(
                (
                    asset.rsplit("/", 1)[-1],
                    sizes.pop(),
                    statistics.median(times["direct"]),
                    statistics.median(times["proxied"]),
                )
            )
        return figures


async def populate(api: Store, count: int, upstream: int) -> None:
    await api.call(
        "POST",
        "/apis/wws.dev/v1alpha1/organizations",
        {
            "apiVersion": "wws.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": ORG},
            "spec": {"members": [{"user": "admin", "role": "owner"}]},
        },
    )
    await api.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ORG}},
    )
    semaphore = asyncio.Semaphore(16)

    async def one(number: int) -> None:
        async with semaphore:
            await api.call(
                "POST",
                f"/apis/wws.dev/v1alpha1/namespaces/{ORG}/workspaces",
                {
                    "apiVersion": "wws.dev/v1alpha1",
                    "kind": "Workspace",
                    "metadata": {"name": f"ws-{number:04d}"},
                    "spec": {
                        "owner": f"user{number % 50}",
                        "team": f"team{number % 7}",
                        "languages": [{"name": "python"}],
                    },
                },
            )
            await api.call(
                "PATCH",
                f"/apis/wws.dev/v1alpha1/namespaces/{ORG}/workspaces/ws-{number:04d}/status",
                {
                    "status": {
                        "phase": "Running",
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "Running",
                                "message": "",
                                "lastTransitionTime": "2026-11-27T10:00:00Z",
                            }
                        ],
                    }
                },
                "application/merge-patch+json",
            )

    await asyncio.gather(*(one(n) for n in range(count)))
    await point_at_editor(api, "ws-0000", f"http://127.0.0.1:{upstream}/", "bench")


async def dashboard(ui: str, cookie: dict[str, str], requests: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession(cookies=cookie) as session:
        for _ in range(10):
            async with session.get(ui + "/") as answer:
                body = await answer.text()
                assert answer.status == 200 and body.count("data-ws=") >= 500, answer.status
        for _ in range(requests):
            start = time.perf_counter()
            async with session.get(ui + "/") as answer:
                await answer.read()
            times.append(time.perf_counter() - start)
    return times


async def live(
    ui: str, cookie: dict[str, str], api: Store, clients: int, changes: int
) -> list[float]:
    sent: dict[str, float] = {}
    delays: list[float] = []
    ready = asyncio.Event()
    connected = 0

    async def client() -> None:
        nonlocal connected
        async with (
            aiohttp.ClientSession(
                cookies=cookie, timeout=aiohttp.ClientTimeout(total=None)
            ) as session,
            session.get(ui + "/events") as answer,
        ):
            connected += 1
            if connected == clients:
                ready.set()
            seen = 0
            async for line in answer.content:
                text = line.decode()
                if text.startswith("data:") and '"marker-' in text:
                    marker = text.split('"message": "', 1)[1].split('"', 1)[0]
                    if marker in sent:
                        delays.append(time.perf_counter() - sent[marker])
                        seen += 1
                        if seen == changes:
                            return

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.5)
    for number in range(changes):
        marker = f"marker-{number}"
        body = {"status": {"message": marker}}
        start = time.perf_counter()
        await api.call(
            "PATCH",
            f"/apis/wws.dev/v1alpha1/namespaces/{ORG}/workspaces/ws-0001/status",
            body,
            "application/merge-patch+json",
        )
        sent[marker] = start
        await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return delays


async def proxy(ui: str, cookie: dict[str, str], upstream: int) -> dict[str, float]:
    direct_url = f"http://127.0.0.1:{upstream}/static/asset.js"
    proxied_url = f"{ui}/w/{ORG}/ws-0000/static/asset.js"
    results: dict[str, list[float]] = {
        "direct": [],
        "proxied": [],
        "small_direct": [],
        "small_proxied": [],
    }
    async with aiohttp.ClientSession(
        cookies={**cookie, "code-server-session": "bench-cookie"}
    ) as session:
        for _ in range(5):
            for url in (direct_url, proxied_url):
                async with session.get(url) as answer:
                    assert answer.status == 200 and len(await answer.read()) == len(ASSET), (
                        url,
                        answer.status,
                    )
        for _ in range(50):
            for label, url in (
                ("direct", direct_url),
                ("proxied", proxied_url),
                ("small_direct", direct_url.replace("asset.js", "small.js")),
                ("small_proxied", proxied_url.replace("asset.js", "small.js")),
            ):
                start = time.perf_counter()
                async with session.get(url) as answer:
                    await answer.read()
                results[label].append(time.perf_counter() - start)
        rtt: dict[str, list[float]] = {"direct": [], "proxied": []}
        for label, url in (
            ("direct", f"ws://127.0.0.1:{upstream}/ws"),
            ("proxied", f"{ui.replace('http', 'ws')}/w/{ORG}/ws-0000/ws"),
        ):
            async with session.ws_connect(url) as ws:
                for _ in range(50):
                    await ws.send_str("x" * 64)
                    await ws.receive()
                for _ in range(500):
                    start = time.perf_counter()
                    await ws.send_str("x" * 64)
                    await ws.receive()
                    rtt[label].append(time.perf_counter() - start)
    direct, proxied = statistics.median(results["direct"]), statistics.median(results["proxied"])
    return {
        "asset_direct_ms": direct * 1000,
        "asset_proxied_ms": proxied * 1000,
        "asset_ratio": proxied / direct,
        "small_direct_ms": statistics.median(results["small_direct"]) * 1000,
        "small_proxied_ms": statistics.median(results["small_proxied"]) * 1000,
        "ws_direct_p50_ms": statistics.median(rtt["direct"]) * 1000,
        "ws_proxied_p50_ms": statistics.median(rtt["proxied"]) * 1000,
        "ws_added_p50_ms": (statistics.median(rtt["proxied"]) - statistics.median(rtt["direct"]))
        * 1000,
    }


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wws-bench-webui-") as folder:
        store = StoreProcess(Path(folder) / "store", crds_dir=REPO / "crds").start()
        upstream_port = free_port()
        upstream = await upstream_app(upstream_port)
        ui_process = None
        api = Store(store)
        code_server = None if args.no_code_server else CodeServer(args.code_server_image)
        try:
            await populate(api, args.workspaces, upstream_port)
            if code_server is not None:
                await code_server.start()
                await point_at_editor(
                    api, CODE_SERVER_WORKSPACE, code_server.url + "/", code_server.password
                )
            token = secrets.token_urlsafe(16)
            (Path(folder) / "token").write_text(token)
            port = free_port()
            ui_process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wws.cli",
                    "--log-level",
                    "WARNING",
                    "webui",
                    "serve",
                    "--kubeconfig",
                    str(store.kubeconfig),
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--bootstrap-kubeconfig",
                    str(store.kubeconfig),
                    "--bootstrap-token-file",
                    str(Path(folder) / "token"),
                ],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            ui = f"http://127.0.0.1:{port}"
            await wait_healthy(ui, what="the web UI")
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{ui}/bootstrap?token={token}", allow_redirects=False) as answer,
            ):
                cookie = {"wws_session": answer.cookies["wws_session"].value}
            times = await dashboard(ui, cookie, args.requests)
            print(
                f"dashboard of {args.workspaces} workspaces: p50 {pct(times, 50) * 1000:.1f} ms, "
                f"p95 {pct(times, 95) * 1000:.1f} ms ({args.requests} requests)"
            )
            delays = await live(ui, cookie, api, args.clients, args.changes)
            print(
                f"live status, {args.clients} clients x {args.changes} changes: "
                f"p50 {pct(delays, 50) * 1000:.1f} ms, p99 {pct(delays, 99) * 1000:.1f} ms "
                f"({len(delays)} events)"
            )
            if code_server is not None:
                for asset, size, direct, proxied in await code_server_assets(
                    ui, cookie, code_server, args.asset_rounds
                ):
                    print(
                        f"proxy, code-server's {asset} ({size / 1024:.0f} KiB as sent): direct "
                        f"{direct * 1000:.2f} ms, through /w/ {proxied * 1000:.2f} ms, "
                        f"ratio {proxied / direct:.2f} (median of {args.asset_rounds} each)"
                    )
            figures = await proxy(ui, cookie, upstream_port)
            print(
                f"proxy, 1 MiB static asset: direct {figures['asset_direct_ms']:.2f} ms, through "
                f"/w/ {figures['asset_proxied_ms']:.2f} ms, ratio {figures['asset_ratio']:.2f}"
            )
            print(
                f"proxy, 16 KiB asset: direct {figures['small_direct_ms']:.2f} ms, through /w/ "
                f"{figures['small_proxied_ms']:.2f} ms"
            )
            print(
                f"proxy, WebSocket round trip p50: direct {figures['ws_direct_p50_ms']:.3f} ms, "
                f"through /w/ {figures['ws_proxied_p50_ms']:.3f} ms, "
                f"added {figures['ws_added_p50_ms']:.3f} ms"
            )
        finally:
            await api.session.close()
            if ui_process is not None:
                ui_process.send_signal(signal.SIGTERM)
                ui_process.wait(timeout=15)
            await upstream.cleanup()
            if code_server is not None:
                code_server.stop()
            store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument(
        "--code-server-image",
        default=os.environ.get("WWS_TEST_IMAGE") or imagebuild.IMAGE,
        help="the workspace image whose code-server the proxy is measured against",
    )
    parser.add_argument("--asset-rounds", type=int, default=30)
    parser.add_argument("--no-code-server", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
