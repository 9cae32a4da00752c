"""Errors as Kubernetes ``Status`` objects.

Every failure the store reports is a :class:`StatusError`; the HTTP layer turns it into a
``kind: Status`` body with the same code, so kopf, kubectl and the Python client all read
the reason and the field paths in ``details.causes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One reason a request was refused, naming the field a user must fix."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class StatusError(Exception):
    code: int
    reason: str
    message: str
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    causes: list[Cause] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [cause.to_dict() for cause in self.causes]
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def not_found(*, group: str, plural: str, name: str) -> StatusError:
    resource = f"{plural}.{group}" if group else plural
    return StatusError(
        404, "NotFound", f'{resource} "{name}" not found', name=name, group=group, kind=plural
    )


def already_exists(*, group: str, plural: str, name: str) -> StatusError:
    resource = f"{plural}.{group}" if group else plural
    return StatusError(
        409,
        "AlreadyExists",
        f'{resource} "{name}" already exists',
        name=name,
        group=group,
        kind=plural,
    )


def conflict(*, group: str, plural: str, name: str, detail: str | None = None) -> StatusError:
    resource = f"{plural}.{group}" if group else plural
    why = (
        detail
        or "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource} "{name}": {why}',
        name=name,
        group=group,
        kind=plural,
    )


def invalid(*, kind: str, name: str, group: str, causes: list[Cause]) -> StatusError:
    """422 Invalid with one cause per field, in the wording kubectl users know."""
    summary = ", ".join(f"{c.field}: {c.message}" for c in causes)
    gk = f"{kind}.{group}" if group else kind
    return StatusError(
        422,
        "Invalid",
        f'{gk} "{name}" is invalid: {summary}',
        name=name,
        group=group,
        kind=kind,
        causes=causes,
    )


def bad_request(message: str, *, causes: list[Cause] | None = None) -> StatusError:
    return StatusError(400, "BadRequest", message, causes=causes or [])
