"""Built-in kinds checked against their real schemas, as kube-apiserver decodes them into Go types.

The schemas are the Kubernetes OpenAPI definitions that PyPI's ``kubernetes-validate`` ships
per Kubernetes version (the ``-strict`` variants, where an object admits only its declared
fields). What kube-apiserver's decoder would refuse is a 400 here too: a value of the wrong
type (``data: {a: 1}`` in a ConfigMap, ``type: 5`` in a Secret, ``generateName: 7``) or a
number outside its int32/int64 field. A field the kind does not have is dropped and reported
as unknown: a warning, or a 400 under ``fieldValidation=Strict``.

Each kind's validator is built once, on first use.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema
import referencing
import referencing.jsonschema

from statestore import discovery
from statestore.errors import Cause, StatusError
from statestore.resources import ResourceInfo

#: The schemas of the Kubernetes minor version the store announces in ``/version``.
KUBERNETES_VERSION: Final = (
    f"v{discovery.SERVER_VERSION['major']}.{discovery.SERVER_VERSION['minor']}.0"
)
_INT32: Final = (-(2**31), 2**31 - 1)
_INT64: Final = (-(2**63), 2**63 - 1)


@dataclass
class Result:
    """The object with unknown fields dropped, their paths, and why decoding failed."""

    obj: dict[str, Any]
    unknown_fields: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)


def _in_range(bounds: tuple[int, int]) -> Any:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return True  # the type keyword speaks for other values
        return bounds[0] <= value <= bounds[1]

    return check


_FORMATS: Final = jsonschema.FormatChecker(formats=())
_FORMATS.checks("int32")(_in_range(_INT32))
_FORMATS.checks("int64")(_in_range(_INT64))


def _schema_file(name: str) -> Any:
    folder = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"{KUBERNETES_VERSION}-local-strict"
    )
    return json.loads((folder / name).read_text(encoding="utf-8"))


@functools.cache
def _registry() -> referencing.Registry[Any]:
    definitions = referencing.Resource.from_contents(
        _schema_file("_definitions.json"), default_specification=referencing.jsonschema.DRAFT202012
    )
    return definitions @ referencing.Registry()


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    group, _, version = api_version.rpartition("/")
    suffix = f"{group.split('.')[0]}-{version}" if group else version
    try:
        schema = _schema_file(f"{kind.lower()}-{suffix}.json")
    except FileNotFoundError:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(), format_checker=_FORMATS)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        expected = [t for t in (error.validator_value or []) if t != "null"] or ["null"]
        return f"expected {' or '.join(expected)}, got {json.dumps(error.instance)[:60]}"
    if error.validator == "format":
        return f"{error.instance} does not fit in {error.validator_value}"
    return str(error.message)


def check(info: ResourceInfo, version: str, obj: dict[str, Any]) -> Result | None:
    """Decode ``obj`` as kube-apiserver would; ``None`` when the kind has no known schema."""
    validator = _validator(info.kind, info.api_version(version))
    if validator is None:
        return None
    unknown: list[tuple[Any, ...]] = []
    causes: list[Cause] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        if error.validator == "required":
            continue  # a missing field decodes to its zero value; kube's validation decides
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = error.schema.get("properties") or {}
            unknown.extend(
                (*error.absolute_path, key) for key in error.instance if key not in declared
            )
            continue
        path = _path(error.absolute_path)
        causes.append(Cause(path, f"Invalid value: {_describe(error)}", "FieldValueInvalid"))
    if not unknown:
        return Result(obj, causes=causes)
    pruned = copy.deepcopy(obj)
    for parts in sorted(unknown, key=len, reverse=True):
        parent: Any = pruned
        for part in parts[:-1]:
            parent = parent[part]
        parent.pop(parts[-1], None)
    return Result(pruned, sorted(_path(parts) for parts in unknown), causes)


def decode_error(info: ResourceInfo, version: str, causes: list[Cause]) -> StatusError:
    """The 400 kube-apiserver gives when a body does not decode into the kind's Go type."""
    first = causes[0]
    return StatusError(
        400,
        "BadRequest",
        f'{info.kind} in version "{version}" cannot be handled as a {info.kind}: '
        f"{first.field}: {first.message}",
        causes=causes,
    )


__all__ = ["KUBERNETES_VERSION", "Result", "check", "decode_error"]
