"""The controller's HTTP endpoints for probes and Prometheus (``--health-listen``).

- ``/healthz`` — 200 while the event loop runs (a liveness probe: a hung loop never answers);
- ``/readyz`` — 200 once kopf has started and the orphan sweep is done, 503 before
  (and while shutting down);
- ``/metrics`` — Prometheus text format (:mod:`controller.metrics`).
"""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from wws import logconfig

log = logconfig.get(__name__)


@dataclasses.dataclass
class Readiness:
    """What ``/readyz`` reports: every flag set, and not stopping."""

    operator: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """kopf is up (its ready flag)."""
    swept: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """The orphan sweep of the start has finished (or was skipped for a reason logged)."""
    stopping: bool = False

    def why_not(self) -> str | None:
        if self.stopping:
            return "stopping"
        if not self.operator.is_set():
            return "kopf is starting"
        if not self.swept.is_set():
            return "removing orphans left by a previous run"
        return None


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → host and port."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--health-listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def app(readiness: Readiness) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        why = readiness.why_not()
        if why is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"not ready: {why}\n")

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    application = web.Application()
    application.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/livez", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
        ]
    )
    return application


async def serve(listen: str, readiness: Readiness) -> web.AppRunner:
    """Start serving on ``listen``; stop with ``await runner.cleanup()``."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(app(readiness), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("health endpoints serving", listen=f"{host}:{port}")
    return runner
