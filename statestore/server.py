"""``wws store serve``: bind, write the kubeconfig, apply CRDs, serve until stopped."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
import yaml

from statestore import (
    connections,
    encryption,
    filemodes,
    identities,
    inflight,
    resources,
    security,
    tls,
)
from statestore.access import AccessControl
from statestore.app import ApiServer
from statestore.audit import log as audit_log
from statestore.audit import policy as audit_policy
from statestore.authn import config as authn_config
from statestore.authn import oidc, tokenfile
from statestore.authn import reload as authn_reload
from statestore.authn.authenticator import Authenticator
from statestore.errors import StatusError
from statestore.limits import Limits
from statestore.store import Store
from wws import logconfig

log = logconfig.get(__name__)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    url: str


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"wws store serve: --listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def load_crd_files(folder: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML files of ``folder`` (sorted by name)."""
    if not folder.is_dir():
        raise SystemExit(f"wws store serve: --crds {folder} is not a folder")
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                found.append(document)
    return found


async def apply_crds(store: Store, crds: list[dict[str, Any]]) -> None:
    """Create each CRD, or replace its spec when it changed (like ``kubectl apply``)."""
    info = resources.CRDS
    for crd in crds:
        name = crd["metadata"]["name"]
        current = store.get_entry(info, None, name)
        try:
            if current is None:
                await store.create(info, "v1", None, crd)
                log.info("store.crd_applied", name=name, action="created")
            else:
                body = dict(current.obj)
                body["spec"] = crd["spec"]
                # The store compares after defaulting: an unchanged CRD is not written again.
                result = await store.update(info, "v1", None, name, body)
                if result.obj is not current.obj:
                    log.info("store.crd_applied", name=name, action="updated")
        except StatusError as error:
            raise SystemExit(f"wws store serve: CRD {name} is invalid: {error}") from error


#: Kinds ``--manifests`` may hold (access-control objects the store serves itself).
MANIFEST_KINDS = {
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): resources.CLUSTERROLES,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): resources.CLUSTERROLEBINDINGS,
    ("rbac.authorization.k8s.io/v1", "Role"): resources.ROLES,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): resources.ROLEBINDINGS,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): resources.VALIDATING_POLICIES,
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
    ): resources.VALIDATING_POLICY_BINDINGS,
}


def load_manifests(folder: Path) -> list[dict[str, Any]]:
    """The RBAC objects and admission policies in the YAML files of ``folder``."""
    if not folder.is_dir():
        raise SystemExit(f"wws store serve: --manifests {folder} is not a folder")
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict):
                continue
            if (document.get("apiVersion"), document.get("kind")) not in MANIFEST_KINDS:
                raise SystemExit(
                    f"wws store serve: {path}: {document.get('apiVersion')}/"
                    f"{document.get('kind')} is not a kind --manifests applies"
                )
            found.append(document)
    return found


async def apply_manifests(store: Store, documents: list[dict[str, Any]]) -> None:
    """Create each object, or replace it when it differs (like ``kubectl apply``)."""
    for document in documents:
        info = MANIFEST_KINDS[(document["apiVersion"], document["kind"])]
        metadata = document.get("metadata") or {}
        name, namespace = metadata.get("name", ""), metadata.get("namespace")
        current = store.get_entry(info, namespace, name)
        try:
            if current is None:
                await store.create(info, "v1", namespace, document)
            else:
                body = {**document, "metadata": {**current.obj["metadata"], **metadata}}
                await store.update(info, "v1", namespace, name, body)
        except StatusError as error:
            raise SystemExit(
                f"wws store serve: {document['kind']} {name} is invalid: {error}"
            ) from error


def _authenticator(
    data_dir: Path, token_auth_file: Path | None, authentication_config: Path | None
) -> tuple[Authenticator, dict[str, str]]:
    """The authenticator, and the token of each WWS identity found in the token file."""
    if token_auth_file is None:
        # No file given: the store keeps its own, with WWS's identities (the admin keeps
        # the token of stores made before the file existed).
        token_auth_file = data_dir / identities.TOKEN_FILE
        identities.ensure_token_file(
            token_auth_file, admin_token=security.load_or_create_token(data_dir)
        )
    try:
        tokens = tokenfile.load(token_auth_file)
    except tokenfile.TokenFileError as error:
        raise SystemExit(f"wws store serve: --token-auth-file: {error}") from error
    issuers: list[oidc.Issuer] = []
    if authentication_config is not None:
        try:
            issuers = [oidc.Issuer(c) for c in authn_config.load(authentication_config)]
        except authn_config.ConfigError as error:
            raise SystemExit(f"wws store serve: --authentication-config: {error}") from error
    return Authenticator(tokens=tokens, issuers=issuers), identities.tokens_by_user(tokens)


@dataclass(frozen=True)
class AuditOptions:
    """kube-apiserver's ``--audit-log-*`` and ``--audit-policy-file`` flags."""

    log_path: Path | None = None
    policy_file: Path | None = None
    max_size_mb: int = 100
    max_backups: int = 0
    max_age_days: int = 0


def _auditor(options: AuditOptions | None) -> audit_log.Auditor | None:
    if options is None or options.log_path is None:
        return None
    if options.policy_file is None:
        # As kube-apiserver: no policy, no events.
        log.warning("store.audit_disabled", reason="--audit-log-path without --audit-policy-file")
        return None
    try:
        policy = audit_policy.load(options.policy_file)
    except audit_policy.PolicyError as error:
        raise SystemExit(f"wws store serve: --audit-policy-file: {error}") from error
    out = audit_log.RotatingFile(
        options.log_path,
        max_size_mb=options.max_size_mb,
        max_backups=options.max_backups,
        max_age_days=options.max_age_days,
    )
    return audit_log.Auditor(policy, out)


class _Lifespan:
    """Wraps the API server so the CRDs are applied after the store has loaded."""

    def __init__(self, app: Any, after_start: Callable[[], Awaitable[None]]) -> None:
        self.app = app
        self.after_start = after_start

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def patched_send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    await self.after_start()
                except SystemExit as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
            await send(message)

        await self.app(scope, receive, patched_send)


class _Loop(uvloop.Loop):  # type: ignore[misc]
    """uvloop, with TLS handshakes held to the request-head deadline: a connection that never
    finishes its handshake is not counted by the protocol (it has not reached it), and
    asyncio's default would keep it for 60 s. uvicorn gives no setting for it."""

    def __init__(self, handshake_timeout: float) -> None:
        super().__init__()
        self.handshake_timeout = handshake_timeout

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout)
        return await super().create_server(*args, **kwargs)


def _raise_open_files(wanted: int) -> None:
    """--max-connections means nothing if the process runs out of descriptors first (a soft
    limit of 1024 is common): raise the soft limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("store.open_files_limited", limit=target, wanted=wanted)


#: How often a running store checks whether its serving certificate needs renewal.
RENEWAL_CHECK_SECONDS = 12 * 3600


async def _renew_serving_cert(
    context: ssl.SSLContext,
    data_dir: Path,
    host: str,
    sans: list[str],
    *,
    every: float = RENEWAL_CHECK_SECONDS,
) -> None:
    """A store that runs for months renews its certificate without a restart: the new one is
    loaded into the listening SSL context, which new connections use at once."""
    while True:
        await asyncio.sleep(every)
        try:
            files = await asyncio.to_thread(tls.self_signed, data_dir, host, sans)
            context.load_cert_chain(str(files.cert), str(files.key))
        except (OSError, ValueError, ssl.SSLError) as error:
            log.warning("store.tls_renewal_failed", error=str(error))


def main(
    *,
    data_dir: Path,
    listen: str,
    crds_dir: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_sans: list[str] | None = None,
    limits: Limits | None = None,
    encryption_provider_config: Path | None = None,
    ready: Callable[[Endpoint], None] | None = None,
    token_auth_file: Path | None = None,
    authentication_config: Path | None = None,
    manifests_dirs: list[Path] | None = None,
    audit: AuditOptions | None = None,
) -> int:
    limits = limits or Limits()
    # Whatever this process creates (database, logs, keys) is private to its user.
    os.umask(0o077)
    _raise_open_files(limits.max_connections + 256)
    filemodes.secure(data_dir)
    encryption_config: encryption.Config | None = None
    if encryption_provider_config is not None:
        try:
            encryption_config = encryption.load(encryption_provider_config)
        except encryption.ConfigError as error:
            raise SystemExit(f"wws store serve: --encryption-provider-config: {error}") from error
    host, port = parse_listen(listen)
    crds = load_crd_files(crds_dir) if crds_dir else []
    manifests = [doc for folder in manifests_dirs or [] for doc in load_manifests(folder)]
    own_cert = bool(tls_cert or tls_key)
    if own_cert:
        if not (tls_cert and tls_key):
            raise SystemExit(
                "wws store serve: --tls-cert-file and --tls-private-key-file go together"
            )
        for path in (tls_cert, tls_key):
            if not path.is_file():
                raise SystemExit(f"wws store serve: {path} is not a file")
        files = tls.TLSFiles(tls_cert, tls_key, None)
    else:
        # Always TLS, loopback included: client-go (kubectl, kopf's kubeconfig loaders) sends
        # a bearer token only over TLS, and off loopback the token must never travel in clear.
        files = tls.self_signed(data_dir, host, tls_sans or [])
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, TLS responses written as two records
    # meet Nagle + delayed ACK and every request waits ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        raise SystemExit(f"wws store serve: cannot listen on {listen}: {error.strerror}") from error
    port = sock.getsockname()[1]
    scheme = "https"
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{scheme}://{'[' + shown_host + ']' if ':' in shown_host else shown_host}:{port}"
    authenticator, tokens = _authenticator(data_dir, token_auth_file, authentication_config)
    kubeconfig = data_dir / identities.ADMIN.kubeconfig
    for identity in identities.ALL:
        token = tokens.get(identity.user.username)
        if token is not None:
            security.write_kubeconfig(
                data_dir / identity.kubeconfig,
                server=url,
                token=token,
                ca=files.ca,
                user=identity.user.username,
            )

    # How many revisions of history watches can resume from (older ones get 410 Expired).
    history_window = int(os.environ.get("WWS_STORE_HISTORY_WINDOW") or 20_000)
    store = Store(
        data_dir,
        history_window=history_window,
        limits=limits,
        encryption_config=encryption_config,
    )
    access = AccessControl(store, authenticator)
    api = ApiServer(store, access=access, address=f"{shown_host}:{port}", auditor=_auditor(audit))
    # The in-flight bound goes first: a flood is refused before any token is looked at.
    limited = inflight.InflightLimit(
        api,
        max_readonly=limits.max_requests_inflight,
        max_mutating=limits.max_mutating_requests_inflight,
    )

    async def after_start() -> None:
        await access.start()
        await apply_crds(store, crds)
        await apply_manifests(store, manifests)
        if authentication_config is not None:
            store.spawn(authn_reload.watch(authentication_config, authenticator))
        if not own_cert and server.config.ssl is not None:
            store.spawn(_renew_serving_cert(server.config.ssl, data_dir, host, tls_sans or []))
        log.info("store.serving", url=url, kubeconfig=str(kubeconfig), crds=len(crds))
        if ready is not None:
            ready(Endpoint(host, port, url))

    config = uvicorn.Config(
        _Lifespan(limited, after_start),
        loop="uvloop",
        http=connections.protocol_class(limits),
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=120,
        ssl_certfile=str(files.cert),
        ssl_keyfile=str(files.key),
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # NB: serve() does not set up uvicorn's loop (run() would), so pick uvloop here.
    uvloop.run(server.serve(sockets=[sock]), loop_factory=lambda: _Loop(limits.header_timeout))
    return 0
