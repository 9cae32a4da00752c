"""Signing in and out: GitHub OAuth, the one-time bootstrap link, sign out (everywhere)."""

from __future__ import annotations

import hmac

from authlib.integrations.base_client import OAuthError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webui import github
from webui.kube import Person
from webui.sessions import COOKIE, Session
from webui.state import UI, person_of, session_of, ui_of
from webui.templates import render
from wws import logconfig

log = logconfig.get(__name__)


def _safe_next(value: str | None) -> str:
    # NB: only local paths, so the sign-in can never send a person to another site.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _set_cookie(ui: UI, response: Response, session: Session) -> Response:
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="lax",
        secure=ui.settings.secure_cookies,
        path="/",
    )
    return response


def _pre_session(request: Request) -> Session:
    """The session of a sign-in under way (a fresh, anonymous one when there is none)."""
    ui = ui_of(request)
    session: Session | None = request.scope.get("wws.session")
    if session is None:
        session = ui.sessions.new()
        request.scope["wws.session"] = session
        request.scope["session"] = session.data
    return session


async def login_page(request: Request) -> Response:
    ui = ui_of(request)
    return render(
        request,
        "login.html",
        {"github": ui.github is not None, "next": _safe_next(request.query_params.get("next"))},
    )


async def login_github(request: Request) -> Response:
    ui = ui_of(request)
    if ui.github is None:
        return render(
            request,
            "message.html",
            {
                "message": "No GitHub OAuth app is configured; "
                "use the sign-in link that wws up printed.",
                "status": 404,
            },
            404,
        )
    session = _pre_session(request)
    session.data["next"] = _safe_next(request.query_params.get("next"))
    redirect_uri = ui.settings.public_url.rstrip("/") + "/auth/callback"
    response: Response = await ui.github.authorize_redirect(request, redirect_uri)
    return _set_cookie(ui, response, session)


async def callback(request: Request) -> Response:
    ui = ui_of(request)
    session: Session | None = request.scope.get("wws.session")
    if ui.github is None or session is None:
        return _refused(request, "This sign-in was not started here, or it took too long.")
    try:
        person = await github.person_from_callback(ui.github, request)
    except OAuthError as error:
        log.info("webui.oauth_refused", error=error.error)
        return _refused(
            request,
            "GitHub sign-in failed: the answer did not match the "
            "request this browser started. Start again.",
        )
    target = _safe_next(session.data.get("next"))
    fresh = ui.sessions.sign_in(session, person)
    log.info("webui.signed_in", login=person.login)
    return _set_cookie(ui, RedirectResponse(target, status_code=303), fresh)


def _refused(request: Request, message: str) -> Response:
    return render(request, "message.html", {"message": message, "status": 400}, 400)


async def bootstrap(request: Request) -> Response:
    """The one-time link of ``wws up``: the administrator's first sign-in, used once."""
    ui = ui_of(request)
    token = request.query_params.get("token") or ""
    if not ui.bootstrap_token or not hmac.compare_digest(token, ui.bootstrap_token):
        return _refused(request, "This sign-in link is not valid (it works once).")
    ui.bootstrap_token = None
    person = Person(login=ui.settings.bootstrap_login, bootstrap=True)
    fresh = ui.sessions.sign_in(_pre_session(request), person)
    log.info("webui.bootstrap_signed_in", login=person.login)
    return _set_cookie(ui, RedirectResponse("/", status_code=303), fresh)


async def logout(request: Request) -> Response:
    ui = ui_of(request)
    ui.sessions.end(session_of(request).id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def logout_everywhere(request: Request) -> Response:
    ui = ui_of(request)
    ended = ui.sessions.end_all(person_of(request).login)
    log.info("webui.signed_out_everywhere", login=person_of(request).login, sessions=ended)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login/github", login_github, methods=["GET"]),
    Route("/auth/callback", callback, methods=["GET"]),
    Route("/bootstrap", bootstrap, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
]
