"""Logging in to the Kubernetes API: the embedded store or any real cluster, the same way.

Credentials come from the official ``kubernetes`` client's config loader, so whatever it
understands works here too: the embedded store's kubeconfig (CA data + bearer token), a
cluster's kubeconfig with client certificates or exec plugins, or the in-cluster service
account. They feed kopf (:func:`connection_info`, returned by the controller's
``@kopf.on.login`` handler) and the controller's own small client (``controller.kubeapi``).

Which configuration is used:

- ``--kubeconfig FILE`` given: that file, its current context;
- otherwise the in-cluster service account when running in a pod;
- otherwise ``$KUBECONFIG`` or ``~/.kube/config``.
"""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import kopf

from wws import logconfig

log = logconfig.get(__name__)


class LoginError(RuntimeError):
    """No usable credentials; the message says where they were looked for."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = None
    scheme: str | None = None
    username: str | None = None
    password: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    source: str = ""
    """Where the credentials came from (a kubeconfig path or "in-cluster"), for logs."""

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of a connection to :attr:`server`."""
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate_path:
            context.load_cert_chain(self.certificate_path, self.private_key_path)
        return context

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header, when the credentials carry a token."""
        if self.token:
            return {"Authorization": f"{self.scheme or 'Bearer'} {self.token}"}
        return {}


def load(kubeconfig: Path | None) -> Credentials:
    """Credentials from ``kubeconfig`` or, when ``None``, from the usual places.

    Raises :class:`LoginError` when nothing usable is found.
    """
    import kubernetes.client
    import kubernetes.config

    configuration = kubernetes.client.Configuration()
    source: str
    try:
        if kubeconfig is not None:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration
            )
            source = str(kubeconfig)
        else:
            try:
                kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                source = "in-cluster"
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                source = "$KUBECONFIG or ~/.kube/config"
    except (kubernetes.config.ConfigException, OSError) as error:
        where = kubeconfig or "the in-cluster service account, $KUBECONFIG or ~/.kube/config"
        raise LoginError(f"no usable Kubernetes credentials in {where}: {error}") from error

    # NB: kubernetes >= 36 keeps the token under 'BearerToken', older ones under
    # 'authorization'; exec plugins and token files end up there too.
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return Credentials(
        server=str(configuration.host).rstrip("/"),
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        token=token,
        scheme=scheme,
        username=configuration.username or None,
        password=configuration.password or None,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
        source=source,
    )


def connection_info(credentials: Credentials) -> kopf.ConnectionInfo:
    """What kopf needs to talk to the API server."""
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=credentials.ca_path,
        insecure=credentials.insecure,
        username=credentials.username,
        password=credentials.password,
        scheme=credentials.scheme,
        token=credentials.token,
        certificate_path=credentials.certificate_path,
        private_key_path=credentials.private_key_path,
    )
