"""The people, organizations and teams the stand-in serves, as read from its YAML file.

The file (see ``docs/dev-github.md``)::

    users:
      - login: alice
        name: Alice Liddell
        emails: [alice@example.com, {email: old@example.com, verified: false}]
        keys: ["ssh-ed25519 AAAA... alice@laptop"]
        tokens: [ghp_alice]          # personal access tokens accepted as alice
    orgs:
      - login: acme
        members: [{login: alice, role: admin}, bob]
        teams:
          - slug: platform
            members: [{login: bob, role: maintainer}, carol]
    oauth:
      clients: [{clientId: wws, clientSecret: s3cret}]   # none: any client is accepted
      autoApprove: alice             # sign in as alice without showing the page
    rateLimit: 5000                  # requests per hour and token

The file is read again whenever it changes on disk, so a test (or a person) edits the file
and the next request sees the new membership.
"""

from __future__ import annotations

import enum
import zlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

_LOGIN_PATTERN = r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _member_shorthand(value: Any) -> Any:
    """``bob`` is short for ``{login: bob}``."""
    return {"login": value} if isinstance(value, str) else value


class Email(_Model):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    verified: bool = True
    primary: bool = False
    visibility: str | None = "public"


class User(_Model):
    login: str = Field(pattern=_LOGIN_PATTERN, max_length=39)
    name: str | None = None
    emails: list[Email] = Field(default_factory=list)
    keys: list[str] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    """Personal access tokens that authenticate as this user (never shown by the API)."""
    site_admin: bool = False

    @field_validator("emails", mode="before")
    @classmethod
    def _email_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"email": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _one_primary(self) -> User:
        if self.emails and not any(email.primary for email in self.emails):
            self.emails[0].primary = True
        return self

    @property
    def id(self) -> int:
        return stable_id("user", self.login)

    @property
    def primary_email(self) -> str | None:
        return next((e.email for e in self.emails if e.primary and e.verified), None)


class OrgRole(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class TeamRole(enum.StrEnum):
    MAINTAINER = "maintainer"
    MEMBER = "member"


class OrgMember(_Model):
    login: str = Field(pattern=_LOGIN_PATTERN, max_length=39)
    role: OrgRole = OrgRole.MEMBER
    public: bool = True
    """Public members are listed to people outside the organization too."""
    state: str = Field(default="active", pattern="^(active|pending)$")


class TeamMember(_Model):
    login: str = Field(pattern=_LOGIN_PATTERN, max_length=39)
    role: TeamRole = TeamRole.MEMBER


class Team(_Model):
    slug: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    name: str | None = None
    description: str | None = None
    members: list[TeamMember] = Field(default_factory=list)

    @field_validator("members", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return [_member_shorthand(item) for item in value] if isinstance(value, list) else value


class Org(_Model):
    login: str = Field(pattern=_LOGIN_PATTERN, max_length=39)
    name: str | None = None
    members: list[OrgMember] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)

    @field_validator("members", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return [_member_shorthand(item) for item in value] if isinstance(value, list) else value

    @property
    def id(self) -> int:
        return stable_id("org", self.login)

    def member(self, login: str) -> OrgMember | None:
        return next((m for m in self.members if m.login.lower() == login.lower()), None)

    def team(self, slug: str) -> Team | None:
        return next((t for t in self.teams if t.slug.lower() == slug.lower()), None)


class OAuthClient(_Model):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    redirect_uris: list[str] = Field(default_factory=list)
    """Allowed ``redirect_uri`` prefixes; none: any."""


class OAuth(_Model):
    clients: list[OAuthClient] = Field(default_factory=list)
    """The OAuth apps allowed to sign people in; none: any client id and secret."""
    auto_approve: str | None = None
    """Sign in as this login without showing the page (unattended tests, demos)."""


class Directory(_Model):
    users: list[User] = Field(default_factory=list)
    orgs: list[Org] = Field(default_factory=list)
    oauth: OAuth = Field(default_factory=OAuth)
    rate_limit: int = Field(default=5000, ge=0)
    """Requests per hour and token (GitHub's default for a person)."""

    @model_validator(mode="after")
    def _references(self) -> Directory:
        logins = {user.login.lower() for user in self.users}
        for org in self.orgs:
            for member in org.members:
                if member.login.lower() not in logins:
                    raise ValueError(f"org {org.login}: member {member.login} is not a user")
            for team in org.teams:
                for team_member in team.members:
                    if team_member.login.lower() not in logins:
                        raise ValueError(
                            f"team {org.login}/{team.slug}: member {team_member.login}"
                            " is not a user"
                        )
        return self

    def user(self, login: str) -> User | None:
        return next((u for u in self.users if u.login.lower() == login.lower()), None)

    def org(self, login: str) -> Org | None:
        return next((o for o in self.orgs if o.login.lower() == login.lower()), None)

    def user_by_token(self, token: str) -> User | None:
        return next((u for u in self.users if token in u.tokens), None)

    def orgs_of(self, login: str) -> list[Org]:
        return [o for o in self.orgs if (m := o.member(login)) and m.state == "active"]


def stable_id(kind: str, login: str) -> int:
    """A numeric id that stays the same across reloads (GitHub's ids never change)."""
    return zlib.crc32(f"{kind}:{login.lower()}".encode()) % 100_000_000 + 1


def parse(data: Any) -> Directory:
    """The directory of a parsed YAML document (``ValueError`` with a one-line reason)."""
    try:
        return Directory.model_validate(data or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


class DirectoryFile:
    """A directory read from ``path``, read again when the file changes on disk."""

    def __init__(self, path: Path | None, *, initial: Directory | None = None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._directory = initial or Directory()
        if path is not None:
            self.reload()

    def reload(self) -> Directory:
        """Read the file now (``ValueError`` when it is invalid: the old content stays)."""
        assert self.path is not None
        stat = self.path.stat()
        directory = parse(yaml.safe_load(self.path.read_text()))
        self._directory, self._stamp = directory, (stat.st_mtime_ns, stat.st_size)
        return directory

    def replace(self, directory: Directory) -> None:
        """Serve ``directory`` (an admin change); the file is read again only when it changes."""
        self._directory = directory

    @property
    def current(self) -> Directory:
        if self.path is not None:
            try:
                stat = self.path.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                    self.reload()
            except (OSError, ValueError, yaml.YAMLError):
                # NB: a half-written or broken file keeps the last good content in force.
                pass
        return self._directory
