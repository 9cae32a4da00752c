"""The user a request is made as: name, uid, groups and extra, as Kubernetes' ``user.Info``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"


@dataclass(frozen=True)
class UserInfo:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_authenticated(self) -> UserInfo:
        """Every authenticated user is in ``system:authenticated`` (kube's group adder)."""
        if AUTHENTICATED in self.groups:
            return self
        return UserInfo(self.username, self.uid, (*self.groups, AUTHENTICATED), self.extra)

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups

    def to_dict(self) -> dict[str, Any]:
        """The ``authentication.k8s.io/v1`` UserInfo form (audit events, reviews)."""
        result: dict[str, Any] = {"username": self.username}
        if self.uid:
            result["uid"] = self.uid
        if self.groups:
            result["groups"] = list(self.groups)
        if self.extra:
            result["extra"] = {key: list(values) for key, values in self.extra.items()}
        return result


class Unauthorized(Exception):
    """The credential is missing, unknown, malformed, expired or wrongly signed.

    The reason is logged, never returned: the client learns only ``Unauthorized``.
    """
