"""A schema compiled once into nodes: the walk reads attributes, not the schema dict.

Each node carries its type constraint and a tuple of value checks (see ``checks``);
allOf/anyOf/oneOf/not only validate, so their branches are compiled here too.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Final

from statestore.errors import Cause
from statestore.schema import checks, jsonvalues, messages


class Node:
    """One schema node, read once: the walk touches only these attributes."""

    __slots__ = (
        "accepts",
        "additional",
        "checks",
        "default",
        "defaulted",
        "embedded",
        "has_default",
        "int_from_float",
        "items",
        "keep_additional",
        "nullable",
        "preserve",
        "properties",
        "type_label",
    )

    def __init__(self) -> None:
        #: JSON type names a value may have; ``None`` = no type constraint.
        self.accepts: frozenset[str] | None = None
        #: An integral float (``1.0``) is an integer, as Go's validator allows.
        self.int_from_float = False
        self.type_label = ""
        self.nullable = False
        self.preserve = False
        self.embedded = False
        self.properties: dict[str, Node] | None = None
        self.additional: Node | None = None
        #: ``additionalProperties: true``: keep unknown keys without a schema.
        self.keep_additional = False
        self.items: Node | None = None
        self.has_default = False
        self.default: Any = None
        #: Properties that carry a default, for the missing-key pass.
        self.defaulted: tuple[tuple[str, Node], ...] = ()
        #: Value validations beyond the type, each appending causes.
        self.checks: tuple[checks.Check, ...] = ()


EMPTY: Final = Node()

#: Compiled schemas by ``id(schema)``; the entry keeps the schema alive so the id is not reused.
_CACHE: OrderedDict[int, tuple[dict[str, Any], Node]] = OrderedDict()
_CACHE_SIZE: Final = 256


def compiled(schema: dict[str, Any]) -> Node:
    key = id(schema)
    entry = _CACHE.get(key)
    if entry is not None and entry[0] is schema:
        _CACHE.move_to_end(key)
        return entry[1]
    node = compile_node(schema)
    _CACHE[key] = (schema, node)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return node


def compile_node(schema: Any) -> Node:
    if not isinstance(schema, dict):
        return EMPTY
    node = Node()
    _compile_type(node, schema)
    node.nullable = schema.get("nullable") is True
    node.preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    node.embedded = schema.get("x-kubernetes-embedded-resource") is True
    if "default" in schema:
        node.has_default = True
        node.default = schema["default"]
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        node.properties = {k: compile_node(v) for k, v in properties.items()}
        node.defaulted = tuple((k, c) for k, c in node.properties.items() if c.has_default)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        node.additional = compile_node(additional)
    elif additional is True:
        node.keep_additional = True
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = compile_node(items)
    node.checks = tuple(_build_checks(schema, node))
    return node


def _compile_type(node: Node, schema: dict[str, Any]) -> None:
    if schema.get("x-kubernetes-int-or-string") is True:
        node.accepts = frozenset({"integer", "string"})
        node.int_from_float = True
        node.type_label = "integer,string"
        return
    declared = schema.get("type")
    if not isinstance(declared, str) or not declared:
        return
    node.type_label = declared
    if declared == "number":
        node.accepts = frozenset({"number", "integer"})
    else:
        node.accepts = frozenset({declared})
        node.int_from_float = declared == "integer"


def type_ok(node: Node, value: Any, got: str) -> bool:
    accepts = node.accepts
    if accepts is None or got in accepts:
        return True
    if got == "null":
        return node.nullable
    return got == "number" and node.int_from_float and float(value).is_integer()


def _build_checks(schema: dict[str, Any], node: Node) -> list[checks.Check]:
    found: list[checks.Check] = []
    enum = schema.get("enum")
    if isinstance(enum, list):
        found.append(checks.enum_check(enum))
    found.extend(checks.string_checks(schema))
    found.extend(checks.number_checks(schema))
    found.extend(checks.array_checks(schema))
    found.extend(checks.object_checks(schema, node.embedded))
    found.extend(checks.cel_checks(schema))
    found.extend(_junctor_checks(schema))
    return found


def _junctor_checks(schema: dict[str, Any]) -> list[checks.Check]:
    """allOf/anyOf/oneOf/not only validate; pruning and defaulting never look into them."""
    found: list[checks.Check] = []
    all_of = _branches(schema.get("allOf"))
    any_of = _branches(schema.get("anyOf"))
    one_of = _branches(schema.get("oneOf"))
    not_schema = schema.get("not")
    if all_of:
        found.append(_all_of_check(all_of))
    if any_of:
        found.append(_any_of_check(any_of))
    if one_of:
        found.append(_one_of_check(one_of))
    if isinstance(not_schema, dict):
        negated = compile_node(not_schema)

        def check_not(value: Any, path: str, causes: list[Cause]) -> None:
            if not _validate_only(value, negated, path):
                causes.append(
                    messages.invalid(
                        path, "", f"{json.dumps(path)} must not validate the schema (not)"
                    )
                )

        found.append(check_not)
    return found


def _branches(value: Any) -> tuple[Node, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(compile_node(branch) for branch in value if isinstance(branch, dict))


def _all_of_check(branches: tuple[Node, ...]) -> checks.Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        failed = 0
        for branch in branches:
            errors = _validate_only(value, branch, path)
            if errors:
                failed += 1
                causes.extend(errors)
        if failed:
            suffix = ". None validated" if failed == len(branches) else ""
            causes.append(
                messages.invalid(
                    path, "", f"{json.dumps(path)} must validate all the schemas (allOf){suffix}"
                )
            )

    return check


def _any_of_check(branches: tuple[Node, ...]) -> checks.Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        best: list[Cause] | None = None
        for branch in branches:
            errors = _validate_only(value, branch, path)
            if not errors:
                return
            if best is None or len(errors) < len(best):
                best = errors
        causes.append(
            messages.invalid(
                path, "", f"{json.dumps(path)} must validate at least one schema (anyOf)"
            )
        )
        causes.extend(best or ())

    return check


def _one_of_check(branches: tuple[Node, ...]) -> checks.Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        valid = 0
        best: list[Cause] | None = None
        for branch in branches:
            errors = _validate_only(value, branch, path)
            if not errors:
                valid += 1
            elif best is None or len(errors) < len(best):
                best = errors
        if valid == 1:
            return
        detail = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
        causes.append(
            messages.invalid(
                path,
                "",
                f"{json.dumps(path)} must validate one and only one schema (oneOf). {detail}",
            )
        )
        if valid == 0:
            causes.extend(best or ())

    return check


def _validate_only(value: Any, node: Node, path: str) -> list[Cause]:
    """Validate ``value`` against a junctor branch: no pruning, no defaults."""
    causes: list[Cause] = []
    got = jsonvalues.json_type(value)
    if not type_ok(node, value, got):
        causes.append(messages.type_error(path, node.type_label, got))
        return causes
    for check in node.checks:
        check(value, path, causes)
    if isinstance(value, dict):
        for key, child in value.items():
            sub = node.properties.get(key) if node.properties else None
            sub = sub or node.additional
            if sub is not None:
                causes.extend(_validate_only(child, sub, messages.child(path, key)))
    elif isinstance(value, list) and node.items is not None:
        for i, item in enumerate(value):
            causes.extend(_validate_only(item, node.items, f"{path}[{i}]"))
    return causes
