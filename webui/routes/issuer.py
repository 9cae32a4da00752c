"""The OIDC issuer's public documents, the kubeconfig download, health and metrics."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from webui.oidc import AUDIENCE, JWKS_PATH
from webui.state import person_of, ui_of
from webui.templates import render


async def discovery(request: Request) -> Response:
    return JSONResponse(ui_of(request).issuer.discovery())


async def jwks(request: Request) -> Response:
    return JSONResponse(ui_of(request).issuer.jwks())


async def kubeconfig(request: Request) -> Response:
    """A kubeconfig with the person's own token (default 8 h): kubectl sees what the UI
    shows them."""
    ui, person = ui_of(request), person_of(request)
    if person.bootstrap:
        return render(
            request,
            "message.html",
            {
                "message": "The bootstrap administrator uses "
                "the admin kubeconfig that wws up wrote.",
                "status": 404,
            },
            404,
        )
    token, _expiry = ui.issuer.token(person, seconds=ui.settings.token_seconds)
    cluster: dict[str, str] = {"server": ui.kube.credentials.server}
    if ui.kube.credentials.ca_path:
        cluster["certificate-authority-data"] = base64.b64encode(
            Path(ui.kube.credentials.ca_path).read_bytes()
        ).decode()
    name = "wws"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": person.username, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": person.username}}],
        "current-context": name,
    }
    return PlainTextResponse(
        yaml.safe_dump(config, sort_keys=False),
        headers={
            "Content-Disposition": 'attachment; filename="wws-kubeconfig.yaml"',
            "Cache-Control": "no-store",
        },
    )


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route(JWKS_PATH, jwks, methods=["GET"]),
    Route("/kubeconfig", kubeconfig, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]

__all__ = ["AUDIENCE", "routes"]
