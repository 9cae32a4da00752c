"""A small raw-HTTP client for the store: exact status codes, headers and bodies, no magic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.storeproc import StoreProcess

GROUP = "test.wws.dev"
VERSION = "v1"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def widgets(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    """The URL path of the test CRD's Widgets (see tests/store/crds/widgets.yaml)."""
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/widgets"
    if name is not None:
        path += f"/{name}"
    if sub is not None:
        path += f"/{sub}"
    return path


def widget(name: str, size: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


class Api:
    """HTTPS + bearer token, as every client of the store talks to it."""

    def __init__(self, store: StoreProcess, *, token: str | None = None) -> None:
        self.store = store
        headers = {"Authorization": f"Bearer {token or store.token}"}
        self.client = httpx.Client(
            base_url=store.url, verify=store.ssl_context(), headers=headers, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=obj)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def patch(
        self, path: str, body: Any, content_type: str = MERGE, **kwargs: Any
    ) -> httpx.Response:
        return self.client.patch(
            path, content=json.dumps(body), headers={"Content-Type": content_type}, **kwargs
        )

    def patch_ok(self, path: str, body: Any, content_type: str = MERGE) -> dict[str, Any]:
        response = self.patch(path, body, content_type)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, **kwargs)

    def namespace(self, name: str) -> str:
        self.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        return name

    def revision(self) -> int:
        """The store's global resourceVersion (every list carries it)."""
        return int(self.get_json("/api/v1/namespaces")["metadata"]["resourceVersion"])

    @contextmanager
    def watch(self, path: str, params: dict[str, str], timeout: float = 30) -> Iterator[WatchLines]:
        """A streaming watch; the response status is checked by the caller."""
        with self.client.stream(
            "GET",
            path,
            params={"watch": "true", **params},
            timeout=httpx.Timeout(timeout, read=timeout),
        ) as response:
            yield WatchLines(response)


class WatchLines:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> dict[str, Any] | None:
        """The next event, or ``None`` once the server has closed the stream."""
        for line in self._lines:
            if line.strip():
                return json.loads(line)  # type: ignore[no-any-return]
        return None

    def rest(self) -> list[dict[str, Any]]:
        events = []
        while (event := self.next()) is not None:
            events.append(event)
        return events


def assert_status(
    response: httpx.Response, code: int, reason: str, field: str | None = None
) -> dict[str, Any]:
    """The response is a ``kind: Status`` failure with this code and reason (and cause field)."""
    assert response.status_code == code, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    status = response.json()
    assert status["kind"] == "Status", status
    assert status["apiVersion"] == "v1", status
    assert status["status"] == "Failure", status
    assert status["code"] == code, status
    assert status["reason"] == reason, status
    assert status["message"], status
    if field is not None:
        fields = [cause["field"] for cause in status.get("details", {}).get("causes", [])]
        assert field in fields, status
    return status  # type: ignore[no-any-return]
