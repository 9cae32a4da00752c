"""GitHub's OAuth web flow: ``/login/oauth/authorize`` and ``/login/oauth/access_token``.

The authorize page lists the directory's people: whoever runs the stand-in picks the person to
sign in as (there are no passwords; it is a stand-in). With ``oauth.autoApprove`` set the
page is skipped. Token exchange answers as GitHub does: JSON when asked for
(``Accept: application/json``, what authlib sends), form-encoded otherwise, and errors as
``200`` with an ``error`` field. PKCE (``code_challenge``, S256 or plain) is checked when sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from devgithub import directory, state

_ERROR_URI = (
    "https://docs.github.com/apps/oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
)


def _state(request: Request) -> state.State:
    found: state.State = request.app.state.devgithub
    return found


def _client(current: directory.Directory, client_id: str) -> directory.OAuthClient | None:
    """The registered client; when none are registered any id is accepted (a stand-in)."""
    if not current.oauth.clients:
        return directory.OAuthClient(client_id=client_id or "any", client_secret="any")
    return next((c for c in current.oauth.clients if c.client_id == client_id), None)


def _redirect_allowed(client: directory.OAuthClient, redirect_uri: str) -> bool:
    return not client.redirect_uris or any(redirect_uri.startswith(p) for p in client.redirect_uris)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(params), status_code=302)


async def authorize(request: Request) -> Response:
    """GET shows the sign-in page (or approves at once); POST is the page's answer."""
    fields: dict[str, str] = dict(request.query_params)
    if request.method == "POST":
        fields.update({k: str(v) for k, v in (await request.form()).items()})
    current = _state(request).directory
    client_id = fields.get("client_id", "")
    client = _client(current, client_id)
    if client is None:
        return _page("Unknown application", "<p>No OAuth app has this client_id.</p>", 404)
    redirect_uri = fields.get("redirect_uri") or (client.redirect_uris or [""])[0]
    if not redirect_uri or not _redirect_allowed(client, redirect_uri):
        return _page(
            "Redirect URI mismatch",
            "<p>The redirect_uri is missing or not registered for this application.</p>",
            400,
        )
    oauth_state = fields.get("state", "")
    auto = _state(request).auto_approve or current.oauth.auto_approve
    chosen = fields.get("login") if request.method == "POST" else auto
    if request.method == "POST" and fields.get("decision") == "deny":
        return _redirect(redirect_uri, {"error": "access_denied", "state": oauth_state})
    if chosen:
        user = current.user(chosen)
        if user is None:
            return _page("Unknown user", f"<p>No user {html.escape(chosen)}.</p>", 404)
        code = _state(request).issue_code(
            state.Grant(
                login=user.login,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scope=fields.get("scope", ""),
                code_challenge=fields.get("code_challenge") or None,
                code_challenge_method=fields.get("code_challenge_method") or None,
                expires=time.time() + state.CODE_SECONDS,
            )
        )
        return _redirect(redirect_uri, {"code": code, "state": oauth_state})
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in fields.items()
        if k != "login"
    )
    suggested = fields.get("login", "")
    buttons = "".join(
        f"<li><button type='submit' name='login' value='{html.escape(u.login)}'"
        f"{' autofocus' if u.login == suggested else ''}>"
        f"Sign in as {html.escape(u.login)}</button> {html.escape(u.name or '')}</li>"
        for u in current.users
    )
    body = (
        f"<p>The application <code>{html.escape(client_id)}</code> asks to sign you in"
        f" (scopes: <code>{html.escape(fields.get('scope', '') or 'none')}</code>).</p>"
        f"<form method='post' action='/login/oauth/authorize'>{hidden}<ul>{buttons}</ul>"
        "<button type='submit' name='decision' value='deny'>Cancel</button></form>"
    )
    return _page("Sign in to the GitHub stand-in", body)


def _pkce_ok(grant: state.Grant, verifier: str | None) -> bool:
    if grant.code_challenge is None:
        return True
    if not verifier:
        return False
    if (grant.code_challenge_method or "plain").upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return hmac.compare_digest(expected, grant.code_challenge)


def _token_answer(request: Request, payload: dict[str, str]) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(payload)
    return Response(urlencode(payload), media_type="application/x-www-form-urlencoded")


def _token_error(request: Request, error: str, description: str) -> Response:
    return _token_answer(
        request, {"error": error, "error_description": description, "error_uri": _ERROR_URI}
    )


async def access_token(request: Request) -> Response:
    """Exchange an authorization code for an access token."""
    fields: dict[str, Any] = dict(request.query_params)
    if "json" in request.headers.get("content-type", ""):
        fields.update(await request.json())
    else:
        fields.update({k: str(v) for k, v in (await request.form()).items()})
    client_id, client_secret = str(fields.get("client_id", "")), fields.get("client_secret")
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        decoded = base64.b64decode(basic[6:]).decode(errors="replace")
        client_id, _, client_secret = decoded.partition(":")
    current = _state(request).directory
    client = _client(current, client_id)
    if client is None or (
        current.oauth.clients and not hmac.compare_digest(str(client_secret), client.client_secret)
    ):
        return _token_error(
            request,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        )
    grant = _state(request).redeem_code(str(fields.get("code", "")))
    if grant is None or grant.client_id != client_id:
        return _token_error(
            request, "bad_verification_code", "The code passed is incorrect or expired."
        )
    redirect_uri = fields.get("redirect_uri")
    if redirect_uri and redirect_uri != grant.redirect_uri:
        return _token_error(
            request,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        )
    if not _pkce_ok(grant, fields.get("code_verifier")):
        return _token_error(request, "bad_verification_code", "The code_verifier does not match.")
    scope = ",".join(s for s in grant.scope.replace(",", " ").split() if s)
    token = _state(request).issue_token(login=grant.login, scope=scope)
    return _token_answer(request, {"access_token": token, "token_type": "bearer", "scope": scope})
