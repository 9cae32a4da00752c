"""Reading organization and team members from GitHub's REST API (or GitHub Enterprise
Server, or the stand-in): paged lists with conditional requests.

Each page's ``ETag`` is remembered with its items and its ``next`` link; the next read sends
``If-None-Match`` and a 304 (which GitHub does not count against the rate limit) reuses
them, so an unchanged large organization costs nothing. Failures are classified for the
``GitHubSynced`` condition: Unreachable, RateLimited, Unauthorized, NotFound, Failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp

USER_AGENT = "wws-controller"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(RuntimeError):
    """A read that failed; ``reason`` is the condition reason (one CamelCase word)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass
class _Page:
    etag: str
    items: list[Any]
    next_url: str | None


class GitHubClient:
    """A small GitHub REST client that remembers ETags (one per controller)."""

    def __init__(
        self, *, timeout: float = 15.0, count: Callable[[str], None] | None = None
    ) -> None:
        self._pages: dict[tuple[str, str], _Page] = {}
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        """Requests sent (for metrics and tests)."""
        self.not_modified = 0
        """Of those, answered 304 Not Modified."""
        self._count = count or (lambda result: None)
        """Called with each request's result: ok, not_modified or a failure's reason."""

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _page(self, url: str, token: str) -> _Page:
        # NB: the cache is per token too: another token may see other (private) members.
        cache_key = (url, token[-8:])
        cached = self._pages.get(cache_key)
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "User-Agent": USER_AGENT,
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        self.requests += 1
        try:
            async with self._open().get(url, headers=headers) as response:
                if response.status == 304 and cached is not None:
                    self.not_modified += 1
                    self._count("not_modified")
                    return cached
                text = await response.text()
                try:
                    _raise_for(response, text)
                except GitHubError as error:
                    self._count(error.reason)
                    raise
                self._count("ok")
                items = await response.json(content_type=None)
                match = _NEXT.search(response.headers.get("Link", ""))
                page = _Page(
                    etag=response.headers.get("ETag", ""),
                    items=list(items) if isinstance(items, list) else [],
                    next_url=match.group(1) if match else None,
                )
        except (aiohttp.ClientError, TimeoutError) as error:
            self._count("Unreachable")
            detail = str(error) or type(error).__name__
            raise GitHubError("Unreachable", f"cannot reach {url}: {detail}") from error
        if page.etag:
            self._pages[cache_key] = page
        return page

    async def logins(self, url: str, token: str) -> list[str]:
        """The ``login`` of every item of the paged list at ``url``."""
        logins: list[str] = []
        next_url: str | None = url + ("&" if "?" in url else "?") + "per_page=100"
        seen: set[str] = set()
        while next_url is not None and next_url not in seen:
            seen.add(next_url)
            page = await self._page(next_url, token)
            logins.extend(str(item["login"]) for item in page.items if "login" in item)
            next_url = page.next_url
        return logins

    async def organization_members(self, api_url: str, org: str, token: str) -> list[str]:
        return await self.logins(f"{api_url.rstrip('/')}/orgs/{org}/members", token)

    async def team_members(self, api_url: str, team: str, token: str) -> list[str]:
        """Members of ``team`` given as ORG/TEAM-SLUG."""
        org, _, slug = team.partition("/")
        return await self.logins(f"{api_url.rstrip('/')}/orgs/{org}/teams/{slug}/members", token)


def _raise_for(response: aiohttp.ClientResponse, text: str) -> None:
    if response.status < 400:
        return
    message = text[:200]
    with contextlib.suppress(ValueError, AttributeError):
        message = str(json.loads(text).get("message", message))
    where = response.url.path
    if response.status == 429 or (
        response.status == 403 and response.headers.get("x-ratelimit-remaining") == "0"
    ):
        reset = response.headers.get("x-ratelimit-reset", "")
        raise GitHubError("RateLimited", f"GitHub's rate limit is used up (resets at {reset})")
    if response.status == 401:
        raise GitHubError("Unauthorized", f"GitHub refused the token: {message}")
    if response.status in (403, 404):
        raise GitHubError("NotFound", f"{where}: not found or not visible to the token ({message})")
    if response.status >= 500:
        raise GitHubError("Unreachable", f"{where}: GitHub answered {response.status} {message}")
    raise GitHubError("Failed", f"{where}: GitHub answered {response.status} {message}")
