"""The few Kubernetes API calls the controller makes itself (kopf makes all the others).

kopf watches, patches what handlers put into ``patch``, and posts events. The controller
itself only needs to: list objects (the orphan sweep at start), create namespaces (for
Organizations) and write a status early (a new Workspace shows ``Provisioning`` while its
container is made). This is a small ``aiohttp`` client for exactly that, over the same
credentials as kopf (:mod:`controller.login`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from api import meta
from controller import login


class ApiError(RuntimeError):
    """The API server answered with an error status; ``status`` is the HTTP code."""

    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        self.status = status
        detail = text
        try:
            body = json.loads(text)
            if isinstance(body, dict) and body.get("message"):
                detail = str(body["message"])
        except ValueError:
            pass
        super().__init__(f"{method} {path}: {status} {detail[:500]}")


def custom_path(kind: type[meta.Resource], *, namespace: str | None = None, name: str = "") -> str:
    """The URL path of a WWS kind's collection (``namespace=None``: all namespaces), or of
    one object with ``name``."""
    info = kind.RESOURCE
    path = f"/apis/{meta.GROUP}/{meta.VERSION}"
    if info.namespaced and namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{info.plural}"
    return f"{path}/{name}" if name else path


class KubeApi:
    """A connection to the API server. ``credentials`` is called again after a 401, so
    credentials that expire (exec plugins, projected tokens) are reloaded."""

    def __init__(self, credentials: Callable[[], login.Credentials]) -> None:
        self._load = credentials
        self._credentials = credentials()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._credentials.ssl_context(), limit=16)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=60)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call; the decoded JSON answer. Raises :class:`ApiError` on an error status."""
        for attempt in (1, 2):
            session = self._open()
            headers = {"Accept": "application/json", **self._credentials.headers()}
            data = None
            if body is not None:
                headers["Content-Type"] = content_type
                data = json.dumps(body)
            async with session.request(
                method,
                self._credentials.server + path,
                data=data,
                headers=headers,
                params=dict(params or {}),
            ) as response:
                text = await response.text()
                if response.status == 401 and attempt == 1:
                    self._credentials = self._load()
                    await self.close()
                    continue
                if response.status >= 400:
                    raise ApiError(method, path, response.status, text)
                return dict(json.loads(text)) if text else {}
        raise AssertionError("unreachable")

    async def list(self, path: str) -> list[dict[str, Any]]:
        """Every object of a collection."""
        answer = await self.request("GET", path)
        return list(answer.get("items") or [])

    async def ensure_namespace(self, name: str, *, labels: Mapping[str, str]) -> bool:
        """Create the namespace ``name`` unless it exists; True when it was created."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels)},
        }
        try:
            await self.request("POST", "/api/v1/namespaces", body=body)
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def namespace_exists(self, name: str) -> bool:
        try:
            await self.request("GET", f"/api/v1/namespaces/{name}")
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def patch_status(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the ``/status`` subresource of the object at ``path``."""
        return await self.request(
            "PATCH",
            f"{path}/status",
            body={"status": dict(patch)},
            content_type="application/merge-patch+json",
        )
