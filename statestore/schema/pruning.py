"""Prune, drop non-nullable nulls, default and validate, in one walk.

kube-apiserver does this in four passes (prune, prune nulls, default, validate); here it is
one recursive walk over a *compiled* schema, because a write must not pay for re-reading the
schema dict, and the four passes give the same result when each node is pruned, defaulted and
then validated after its children.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from statestore.errors import Cause
from statestore.schema import compiler, jsonvalues, messages

#: Keys of TypeMeta/ObjectMeta that pruning never touches at a resource root (or embedded resource).
META_KEYS: Final = frozenset({"apiVersion", "kind", "metadata"})


@dataclass
class SchemaResult:
    """Outcome of :func:`process`: the object to store and what was wrong with the input."""

    #: A new object: pruned, nulls dropped, defaulted. The input is never mutated.
    obj: dict[str, Any]
    #: Dotted paths of pruned fields (``spec.foo``, ``spec.items[0].bar``), sorted; for Strict.
    unknown_fields: list[str] = field(default_factory=list)
    #: Validation failures, in the order the walk met them (a parent's before its children's).
    causes: list[Cause] = field(default_factory=list)


class Walk:
    """State of one :func:`process` call."""

    __slots__ = ("causes", "track", "unknown")

    def __init__(self) -> None:
        self.causes: list[Cause] = []
        self.unknown: list[str] = []
        #: Off while a default value is walked: a default's fields are not the user's.
        self.track = True

    def value(self, value: Any, node: compiler.Node, path: str, preserve: bool) -> Any:
        """Prune, default and validate one value; returns the new value."""
        mark = len(self.causes)
        kind = type(value)
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            out: Any = self.object(value, node, path, preserve or node.preserve, False)
        elif kind is list or isinstance(value, tuple):
            out = self.array(value, node, path, preserve or node.preserve)
        else:
            out = value
        got = jsonvalues.JSON_TYPES.get(type(out)) or jsonvalues.json_type(out)
        if not compiler.type_ok(node, out, got):
            self.causes.insert(mark, messages.type_error(path, node.type_label, got))
            return out
        if node.checks and not (out is None and node.nullable):
            found: list[Cause] = []
            for check in node.checks:
                check(out, path, found)
            if found:
                self.causes[mark:mark] = found
        return out

    def object(
        self, value: Mapping[str, Any], node: compiler.Node, path: str, preserve: bool, root: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        properties = node.properties
        keep_meta = root or node.embedded
        for key, child_value in value.items():
            child = properties.get(key) if properties is not None else None
            if child is None or (keep_meta and key in META_KEYS):
                if keep_meta and key in META_KEYS:
                    out[key] = jsonvalues.copy(child_value)
                    continue
                child = node.additional
                if child is None:
                    if preserve or node.keep_additional:
                        out[key] = jsonvalues.copy(child_value)
                    elif self.track:
                        self.unknown.append(messages.child(path, key))
                    continue
            if child_value is None and not child.nullable:
                if not child.has_default:
                    continue  # a non-nullable null without a default is dropped
                child_value = child.default
            out[key] = self.value(child_value, child, messages.child(path, key), False)
        for key, child in node.defaulted:
            if key not in out and not (keep_meta and key in META_KEYS):
                self.track, saved = False, self.track
                out[key] = self.value(child.default, child, messages.child(path, key), False)
                self.track = saved
        return out

    def array(
        self, value: list[Any] | tuple[Any, ...], node: compiler.Node, path: str, preserve: bool
    ) -> list[Any]:
        items = node.items
        if items is None:
            if preserve:
                return [jsonvalues.copy(v) for v in value]
            items = compiler.EMPTY
        out: list[Any] = []
        for i, item in enumerate(value):
            if item is None and items.has_default and not items.nullable:
                item = items.default
            # preserve-unknown-fields on an array reaches into its items (pruning.skipPrune).
            out.append(self.value(item, items, f"{path}[{i}]", preserve))
        return out


def process(obj: dict[str, Any], schema: dict[str, Any] | None) -> SchemaResult:
    """Prune, drop non-nullable nulls, default and validate ``obj`` against ``schema``.

    ``schema`` is a CRD version's ``openAPIV3Schema``; ``None`` means anything goes (built-in
    kinds): the result is a plain deep copy. ``apiVersion``, ``kind`` and ``metadata`` at the
    root are always kept as they are (the store validates metadata itself).
    """
    if schema is None:
        return SchemaResult(obj=jsonvalues.copy(obj))
    node = compiler.compiled(schema)
    walk = Walk()
    if not isinstance(obj, Mapping):
        walk.causes.append(messages.type_error("", "object", jsonvalues.json_type(obj)))
        return SchemaResult(obj={}, causes=walk.causes)
    out = walk.object(obj, node, "", node.preserve, True)
    root_causes: list[Cause] = []
    for check in node.checks:
        check(out, "", root_causes)
    walk.causes[0:0] = root_causes
    walk.unknown.sort()
    return SchemaResult(obj=out, unknown_fields=walk.unknown, causes=walk.causes)
