"""The web UI's client of the Kubernetes API, and the person each call is made as.

The UI has an identity of its own (``wws:webui``, from ``--kubeconfig``). It reads and
writes resources *as the signed-in person*: every call carries ``Impersonate-User:
github:<login>`` and the person's verified e-mails as ``Impersonate-Extra-wws.dev%2Femails``
(see docs/webui.md), so RBAC, admission policies and the audit log see the person, never
the UI. The only calls made as the UI itself are the one watch that feeds live status and
the access reviews that ask what a person may do.

Credentials are loaded with the official ``kubernetes`` client's config loader, so any
kubeconfig works (the embedded store's, a cluster's, in-cluster service accounts).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from api import meta
from wws import logconfig

log = logconfig.get(__name__)

EMAILS_EXTRA = "wws.dev/emails"
"""The ``user.extra`` key that carries a person's verified e-mail addresses."""
USER_PREFIX = "github:"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Person:
    """Someone signed in to the UI."""

    login: str
    """The GitHub login, lower case (or the bootstrap administrator's name)."""
    emails: tuple[str, ...] = ()
    """Verified e-mail addresses from GitHub."""
    bootstrap: bool = False
    """The bootstrap administrator: calls use the admin credentials, not impersonation."""

    @property
    def username(self) -> str:
        """The Kubernetes username: ``github:<login>``."""
        return f"{USER_PREFIX}{self.login}"

    def impersonation(self) -> list[tuple[str, str]]:
        """The headers that make a call the person's own."""
        headers = [("Impersonate-User", self.username)]
        headers += [(f"Impersonate-Extra-{quote(EMAILS_EXTRA, safe='')}", e) for e in self.emails]
        return headers


class ApiError(RuntimeError):
    """The API answered with an error; ``status`` the HTTP code, ``body`` its ``Status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(str(body.get("message") or f"HTTP {status}"))

    @property
    def reason(self) -> str:
        return str(self.body.get("reason") or "")

    def causes(self) -> list[dict[str, str]]:
        """The field errors of a 422 (``details.causes``: field, message)."""
        details = self.body.get("details") or {}
        return [dict(c) for c in details.get("causes") or [] if isinstance(c, dict)]


@dataclasses.dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate_path:
            context.load_cert_chain(self.certificate_path, self.private_key_path)
        return context


def load_credentials(kubeconfig: Path | None) -> Credentials:
    """Credentials from ``kubeconfig``, else in-cluster, else ``$KUBECONFIG``."""
    import kubernetes.client
    import kubernetes.config

    configuration = kubernetes.client.Configuration()
    if kubeconfig is not None:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
    else:
        try:
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    token = header.split(" ", 1)[-1] if header else None
    return Credentials(
        server=str(configuration.host).rstrip("/"),
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        token=token,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
    )


def path(
    plural: str, *, namespace: str | None = None, name: str = "", group: str = meta.GROUP
) -> str:
    """The URL path of a collection or object (``group=""``: the core API)."""
    base = (
        "/api/v1"
        if group == ""
        else f"/apis/{group}/{meta.VERSION if group == meta.GROUP else 'v1'}"
    )
    if namespace is not None:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    return f"{base}/{name}" if name else base


class Kube:
    """One connection pool to the API server, shared by every person's calls."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(), limit=64)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        headers = [("Accept", "application/json")]
        if self.credentials.token:
            headers.append(("Authorization", f"Bearer {self.credentials.token}"))
        return headers + extra

    async def request(
        self,
        method: str,
        url_path: str,
        *,
        person: Person | None,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call as ``person`` (None: as the UI itself); the decoded answer.

        Raises :class:`ApiError` with the API's ``Status`` on an error code.
        """
        headers = self._headers(person.impersonation() if person is not None else [])
        data = None
        if body is not None:
            headers.append(("Content-Type", content_type))
            data = body if isinstance(body, str | bytes) else json.dumps(body)
        async with self._open().request(
            method,
            self.credentials.server + url_path,
            data=data,
            headers=headers,
            params=dict(params or {}),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            text = await response.text()
            try:
                answer = json.loads(text) if text else {}
            except ValueError:
                answer = {"message": text[:300]}
            if response.status >= 400:
                if not isinstance(answer, dict):
                    answer = {"message": str(answer)[:300]}
                raise ApiError(response.status, answer)
            return dict(answer) if isinstance(answer, dict) else {}

    async def watch(
        self, url_path: str, *, resource_version: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch as the UI itself; ends when the server ends it."""
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
        if resource_version:
            params["resourceVersion"] = resource_version
        async with self._open().get(
            self.credentials.server + url_path,
            headers=self._headers([]),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
        ) as response:
            if response.status >= 400:
                raise ApiError(response.status, {"message": (await response.text())[:300]})
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
