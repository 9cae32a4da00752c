"""Request options (query parameters and DeleteOptions), checked before anything else runs.

kube-apiserver decodes its query parameters into typed ``ListOptions``/``CreateOptions``/
``DeleteOptions``: a value that does not parse, or is not one of the allowed words, refuses the
request instead of being ignored. The same here, each with a ``Status`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from statestore.errors import Cause, StatusError, bad_request

#: Go's ``strconv.ParseBool`` spellings, which kube-apiserver's parameter codec accepts.
_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
FIELD_VALIDATION: Final = ("Ignore", "Warn", "Strict")
RESOURCE_VERSION_MATCH: Final = ("NotOlderThan", "Exact")
PROPAGATION_POLICIES: Final = ("Orphan", "Background", "Foreground")
#: The types a request body may have; kube answers anything else with 415.
BODY_TYPES: Final = (
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
)
PATCH_TYPES: Final = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def _unsupported(name: str, value: str, supported: tuple[str, ...]) -> StatusError:
    quoted = ", ".join(f'"{s}"' for s in supported)
    return bad_request(
        f'invalid {name} "{value}": supported values: {quoted}',
        causes=[
            Cause(
                name,
                f'Unsupported value: "{value}": supported values: {quoted}',
                "FieldValueNotSupported",
            )
        ],
    )


def flag(name: str, value: str | None) -> bool:
    """A boolean query parameter; absent or empty is false."""
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise bad_request(
        f'invalid {name} "{value}": must be a boolean (true or false)',
        causes=[Cause(name, f'Invalid value: "{value}": must be a boolean')],
    )


def field_validation(value: str | None) -> str:
    """``fieldValidation``: Ignore, Warn (the default) or Strict. Any case is accepted, as
    kubectl spells it ``Strict`` and older clients ``strict``."""
    if not value:
        return "Warn"
    for known in FIELD_VALIDATION:
        if value.lower() == known.lower():
            return known
    raise _unsupported("fieldValidation", value, FIELD_VALIDATION)


def warnings(found: list[str], directive: str) -> list[str]:
    """The warnings a write answers with: under ``Ignore`` unknown fields go silently."""
    if directive != "Ignore":
        return found
    return [w for w in found if not w.startswith("unknown field ")]


def resource_version_match(value: str | None) -> str:
    """``resourceVersionMatch`` of a list or watch: empty, NotOlderThan or Exact."""
    if value and value not in RESOURCE_VERSION_MATCH:
        raise _unsupported("resourceVersionMatch", value, RESOURCE_VERSION_MATCH)
    return value or ""


@dataclass(frozen=True)
class ListOptions:
    limit: int
    continue_token: str
    resource_version: str
    resource_version_match: str


def list_options(get: Any) -> ListOptions:
    """``limit``, ``continue``, ``resourceVersion`` and ``resourceVersionMatch`` of a list."""
    limit_text = get("limit") or ""
    try:
        limit = int(limit_text) if limit_text else 0
    except ValueError:
        raise bad_request(
            f'invalid limit "{limit_text}": must be an integer',
            causes=[Cause("limit", f'Invalid value: "{limit_text}": must be an integer')],
        ) from None
    limit = max(limit, 0)  # kube treats a negative limit as none
    rv = get("resourceVersion") or ""
    if rv and not rv.isdigit():
        raise bad_request(
            f'invalid resourceVersion "{rv}": must be a number',
            causes=[Cause("resourceVersion", f'Invalid value: "{rv}"')],
        )
    match = resource_version_match(get("resourceVersionMatch"))
    if match and not rv:
        raise bad_request(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
            causes=[Cause("resourceVersionMatch", "Forbidden", "FieldValueForbidden")],
        )
    if match == "Exact" and rv == "0":
        raise bad_request(
            'resourceVersionMatch "Exact" is forbidden for resourceVersion "0"',
            causes=[Cause("resourceVersionMatch", "Forbidden", "FieldValueForbidden")],
        )
    token = get("continue") or ""
    if token and rv:
        raise bad_request(
            "specifying resource version is not allowed when using continue",
            causes=[Cause("resourceVersion", "Forbidden", "FieldValueForbidden")],
        )
    return ListOptions(limit, token, rv, match)


def propagation_policy(options: Mapping[str, Any], query_value: str | None) -> str | None:
    """``propagationPolicy`` from DeleteOptions (or the query); ``None`` when not given."""
    value = options.get("propagationPolicy", query_value)
    if value is None or value == "":
        return None
    if value not in PROPAGATION_POLICIES:
        raise _unsupported("propagationPolicy", str(value), PROPAGATION_POLICIES)
    orphan = options.get("orphanDependents")
    if orphan is not None and value is not None:
        raise bad_request(
            "orphanDependents and propagationPolicy cannot be both set",
            causes=[Cause("propagationPolicy", "Invalid value", "FieldValueInvalid")],
        )
    return str(value)


def legacy_orphan(options: Mapping[str, Any]) -> str | None:
    """The deprecated ``orphanDependents`` as the policy it stands for."""
    orphan = options.get("orphanDependents")
    if orphan is None:
        return None
    return "Orphan" if orphan else "Background"


def check_body_type(content_type: str, *, patch: bool) -> None:
    """415 for a body type the request cannot carry (``text/plain``, a form, ...)."""
    allowed = PATCH_TYPES if patch else BODY_TYPES
    if content_type in allowed:
        return
    raise StatusError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format "{content_type}" - accepted media '
        f"types include: {', '.join(allowed)}",
    )


class Query:
    """A request's query parameters (the last value of each), as kube-apiserver reads them."""

    def __init__(self, raw: bytes) -> None:
        self._values = {k: v[-1] for k, v in parse_qs(raw.decode("latin-1")).items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def flag(self, name: str) -> bool:
        """A boolean parameter; a value that is not a boolean is a 400 (as in kube)."""
        return flag(name, self._values.get(name))
