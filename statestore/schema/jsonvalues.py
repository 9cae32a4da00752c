"""Decoded JSON values: their type names, a cheap deep copy, JSON equality, hash keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from statestore.schema import messages

#: JSON type names of decoded values; bool is listed before int on purpose of the lookup by
#: exact ``type()`` (``True`` is an ``int`` for ``isinstance``).
JSON_TYPES: Final[dict[type, str]] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def json_type(value: Any) -> str:
    name = JSON_TYPES.get(type(value))
    if name is not None:
        return name
    # Subclasses (OrderedDict, a YAML loader's types): slower isinstance checks.
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "object"


def copy(value: Any) -> Any:
    """Deep copy of decoded JSON; far cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==`` it keeps ``true`` and ``1`` apart (``1 == 1.0`` stays)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def hashable(value: Any) -> Any:
    """A key identifying a JSON value for duplicate detection (set / map list types)."""
    if isinstance(value, (dict, list)):
        return ("json", messages.go_json(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return ("num", int(value))
    if isinstance(value, (int, float)):
        return ("num", value)
    return (type(value).__name__, value)
