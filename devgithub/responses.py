"""What every REST answer of the stand-in carries, as GitHub's do: pagination ``Link``
headers, ``x-ratelimit-*`` headers and an ``ETag`` honoured by ``If-None-Match``.

GitHub's rules kept here: ``per_page`` defaults to 30 and is at most 100, ``page`` starts at
1; a conditional request answered with 304 does not count against the rate limit; once the
limit is used up, requests are refused with 403 and ``x-ratelimit-remaining: 0`` until the
window (one hour) resets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
WINDOW_SECONDS = 3600


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """GitHub's error body: ``message`` and ``documentation_url``."""
    return JSONResponse(
        {"message": message, "documentation_url": "https://docs.github.com/rest"},
        status_code=status,
        headers=headers,
    )


@dataclasses.dataclass
class _Window:
    reset: int
    used: int = 0


class RateLimits:
    """Per-identity request counters over fixed one-hour windows."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self.exhausted: set[str] = set()
        """Identities (``*``: everyone) whose limit an admin declared used up."""

    def _window(self, identity: str, now: float) -> _Window:
        window = self._windows.get(identity)
        if window is None or now >= window.reset:
            window = _Window(reset=int(now) + WINDOW_SECONDS)
            self._windows[identity] = window
        return window

    def headers(self, identity: str, limit: int, *, count: bool) -> tuple[bool, dict[str, str]]:
        """Whether the request may go ahead, and the headers that say how much is left."""
        with self._lock:
            window = self._window(identity, time.time())
            spent = self.is_exhausted(identity)
            allowed = not spent and window.used < limit
            if allowed and count:
                window.used += 1
            remaining = 0 if spent else max(limit - window.used, 0)
            return allowed, {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(limit - remaining),
                "x-ratelimit-reset": str(window.reset),
                "x-ratelimit-resource": "core",
            }

    def is_exhausted(self, identity: str) -> bool:
        return identity in self.exhausted or "*" in self.exhausted

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.exhausted.clear()


def etag_of(body: bytes) -> str:
    # NB: GitHub's ETags for lists are weak; clients send them back verbatim.
    return f'W/"{hashlib.sha256(body).hexdigest()[:40]}"'


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False
    tags = {tag.strip() for tag in wanted.split(",")}
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


def _page_url(request: Request, page: int, per_page: int) -> str:
    query = dict(request.query_params)
    query.update(page=str(page), per_page=str(per_page))
    return str(request.url.replace(query=urlencode(query)))


def _paging(request: Request) -> tuple[int, int] | Response:
    try:
        per_page = int(request.query_params.get("per_page", DEFAULT_PER_PAGE))
        page = int(request.query_params.get("page", 1))
    except ValueError:
        return error(422, "page and per_page must be whole numbers")
    return max(page, 1), min(max(per_page, 1), MAX_PER_PAGE)


def answer(
    request: Request,
    payload: Any,
    *,
    identity: str,
    limit: int,
    limits: RateLimits,
    paginate: bool = False,
    count: bool = True,
    status: int = 200,
) -> Response:
    """The JSON answer to ``request``: one page of ``payload`` when ``paginate``, with ETag,
    rate-limit and ``Link`` headers; 304 when the client's ``If-None-Match`` still holds."""
    headers: dict[str, str] = {}
    if paginate:
        assert isinstance(payload, list)
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        page, per_page = paging
        last = max(math.ceil(len(payload) / per_page), 1)
        links = []
        if page < last:
            links.append(f'<{_page_url(request, page + 1, per_page)}>; rel="next"')
            links.append(f'<{_page_url(request, last, per_page)}>; rel="last"')
        if page > 1:
            links.append(f'<{_page_url(request, 1, per_page)}>; rel="first"')
            links.append(f'<{_page_url(request, min(page - 1, last), per_page)}>; rel="prev"')
        if links:
            headers["link"] = ", ".join(links)
        payload = payload[(page - 1) * per_page : page * per_page]
    body = json.dumps(payload, separators=(",", ":")).encode()
    etag = etag_of(body)
    fresh = _not_modified(request, etag)
    allowed, rate_headers = limits.headers(identity, limit, count=count and not fresh)
    headers.update(rate_headers)
    spent = rate_headers["x-ratelimit-remaining"] == "0" and limits.is_exhausted(identity)
    # NB: a limit used up by an admin refuses even conditional requests, so tests can see
    # a client keep its last known answer.
    if (not allowed and count and not fresh) or spent:
        return error(403, f"API rate limit exceeded for {identity}.", headers)
    headers["etag"] = etag
    headers["cache-control"] = "private, max-age=60, s-maxage=60"
    headers["vary"] = "Accept, Authorization, Cookie"
    if fresh:
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type="application/json", headers=headers)
