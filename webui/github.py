"""Signing in with GitHub (or GitHub Enterprise, or the local stand-in) through authlib.

The OAuth app's URLs follow from two base URLs, so GHES and the stand-in need no code:
the web base (``/login/oauth/authorize``, ``/login/oauth/access_token``) and the REST base
(``/user``, ``/user/emails``, ``/users/{login}/keys``). The GitHub access token is used
once, during the callback, and never kept.
"""

from __future__ import annotations

from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from starlette.requests import Request

from webui.kube import Person
from webui.settings import GitHubApp

SCOPE = "read:user user:email read:org"


def register(app: GitHubApp) -> StarletteOAuth2App:
    oauth = OAuth()
    web = app.web_url.rstrip("/")
    client: StarletteOAuth2App = oauth.register(
        "github",
        client_id=app.client_id,
        client_secret=app.client_secret,
        authorize_url=f"{web}/login/oauth/authorize",
        access_token_url=f"{web}/login/oauth/access_token",
        api_base_url=app.api_url.rstrip("/") + "/",
        client_kwargs={"scope": SCOPE},
    )
    return client


async def person_from_callback(client: StarletteOAuth2App, request: Request) -> Person:
    """Exchange the callback's code for a token and read who signed in.

    Raises authlib's ``OAuthError`` (``MismatchingStateError`` for a wrong state) on a bad
    callback.
    """
    token = await client.authorize_access_token(request)
    user = (await client.get("user", token=token)).json()
    emails_answer = await client.get("user/emails", token=token)
    emails: list[dict[str, Any]] = emails_answer.json() if emails_answer.is_success else []
    verified = tuple(
        str(e["email"]).lower() for e in emails if isinstance(e, dict) and e.get("verified")
    )
    return Person(login=str(user["login"]).lower(), emails=verified)


async def public_keys(app: GitHubApp | None, login: str) -> list[str]:
    """The person's public SSH keys from ``/users/{login}/keys`` ([] when unreachable)."""
    if app is None:
        return []
    url = f"{app.api_url.rstrip('/')}/users/{login}/keys"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(url, headers={"Accept": "application/vnd.github+json"})
    except httpx.HTTPError:
        return []
    if not answer.is_success:
        return []
    return [str(k["key"]) for k in answer.json() if isinstance(k, dict) and k.get("key")]
