"""Calls to Podman's REST API: one ``podman`` client per worker thread, errors as
:class:`~providers.base.ProviderError`, and per-object locks between threads.

The ``podman`` client is synchronous and its ``requests`` session is not shared across
threads, so every thread that calls gets a client of its own (:meth:`PodmanApi.api`).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from podman import PodmanClient
from podman.api.client import APIClient, APIResponse

from providers import base
from providers.podman import naming, service

_JSON = {"Content-Type": "application/json"}


def api_json(value: Any) -> str:
    """``value`` as the compact JSON Podman's query parameters (``filters``) take."""
    return json.dumps(value, separators=(",", ":"))


def _error_text(response: APIResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text).strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("cause") or body)
    return str(body)


class CallFailed(base.ProviderError):
    """A Podman API call answered with an unexpected status (a :class:`ProviderError`, so
    callers that do not expect a particular status need no handling of their own)."""

    def __init__(self, method: str, path: str, response: APIResponse) -> None:
        self.status = response.status_code
        self.text = _error_text(response)
        super().__init__(f"{method.upper()} {path}: {self.status} {self.text}")

    @property
    def conflict(self) -> bool:
        """The object exists already (409, or Podman 4's 500 "... already exists/in use")."""
        text = self.text.lower()
        return self.status == 409 or ("already" in text and ("exist" in text or "in use" in text))

    def provider_error(self, action: str) -> base.ProviderError:
        return base.ProviderError(f"podman: {action}: {self.text}")


class PodmanApi:
    """The API service at ``socket_path``. ``service_running``: the provider opened (or
    found) the service, so a call need not ping it first."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.service_running = False
        self._local = threading.local()
        self._clients: list[PodmanClient] = []
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def close(self) -> None:
        """Close every thread's client (the next call opens a new one)."""
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        self._local = threading.local()

    def api(self) -> APIClient:
        """This thread's API client (``requests`` sessions are not shared across threads)."""
        client: PodmanClient | None = getattr(self._local, "client", None)
        if client is None:
            if not self.service_running and not service.ping(self.socket_path):
                raise base.ProviderUnavailable(
                    f"no Podman API service answers on {self.socket_path}"
                )
            client = PodmanClient(base_url=f"unix://{self.socket_path}", timeout=120)
            self._local.client = client
            self._clients.append(client)
        return client.api

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ok: Collection[int] = (200, 201, 204, 304),
        missing_ok: bool = False,
    ) -> APIResponse | None:
        """One API call. ``None`` for a 404 when ``missing_ok``; other errors raise."""
        api = self.api()
        kwargs: dict[str, Any] = {"params": dict(params or {})}
        if body is not None:
            kwargs["data"] = api_json(body)
            kwargs["headers"] = _JSON
        try:
            response: APIResponse = getattr(api, method)(path, **kwargs)
        except OSError as error:  # includes the client's APIError for connection failures
            raise base.ProviderUnavailable(f"Podman API at {self.socket_path}: {error}") from error
        if response.status_code in ok:
            return response
        if response.status_code == 404 and missing_ok:
            return None
        raise CallFailed(method, path, response)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """One thread at a time for ``key`` (``workspace/<uid>``, ``network/<org>``)."""
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def inspect(self, uid: str) -> dict[str, Any] | None:
        """The workspace's container as ``podman inspect`` shows it; ``None``: absent."""
        response = self.call(
            "get", f"/containers/{naming.container_name(uid)}/json", missing_ok=True
        )
        return None if response is None else dict(response.json())

    def exists(self, kind: str, name: str) -> bool:
        """Whether the image, volume, ... ``name`` exists (``kind``: the API's plural)."""
        return self.call("get", f"/{kind}/{name}/exists", missing_ok=True) is not None
