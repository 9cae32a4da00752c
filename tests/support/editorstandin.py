"""What the web UI's editor proxy needs of code-server, on a loopback port in a thread of the
test process: ``POST /login`` with the right password sets ``code-server-session``, and
``GET /ws`` is a WebSocket echo for a signed-in cookie (others are sent to the login)."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from aiohttp import web

from tests.support.names import free_port

COOKIE = "code-server-session"


class EditorStandIn:
    def __init__(self, password: str) -> None:
        self.password = password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        response = web.Response(status=302, headers={"Location": "./"})
        if form.get("password") == self.password:
            response.set_cookie(COOKIE, "signed-in")
        return response

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        if request.cookies.get(COOKIE) != "signed-in":
            return web.Response(status=302, headers={"Location": "./login"})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/login", self._login)
        app.router.add_get("/ws", self._echo)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> EditorStandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
