"""Jinja2 templates (autoescaped) and the context every page gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.ChainableUndefined,
)


_ROWS: dict[tuple[str, ...], Markup] = {}
ROWS_KEPT = 20000


def dashboard_row(row: dict[str, Any], key: tuple[str, ...]) -> Markup:
    """One dashboard row's HTML, rendered once per ``key`` (the object's uid and
    resourceVersion, and the ages shown): the same for every viewer, so a page of 500 rows is
    mostly lookups."""
    found = _ROWS.get(key)
    if found is None:
        if len(_ROWS) > ROWS_KEPT:
            _ROWS.clear()
        found = Markup(environment.get_template("_row.html").render(r=row))
        _ROWS[key] = found
    return found


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
