"""Impersonation headers (k8s.io/apiserver filters/impersonation.go).

``Impersonate-User``, ``-Group`` (repeatable), ``-Uid`` and ``Impersonate-Extra-<key>``:
each is authorized as verb ``impersonate`` on ``users`` / ``groups`` / ``serviceaccounts``
(core group) or ``uids`` / ``userextras/<key>`` (``authentication.k8s.io``), named by the
value. The impersonated user gets ``system:authenticated`` as kube adds it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from statestore.authn.user import AUTHENTICATED, UserInfo
from statestore.errors import StatusError
from statestore.rbac.attributes import Attributes

USER = b"impersonate-user"
GROUP = b"impersonate-group"
UID = b"impersonate-uid"
EXTRA = b"impersonate-extra-"
_SA_PREFIX = "system:serviceaccount:"


def requested(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower().startswith(b"impersonate-") for name, _ in headers)


def impersonate(
    user: UserInfo,
    headers: list[tuple[bytes, bytes]],
    allowed: Callable[[Attributes], bool],
) -> UserInfo:
    username = ""
    uid = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    checks: list[Attributes] = []
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        value = raw_value.decode("utf-8", "replace").strip()
        if name == USER:
            username = value
        elif name == GROUP:
            groups.append(value)
        elif name == UID:
            uid = value
        elif name.startswith(EXTRA):
            key = unquote(name[len(EXTRA) :].decode("latin-1")).lower()
            extra.setdefault(key, []).append(value)
    if not username:
        if groups or extra or uid:
            raise StatusError(
                500,
                "InternalError",
                "Internal error occurred: requested ["
                + _describe(groups, extra, uid)
                + "] without impersonating a user",
            )
        return user
    if username.startswith(_SA_PREFIX) and username.count(":") == 3:
        _, _, sa_namespace, sa_name = username.split(":", 3)
        checks.append(
            Attributes(
                user, "impersonate", True, "", "", "serviceaccounts", "", sa_namespace, sa_name
            )
        )
    else:
        checks.append(Attributes(user, "impersonate", True, "", "", "users", "", "", username))
    for group in groups:
        checks.append(Attributes(user, "impersonate", True, "", "", "groups", "", "", group))
    if uid:
        checks.append(
            Attributes(user, "impersonate", True, "authentication.k8s.io", "", "uids", "", "", uid)
        )
    for key, values in extra.items():
        for value in values:
            checks.append(
                Attributes(
                    user,
                    "impersonate",
                    True,
                    "authentication.k8s.io",
                    "",
                    "userextras",
                    key,
                    "",
                    value,
                )
            )
    for check in checks:
        if not allowed(check):
            # kube: NewForbidden(gr, name, "User %q cannot impersonate resource %q ...")
            raise StatusError(
                403,
                "Forbidden",
                check.forbidden_message(),
                name=check.name,
                group=check.group,
                kind=check.resource,
            )
    if AUTHENTICATED not in groups and username != "system:anonymous":
        groups.append(AUTHENTICATED)
    return UserInfo(
        username=username,
        uid=uid,
        groups=tuple(groups),
        extra={key: tuple(values) for key, values in extra.items()},
    )


def _describe(groups: list[str], extra: dict[str, list[str]], uid: str) -> str:
    parts = [f"groups={groups}"] if groups else []
    parts += [f"extra[{k}]={v}" for k, v in extra.items()]
    if uid:
        parts.append(f"uid={uid}")
    return " ".join(parts)
