"""``GET /events``: the person's live status stream (Server-Sent Events) from the mirror."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from webui.state import person_of, ui_of

KEEPALIVE_SECONDS = 15.0


async def events(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    subscriber = ui.mirror.subscribe(person)

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if ui.sessions.get(request.scope["wws.session"].id, touch=False) is None:
                        return  # signed out (or expired) meanwhile: the stream ends
                    yield ": keep-alive\n\n"
                    continue
                yield message
        finally:
            ui.mirror.unsubscribe(subscriber)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [Route("/events", events, methods=["GET"])]
