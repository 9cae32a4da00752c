"""The stand-in's Starlette app: OAuth pages, the REST API at ``/`` and ``/api/v3``, admin."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from devgithub import admin, oauth, rest, state


async def _meta(request: Request) -> Response:
    return JSONResponse({"verifiable_password_authentication": False, "devgithub": True})


def build(found: state.State) -> Starlette:
    """The ASGI app serving ``found``."""
    routes: list[BaseRoute] = [
        Route("/login/oauth/authorize", oauth.authorize, methods=["GET", "POST"]),
        Route("/login/oauth/access_token", oauth.access_token, methods=["POST"]),
        Route("/meta", _meta, methods=["GET"]),
        Mount("/_devgithub", routes=admin.routes()),
        # NB: GitHub Enterprise Server serves the REST API under /api/v3/.
        Mount("/api/v3", routes=rest.routes()),
        *rest.routes(),
    ]
    app = Starlette(routes=routes)
    app.state.devgithub = found
    return app
