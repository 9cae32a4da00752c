"""The REST endpoints WWS reads: the signed-in person, and organization and team membership.

Served at the root (like ``api.github.com``) and under ``/api/v3`` (like GitHub Enterprise
Server), so either base URL works. Visibility follows GitHub: an organization's members list
shows only public members to people outside it; teams and memberships are visible to the
organization's members only. Anonymous requests get 60 per hour, as on GitHub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from devgithub import directory, responses, state

ANONYMOUS_LIMIT = 60

Handler = Callable[["Call"], Awaitable[Response]]


class Call:
    """One REST request: who makes it and how to answer it."""

    def __init__(self, request: Request, found: state.State) -> None:
        self.request = request
        self.state = found
        self.directory = found.directory
        self.user: directory.User | None = None
        self.scopes = ""
        self.base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")

    @property
    def identity(self) -> str:
        if self.user is not None:
            return f"user ID {self.user.id}"
        client = self.request.client
        return f"{client.host if client else 'unknown'}"

    def answer(self, payload: Any, *, paginate: bool = False) -> Response:
        limit = self.directory.rate_limit if self.user is not None else ANONYMOUS_LIMIT
        response = responses.answer(
            self.request,
            payload,
            identity=self.identity,
            limit=limit,
            limits=self.state.limits,
            paginate=paginate,
        )
        if self.user is not None:
            response.headers["x-oauth-scopes"] = self.scopes
        return response

    def require_user(self) -> directory.User | Response:
        if self.user is None:
            return responses.error(401, "Requires authentication")
        return self.user

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def user_json(self, user: directory.User) -> dict[str, Any]:
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"{self.base}/avatars/{user.login}",
            "url": f"{self.base}/users/{user.login}",
            "html_url": f"{self.base}/{user.login}",
            "type": "User",
            "site_admin": user.site_admin,
        }

    def org_json(self, org: directory.Org) -> dict[str, Any]:
        return {
            "login": org.login,
            "id": org.id,
            "node_id": f"O_{org.id}",
            "url": f"{self.base}/orgs/{org.login}",
            "avatar_url": f"{self.base}/avatars/{org.login}",
            "description": org.name,
        }

    def team_json(self, org: directory.Org, team: directory.Team) -> dict[str, Any]:
        team_id = directory.stable_id("team", f"{org.login}/{team.slug}")
        return {
            "id": team_id,
            "node_id": f"T_{team_id}",
            "slug": team.slug,
            "name": team.name or team.slug,
            "description": team.description,
            "privacy": "closed",
            "permission": "pull",
            "url": f"{self.base}/orgs/{org.login}/teams/{team.slug}",
            "organization": self.org_json(org),
        }


def _authenticate(call: Call) -> Response | None:
    header = call.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        return responses.error(401, "Bad credentials")
    found = call.state.authenticate(token.strip())
    if found is None:
        return responses.error(401, "Bad credentials")
    call.user, call.scopes = found
    return None


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        found: state.State = request.app.state.devgithub
        conditional = "if-none-match" in request.headers
        if found.down is not None:
            response: Response = responses.error(found.down, "Service unavailable")
        else:
            call = Call(request, found)
            response = _authenticate(call) or await handler(call)
        found.log.append(
            state.Request(
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                conditional=conditional,
            )
        )
        return response

    return endpoint


def _not_found() -> Response:
    return responses.error(404, "Not Found")


# --- the signed-in person --------------------------------------------------------------------


async def get_user(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    return call.answer(
        {**call.user_json(user), "name": user.name, "email": user.primary_email, "bio": None}
    )


async def get_user_emails(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    emails = [e.model_dump(mode="json") for e in user.emails]
    return call.answer(emails, paginate=True)


async def get_user_orgs(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    return call.answer(
        [call.org_json(o) for o in call.directory.orgs_of(user.login)], paginate=True
    )


async def get_user_teams(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    teams = [
        call.team_json(org, team)
        for org in call.directory.orgs
        for team in org.teams
        if any(m.login.lower() == user.login.lower() for m in team.members)
    ]
    return call.answer(teams, paginate=True)


async def get_user_membership(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    org = call.directory.org(call.param("org"))
    member = org.member(user.login) if org else None
    if org is None or member is None:
        return _not_found()
    return call.answer(_membership_json(call, org, user, member))


# --- people ---------------------------------------------------------------------------------


async def get_a_user(call: Call) -> Response:
    user = call.directory.user(call.param("login"))
    if user is None:
        return _not_found()
    return call.answer({**call.user_json(user), "name": user.name})


async def get_user_keys(call: Call) -> Response:
    user = call.directory.user(call.param("login"))
    if user is None:
        return _not_found()
    keys = [
        {"id": directory.stable_id("key", f"{user.login}/{index}"), "key": key}
        for index, key in enumerate(user.keys)
    ]
    return call.answer(keys, paginate=True)


# --- organizations and teams ------------------------------------------------------------------


def _is_member(call: Call, org: directory.Org) -> bool:
    member = org.member(call.user.login) if call.user else None
    return member is not None and member.state == "active"


def _membership_json(
    call: Call, org: directory.Org, user: directory.User, member: directory.OrgMember
) -> dict[str, Any]:
    return {
        "url": f"{call.base}/orgs/{org.login}/memberships/{user.login}",
        "state": member.state,
        "role": member.role.value,
        "organization_url": f"{call.base}/orgs/{org.login}",
        "organization": call.org_json(org),
        "user": call.user_json(user),
    }


async def get_org(call: Call) -> Response:
    org = call.directory.org(call.param("org"))
    if org is None:
        return _not_found()
    return call.answer({**call.org_json(org), "name": org.name, "type": "Organization"})


async def get_org_members(call: Call) -> Response:
    org = call.directory.org(call.param("org"))
    if org is None:
        return _not_found()
    role = call.request.query_params.get("role", "all")
    if role not in ("all", "admin", "member"):
        return responses.error(422, "role must be all, admin or member")
    insider = _is_member(call, org)
    users = [
        call.user_json(user)
        for member in org.members
        if member.state == "active"
        and (insider or member.public)
        and role in ("all", member.role.value)
        and (user := call.directory.user(member.login)) is not None
    ]
    return call.answer(users, paginate=True)


async def get_org_membership(call: Call) -> Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    org = call.directory.org(call.param("org"))
    if org is None:
        return _not_found()
    login = call.param("username")
    if not _is_member(call, org) and login.lower() != user.login.lower():
        return responses.error(
            403, f"You must be a member of {org.login} to see membership information for {login}."
        )
    member, person = org.member(login), call.directory.user(login)
    if member is None or person is None:
        return _not_found()
    return call.answer(_membership_json(call, org, person, member))


def _org_for_insider(call: Call) -> directory.Org | Response:
    user = call.require_user()
    if isinstance(user, Response):
        return user
    org = call.directory.org(call.param("org"))
    if org is None:
        return _not_found()
    if not _is_member(call, org):
        # NB: GitHub hides an organization's teams from outsiders; a 404 tells them nothing.
        return _not_found()
    return org


async def get_org_teams(call: Call) -> Response:
    org = _org_for_insider(call)
    if isinstance(org, Response):
        return org
    return call.answer([call.team_json(org, team) for team in org.teams], paginate=True)


async def get_team(call: Call) -> Response:
    org = _org_for_insider(call)
    if isinstance(org, Response):
        return org
    team = org.team(call.param("team"))
    return call.answer(call.team_json(org, team)) if team else _not_found()


async def get_team_members(call: Call) -> Response:
    org = _org_for_insider(call)
    if isinstance(org, Response):
        return org
    team = org.team(call.param("team"))
    if team is None:
        return _not_found()
    role = call.request.query_params.get("role", "all")
    if role not in ("all", "maintainer", "member"):
        return responses.error(422, "role must be all, maintainer or member")
    users = [
        call.user_json(user)
        for member in team.members
        if role in ("all", member.role.value)
        and (user := call.directory.user(member.login)) is not None
    ]
    return call.answer(users, paginate=True)


async def get_team_membership(call: Call) -> Response:
    org = _org_for_insider(call)
    if isinstance(org, Response):
        return org
    team = org.team(call.param("team"))
    login = call.param("username")
    member = (
        next((m for m in team.members if m.login.lower() == login.lower()), None) if team else None
    )
    if team is None or member is None:
        return _not_found()
    return call.answer(
        {
            "url": f"{call.base}/orgs/{org.login}/teams/{team.slug}/memberships/{member.login}",
            "role": member.role.value,
            "state": "active",
        }
    )


async def get_rate_limit(call: Call) -> Response:
    limit = call.directory.rate_limit if call.user is not None else ANONYMOUS_LIMIT
    # NB: GitHub does not count this request against the limit.
    _, headers = call.state.limits.headers(call.identity, limit, count=False)
    core = {
        "limit": int(headers["x-ratelimit-limit"]),
        "remaining": int(headers["x-ratelimit-remaining"]),
        "used": int(headers["x-ratelimit-used"]),
        "reset": int(headers["x-ratelimit-reset"]),
    }
    response = responses.answer(
        call.request,
        {"resources": {"core": core}, "rate": core},
        identity=call.identity,
        limit=limit,
        limits=call.state.limits,
        count=False,
    )
    response.headers.update(headers)
    return response


_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/user", get_user),
    ("/user/emails", get_user_emails),
    ("/user/orgs", get_user_orgs),
    ("/user/teams", get_user_teams),
    ("/user/memberships/orgs/{org}", get_user_membership),
    ("/users/{login}", get_a_user),
    ("/users/{login}/keys", get_user_keys),
    ("/orgs/{org}", get_org),
    ("/orgs/{org}/members", get_org_members),
    ("/orgs/{org}/memberships/{username}", get_org_membership),
    ("/orgs/{org}/teams", get_org_teams),
    ("/orgs/{org}/teams/{team}", get_team),
    ("/orgs/{org}/teams/{team}/members", get_team_members),
    ("/orgs/{org}/teams/{team}/memberships/{username}", get_team_membership),
    ("/rate_limit", get_rate_limit),
)


def routes() -> list[BaseRoute]:
    """The REST routes, relative to the API base (``/`` or ``/api/v3``)."""
    return [Route(path, _endpoint(handler), methods=["GET"]) for path, handler in _ROUTES]
