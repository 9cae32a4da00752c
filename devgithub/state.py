"""What the stand-in keeps while it runs: the directory, OAuth grants, rate-limit counters."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time

from devgithub import responses
from devgithub.directory import Directory, DirectoryFile, User

CODE_SECONDS = 600
"""How long an authorization code may be exchanged (GitHub: 10 minutes)."""

PAT_SCOPES = "read:org, user:email, read:user"


@dataclasses.dataclass(frozen=True)
class Grant:
    """An authorization code waiting to be exchanged."""

    login: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires: float


@dataclasses.dataclass(frozen=True)
class AccessToken:
    login: str
    scope: str


@dataclasses.dataclass
class Request:
    """One served request, for tests that check how a client talks to GitHub."""

    method: str
    path: str
    status: int
    conditional: bool


@dataclasses.dataclass
class State:
    files: DirectoryFile
    admin_token: str | None = None
    """Bearer token of the ``/_devgithub`` admin endpoints; ``None``: they are off."""
    auto_approve: str | None = None
    """Sign in as this login without the page (``--auto-approve``; wins over the file's)."""
    limits: responses.RateLimits = dataclasses.field(default_factory=responses.RateLimits)
    down: int | None = None
    """When set, every REST request is answered with this HTTP status (an outage)."""
    log: list[Request] = dataclasses.field(default_factory=list)
    _codes: dict[str, Grant] = dataclasses.field(default_factory=dict)
    _tokens: dict[str, AccessToken] = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def directory(self) -> Directory:
        return self.files.current

    def issue_code(self, grant: Grant) -> str:
        code = secrets.token_hex(10)
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str) -> Grant | None:
        """The grant of ``code``, once: a code is single-use, as on GitHub."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or grant.expires < time.time():
            return None
        return grant

    def issue_token(self, *, login: str, scope: str) -> str:
        token = "gho_" + secrets.token_urlsafe(27)
        with self._lock:
            self._tokens[token] = AccessToken(login=login, scope=scope)
        return token

    def authenticate(self, token: str) -> tuple[User, str] | None:
        """The user a token stands for and its scopes (OAuth tokens and personal tokens)."""
        current = self.directory
        issued = self._tokens.get(token)
        if issued is not None:
            user = current.user(issued.login)
            return (user, issued.scope) if user is not None else None
        user = current.user_by_token(token)
        return (user, PAT_SCOPES) if user is not None else None
