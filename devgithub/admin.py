"""Run-time changes for tests: membership, the whole directory, rate limits, outages.

Served under ``/_devgithub/`` and only when the stand-in was given an admin token
(``WWS_DEV_GITHUB_ADMIN_TOKEN``); every request must carry it as a bearer token. A person
trying WWS edits the YAML file instead: it is read again when it changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devgithub import directory, responses, state

Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Callable[[Request, state.State], Awaitable[Response]]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        found: state.State = request.app.state.devgithub
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip()
        if found.admin_token is None:
            return responses.error(404, "Not Found")
        if not hmac.compare_digest(given.encode(), found.admin_token.encode()):
            return responses.error(401, "Bad credentials")
        try:
            return await handler(request, found)
        except (ValueError, pydantic.ValidationError, yaml.YAMLError) as error:
            return responses.error(422, str(error))

    return endpoint


async def _body(request: Request) -> Any:
    raw = await request.body()
    return yaml.safe_load(raw) if raw else {}


def _edit(found: state.State, change: Callable[[dict[str, Any]], None]) -> Response:
    """Apply ``change`` to a copy of the directory and serve the result if it is valid."""
    data = found.directory.model_dump(mode="json", by_alias=True)
    change(data)
    found.files.replace(directory.parse(data))
    return JSONResponse(found.directory.model_dump(mode="json", by_alias=True))


def _org(data: dict[str, Any], login: str) -> dict[str, Any]:
    org = next((o for o in data["orgs"] if o["login"].lower() == login.lower()), None)
    if org is None:
        raise ValueError(f"no org {login}")
    return org  # type: ignore[no-any-return]


def _team(data: dict[str, Any], org: str, slug: str) -> dict[str, Any]:
    team = next((t for t in _org(data, org)["teams"] if t["slug"].lower() == slug.lower()), None)
    if team is None:
        raise ValueError(f"no team {org}/{slug}")
    return team  # type: ignore[no-any-return]


def _set_member(members: list[dict[str, Any]], login: str, entry: dict[str, Any] | None) -> None:
    members[:] = [m for m in members if m["login"].lower() != login.lower()]
    if entry is not None:
        members.append({"login": login, **entry})


async def get_directory(request: Request, found: state.State) -> Response:
    return JSONResponse(found.directory.model_dump(mode="json", by_alias=True))


async def put_directory(request: Request, found: state.State) -> Response:
    found.files.replace(directory.parse(await _body(request)))
    return JSONResponse(found.directory.model_dump(mode="json", by_alias=True))


async def reload(request: Request, found: state.State) -> Response:
    if found.files.path is None:
        raise ValueError("the stand-in was started without a users file")
    found.files.reload()
    return JSONResponse(found.directory.model_dump(mode="json", by_alias=True))


async def org_member(request: Request, found: state.State) -> Response:
    org, login = request.path_params["org"], request.path_params["login"]
    entry = None if request.method == "DELETE" else dict(await _body(request) or {})
    return _edit(found, lambda data: _set_member(_org(data, org)["members"], login, entry))


async def team_member(request: Request, found: state.State) -> Response:
    org, team = request.path_params["org"], request.path_params["team"]
    login = request.path_params["login"]
    entry = None if request.method == "DELETE" else dict(await _body(request) or {})
    return _edit(found, lambda data: _set_member(_team(data, org, team)["members"], login, entry))


async def rate_limit(request: Request, found: state.State) -> Response:
    """``{"exhausted": true}`` uses up everyone's limit; ``false`` starts fresh windows."""
    body = await _body(request)
    if body.get("exhausted"):
        found.limits.exhausted.add("*")
    else:
        found.limits.reset()
    return JSONResponse({"exhausted": "*" in found.limits.exhausted})


async def outage(request: Request, found: state.State) -> Response:
    """``{"status": 502}`` answers every REST request with that status; ``{}`` ends it."""
    body = await _body(request)
    status = body.get("status")
    found.down = int(status) if status else None
    return JSONResponse({"status": found.down})


async def requests_log(request: Request, found: state.State) -> Response:
    """The REST requests served so far (method, path, status, conditional)."""
    return JSONResponse([vars(entry) for entry in found.log])


def routes() -> list[BaseRoute]:
    return [
        Route("/directory", _guarded(get_directory), methods=["GET"]),
        Route("/directory", _guarded(put_directory), methods=["PUT"]),
        Route("/reload", _guarded(reload), methods=["POST"]),
        Route("/orgs/{org}/members/{login}", _guarded(org_member), methods=["PUT", "DELETE"]),
        Route(
            "/orgs/{org}/teams/{team}/members/{login}",
            _guarded(team_member),
            methods=["PUT", "DELETE"],
        ),
        Route("/rate-limit", _guarded(rate_limit), methods=["PUT"]),
        Route("/outage", _guarded(outage), methods=["PUT"]),
        Route("/requests", _guarded(requests_log), methods=["GET"]),
    ]
