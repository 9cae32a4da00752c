"""Sessions: the only state the web UI keeps, in memory, so a restart signs everyone out.

The cookie holds nothing but a random session id (256 bits): a tampered or forged cookie
names no session. Each session has an idle and an absolute limit, its own CSRF token, and
the OAuth ``state`` while a sign-in is under way. "Sign out everywhere" ends every session of
a login in this process.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import time
from typing import Any

from webui.kube import Person

COOKIE = "wws_session"


@dataclasses.dataclass(kw_only=True)
class Session:
    id: str
    created: float
    last_seen: float
    csrf: str
    person: Person | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Scratch space of a sign-in in progress (authlib keeps the OAuth state here)."""

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf)


class Sessions:
    """Every live session of this process."""

    def __init__(self, *, idle_seconds: float, max_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self._by_id: dict[str, Session] = {}

    def new(self) -> Session:
        now = time.time()
        session = Session(
            id=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            csrf=secrets.token_urlsafe(32),
        )
        self._by_id[session.id] = session
        if len(self._by_id) % 256 == 0:
            self.sweep()
        return session

    def get(self, session_id: str | None, *, touch: bool = True) -> Session | None:
        """The live session of that id; None when unknown or expired (and then it ends)."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = time.time()
        if self.expired(session, now):
            self.end(session.id)
            return None
        if touch:
            session.last_seen = now
        return session

    def expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen > self.idle_seconds or now - session.created > self.max_seconds
        )

    def sign_in(self, session: Session, person: Person) -> Session:
        """A new session for ``person`` in place of ``session`` (new id: no fixation)."""
        self.end(session.id)
        fresh = self.new()
        fresh.person = person
        return fresh

    def end(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def end_all(self, login: str) -> int:
        """End every session of ``login``; how many ended."""
        ids = [s.id for s in self._by_id.values() if s.person and s.person.login == login]
        for session_id in ids:
            self.end(session_id)
        return len(ids)

    def sweep(self) -> None:
        now = time.time()
        for session in list(self._by_id.values()):
            if self.expired(session, now):
                self.end(session.id)

    def __len__(self) -> int:
        return len(self._by_id)
