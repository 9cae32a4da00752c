"""Label and field selectors as the Kubernetes API parses them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from statestore.errors import bad_request

_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects without the label too, as in Kubernetes.
        return not present or labels[self.key] not in self.values


LabelSelector = tuple[Requirement, ...]


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``in (a, b)`` parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


_SET_RE = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)$")
_EQ_RE = re.compile(r"^(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=()]*)$")


def _check_key(key: str, selector: str) -> None:
    if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(f'unable to parse requirement: invalid label key "{key}" in "{selector}"')


def _check_value(value: str, selector: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request(
            f'unable to parse requirement: invalid label value "{value}" in "{selector}"'
        )


def parse_label_selector(selector: str | None) -> LabelSelector:
    if not selector:
        return ()
    requirements: list[Requirement] = []
    for part in _split_top_level(selector):
        if match := _SET_RE.match(part):
            key = match["key"]
            values = [v.strip() for v in match["values"].split(",") if v.strip()]
            _check_key(key, selector)
            for value in values:
                _check_value(value, selector)
            requirements.append(Requirement(key, match["op"], frozenset(values)))
        elif match := _EQ_RE.match(part):
            key, value = match["key"], match["value"]
            _check_key(key, selector)
            _check_value(value, selector)
            op = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(key, op, frozenset([value])))
        elif part.startswith("!"):
            _check_key(part[1:].strip(), selector)
            requirements.append(Requirement(part[1:].strip(), "!"))
        else:
            _check_key(part, selector)
            requirements.append(Requirement(part, "exists"))
    return tuple(requirements)


def labels_match(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    equal: bool
    value: str


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(selector: str | None, *, allowed: frozenset[str]) -> FieldSelector:
    if not selector:
        return ()
    requirements: list[FieldRequirement] = []
    for part in _split_top_level(selector):
        if "!=" in part:
            field, value = part.split("!=", 1)
            equal = False
        elif "==" in part:
            field, value = part.split("==", 1)
            equal = True
        elif "=" in part:
            field, value = part.split("=", 1)
            equal = True
        else:
            raise bad_request(f'invalid selector: "{selector}"; can\'t understand "{part}"')
        field = field.strip()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        requirements.append(FieldRequirement(tuple(field.split(".")), equal, value.strip()))
    return tuple(requirements)


def _lookup(obj: Any, path: tuple[str, ...]) -> str:
    for part in path:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(part)
    if obj is None:
        return ""
    return obj if isinstance(obj, str) else str(obj)


def fields_match(selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    return all((_lookup(obj, r.path) == r.value) == r.equal for r in selector)


def compile_matcher(
    labels: LabelSelector, fields: FieldSelector
) -> Callable[[Mapping[str, Any]], bool] | None:
    """One predicate over a whole object, or ``None`` when everything matches."""
    if not labels and not fields:
        return None

    def matches(obj: Mapping[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        return labels_match(labels, metadata.get("labels")) and fields_match(fields, obj)

    return matches
