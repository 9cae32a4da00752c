"""The Secrets of a workspace: the owner's GitHub token (read) and code-server's password
(made when missing).

- ``spec.github.tokenSecretRef`` names a Secret in the workspace's namespace and a key in it
  (default ``token``). It is read at every reconcile, and again whenever the Secret changes
  (the controller watches Secrets), so a rotated token reaches the workspace within
  seconds. A missing Secret or key is no error of the
  reconcile: the workspace runs without GitHub credentials and GitHubReady says why
  (reasons ``SecretNotFound``, ``KeyNotFound``, ``EmptyToken``, ``InvalidToken``).
- ``<workspace>-code-server`` (key ``password``) holds code-server's password. The
  controller creates it when it is missing: 32 random URL-safe characters, owned by the
  Workspace (``ownerReferences``, so a cluster's garbage collector removes it with the
  Workspace; the controller's delete handler removes it too, for stores without one). A
  Secret of that name made by someone else is used as it is when it has a ``password``.

The values are returned to the caller only; nothing here logs them, and errors name Secrets
and keys, never values.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

import aiohttp

from api import meta
from api.workspace import Workspace
from controller import kubeapi
from reconcilers import workspace as reconciler
from wws import logconfig

log = logconfig.get(__name__)

PASSWORD_BYTES = 24
"""Random bytes of a new code-server password (32 URL-safe characters)."""


#: (namespace, name) → resourceVersion of each Secret as last read or written here: the
#: controller's Secret watch skips events of versions the workspaces have already.
Seen = dict[tuple[str, str], str]


def _remember(seen: Seen | None, secret: dict[str, Any] | None, namespace: str, name: str) -> None:
    if seen is None:
        return
    version = ((secret or {}).get("metadata") or {}).get("resourceVersion")
    if version:
        seen[(namespace, name)] = str(version)
    else:
        seen.pop((namespace, name), None)


class SecretProblem(RuntimeError):
    """A Secret the workspace needs cannot be read or made; the message names it (never a
    value) and is fit for ``status.message``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def secret_path(namespace: str, name: str = "") -> str:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    return f"{path}/{name}" if name else path


async def _get(
    api: kubeapi.KubeApi, namespace: str, name: str, seen: Seen | None = None
) -> dict[str, Any] | None:
    try:
        secret = await api.request("GET", secret_path(namespace, name))
        _remember(seen, secret, namespace, name)
        return secret
    except kubeapi.ApiError as error:
        if error.status == 404:
            _remember(seen, None, namespace, name)
            return None
        raise SecretProblem(
            "SecretUnreadable", f"secret {namespace}/{name} cannot be read: HTTP {error.status}"
        ) from None
    except (OSError, aiohttp.ClientError, TimeoutError) as error:
        raise SecretProblem(
            "SecretUnreadable", f"secret {namespace}/{name} cannot be read: {error}"
        ) from None


def _value(secret: dict[str, Any], key: str) -> str | None:
    """The text of ``key`` in a Secret (``data`` is base64; ``stringData`` as a fallback
    for servers that hand it back); ``None`` when missing; raises ValueError when it is not
    base64-encoded UTF-8 text."""
    data = secret.get("data") or {}
    if key in data:
        try:
            return base64.b64decode(str(data[key]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("not base64-encoded UTF-8 text") from None
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return str(string_data[key])
    return None


async def github_token(
    api: kubeapi.KubeApi, ws: Workspace, seen: Seen | None = None
) -> reconciler.GitHubToken:
    """The owner's GitHub token from ``spec.github.tokenSecretRef``, or why there is none.
    Raises :class:`SecretProblem` only when the API server cannot be asked."""
    github = ws.spec.github
    if github is None:
        return reconciler.GitHubToken()
    namespace = ws.metadata.namespace or ""
    ref = github.token_secret_ref
    where = f"secret {namespace}/{ref.name}"
    secret = await _get(api, namespace, ref.name, seen)
    if secret is None:
        return reconciler.GitHubToken(
            reason="SecretNotFound",
            message=(
                f"{where} (spec.github.tokenSecretRef) does not exist; the workspace runs"
                " without GitHub credentials until it does, e.g.: kubectl -n"
                f" {namespace} create secret generic {ref.name} --from-literal={ref.key}=TOKEN"
                " --dry-run=client -o yaml | kubectl apply -f -"
            ),
        )
    try:
        token = _value(secret, ref.key)
    except ValueError as error:
        return reconciler.GitHubToken(
            reason="InvalidToken", message=f"{where}: key {ref.key!r} is {error}"
        )
    if token is None:
        keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
        listed = ", ".join(keys) if keys else "none"
        return reconciler.GitHubToken(
            reason="KeyNotFound",
            message=f"{where} has no key {ref.key!r} (its keys: {listed})",
        )
    token = token.strip()
    if not token:
        return reconciler.GitHubToken(reason="EmptyToken", message=f"{where}: {ref.key!r} is empty")
    return reconciler.GitHubToken(
        token=token,
        reason="TokenProvided",
        message=f"the token of {where}, key {ref.key!r}, is given to gh and git",
    )


def _owned_by(secret: dict[str, Any], uid: str) -> bool:
    owners = (secret.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(o, dict) and o.get("uid") == uid for o in owners)


def _new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def code_server_password(
    api: kubeapi.KubeApi, ws: Workspace, seen: Seen | None = None, *, fresh: bool = False
) -> tuple[str, bool]:
    """code-server's password from ``<workspace>-code-server``, made when missing; and
    whether the Secret was made (or repaired) now. Raises :class:`SecretProblem`.
    ``fresh``: the workspace is new, so the Secret is most likely missing: it is created
    straight away (one request instead of a GET that fails, then the create); an existing
    one (409) is then read as usual."""
    namespace = ws.metadata.namespace or ""
    name = reconciler.code_server_secret_name(ws.metadata.name)
    key = reconciler.CODE_SERVER_PASSWORD_KEY
    uid = ws.metadata.uid or ""
    secret = None if fresh else await _get(api, namespace, name, seen)
    if secret is None:
        password = _new_password()
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "wws",
                    f"{meta.GROUP}/workspace": ws.metadata.name,
                },
                "ownerReferences": [
                    {
                        "apiVersion": meta.API_VERSION,
                        "kind": Workspace.RESOURCE.kind,
                        "name": ws.metadata.name,
                        "uid": uid,
                        # NB: no blockOwnerDeletion: that needs the right to set the
                        # Workspace's finalizers on clusters that enforce it.
                        "controller": True,
                    }
                ],
            },
            "data": {key: _encoded(password)},
        }
        try:
            made = await api.request("POST", secret_path(namespace), body=body)
            _remember(seen, made, namespace, name)
            return password, True
        except kubeapi.ApiError as error:
            if error.status != 409:
                raise SecretProblem(
                    "SecretNotCreated",
                    f"secret {namespace}/{name} cannot be created: HTTP {error.status}",
                ) from None
        except (OSError, aiohttp.ClientError, TimeoutError) as error:
            raise SecretProblem(
                "SecretNotCreated", f"secret {namespace}/{name} cannot be created: {error}"
            ) from None
        secret = await _get(api, namespace, name, seen)  # made meanwhile by someone else
        if secret is None:
            raise SecretProblem("SecretNotCreated", f"secret {namespace}/{name} keeps vanishing")
    try:
        found = _value(secret, key)
    except ValueError:
        found = None
    if found:
        return found, False
    if not _owned_by(secret, uid):
        raise SecretProblem(
            "CodeServerSecretInvalid",
            f"secret {namespace}/{name} has no usable key {key!r} and is not this workspace's;"
            f" add the key or delete the secret (the controller then makes a new one)",
        )
    password = _new_password()
    try:
        repaired = await api.request(
            "PATCH",
            secret_path(namespace, name),
            body={"data": {key: _encoded(password)}},
            content_type="application/merge-patch+json",
        )
        _remember(seen, repaired, namespace, name)
    except kubeapi.ApiError as error:
        raise SecretProblem(
            "SecretNotCreated", f"secret {namespace}/{name} cannot be repaired: HTTP {error.status}"
        ) from None
    except (OSError, aiohttp.ClientError, TimeoutError) as error:
        raise SecretProblem(
            "SecretNotCreated", f"secret {namespace}/{name} cannot be repaired: {error}"
        ) from None
    return password, True


async def delete_code_server_secret(
    api: kubeapi.KubeApi, *, namespace: str, name: str, uid: str
) -> bool:
    """Delete ``<workspace>-code-server`` when this workspace owns it; True when deleted."""
    secret_name = reconciler.code_server_secret_name(name)
    secret = await _get(api, namespace, secret_name)
    if secret is None or not _owned_by(secret, uid):
        return False
    try:
        await api.request("DELETE", secret_path(namespace, secret_name))
    except kubeapi.ApiError as error:
        if error.status == 404:
            return False
        raise
    return True
