"""What a decoded request body may hold beyond being JSON: depth, int64 numbers, unique keys.

kube-apiserver decodes into Go types, so an integer outside int64 or a key given twice never
reaches storage: the first is a 400, the second a 400 under ``fieldValidation=Strict`` (and a
warning otherwise). Python's decoders take both silently (a YAML ``1e30``-sized integer would
then fail only when stored, as a 500), hence these checks.
"""

from __future__ import annotations

import json
from typing import Any, Final

import yaml

from statestore import objects

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def body_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored: nested too deeply, or an integer beyond int64."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    out_of_range = False
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if type(item) is int and not INT64_MIN <= item <= INT64_MAX:
                out_of_range = True
            continue
        if depth > objects.MAX_DEPTH:
            return f"it nests objects and arrays more than {objects.MAX_DEPTH} levels deep"
        stack.extend((child, depth + 1) for child in children)
    if out_of_range:
        path, number = _first_big_int(value, "")
        shown = str(number) if len(str(number)) <= 40 else f"{str(number)[:37]}..."
        return f"{path or 'the body'}: the number {shown} does not fit in a 64-bit integer"
    return None


def _first_big_int(value: Any, path: str) -> tuple[str, int]:
    """Path and value of the first out-of-range integer (only called when there is one;
    the depth is already known to be bounded)."""
    if isinstance(value, dict):
        for key, child in value.items():
            found = _first_big_int(child, f"{path}.{key}" if path else str(key))
            if found[0] or found[1]:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found = _first_big_int(child, f"{path}[{index}]")
            if found[0] or found[1]:
                return found
    elif type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        return path or "", value
    return "", 0


class _DuplicateKeys(yaml.SafeLoader):
    """A YAML loader that records keys given twice in one mapping."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue  # not a JSON key; the body check refuses it elsewhere
            if key in seen:
                line = key_node.start_mark.line + 1
                self.duplicates.append(f'duplicate field "{key}" (line {line})')
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def duplicate_fields(body: bytes, content_type: str) -> list[str]:
    """Keys given twice in one object of ``body`` (for ``fieldValidation=Strict``)."""
    found: list[str] = []
    if "yaml" in content_type:
        loader = _DuplicateKeys(body)
        try:
            loader.get_single_data()
        except yaml.YAMLError:
            return []  # the body was decoded once already; nothing more to say here
        finally:
            loader.dispose()
        return loader.duplicates

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                found.append(f'duplicate field "{key}"')
            seen.add(key)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return []
    return found


def probable_duplicates(body: bytes, value: Any) -> list[str]:
    """Duplicate keys of a JSON body, looked for only when a cheap count says there may be
    some: the body has more ``":`` than the decoded value has keys (string values with
    ``":`` in them cost a second parse, nothing more)."""
    keys = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if body.count(b'":') <= keys:
        return []
    return duplicate_fields(body, "application/json")
