"""Jinja2 templates (autoescaped) and the context every page gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.ChainableUndefined,
)


def render_bytes(name: str, context: dict[str, Any]) -> bytes:
    base: dict[str, Any] = {"person": None, "csrf": "", "title": "WWS", "invitations": []}
    return environment.get_template(name).render({**base, **context}).encode()


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """The page ``name`` for the request's person, with their CSRF token."""
    session = request.scope.get("wws.session")
    base: dict[str, Any] = {
        "person": session.person if session is not None else None,
        "csrf": session.csrf if session is not None else "",
    }
    return HTMLResponse(
        render_bytes(name, {**base, **context}),
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
