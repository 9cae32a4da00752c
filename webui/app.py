"""The Starlette application: routes of every area, static files, the guard, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from webui.guard import Guard
from webui.routes import auth, issuer, live, orgs, proxy, workspaces, yaml_editor
from webui.settings import Settings
from webui.state import UI

STATIC = Path(__file__).parent / "static"


async def _editor_root(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


def build(settings: Settings) -> Starlette:
    """The web UI for ``settings``."""
    ui = UI(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ui.start()
        try:
            yield
        finally:
            await proxy.upstreams_of(ui).close()
            await ui.stop()

    routes = [
        *auth.routes,
        *issuer.routes,
        *workspaces.routes,
        *orgs.routes,
        *yaml_editor.routes,
        *live.routes,
        Route("/w/{namespace}/{name}", _editor_root, methods=["GET"]),
        *proxy.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ui = ui
    app.add_middleware(Guard, ui=ui)
    return app
