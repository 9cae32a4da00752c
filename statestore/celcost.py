"""Worst-case cost of CRD validation rules, estimated when the CRD is written (as kube does).

kube-apiserver refuses a CRD whose rule could cost more than ``PerCallLimit`` (1,000,000) for
one evaluation, or whose rules together, each times the number of values it may run on
(cardinality), could cost more than ``StaticEstimatedCRDCostLimit`` (100,000,000). Sizes come
from the schema: ``maxItems``, ``maxProperties``, ``maxLength``; where a limit is missing, the
most a 3 MiB request could hold (``(3 MiB - 2) / (smallest serialized element + 1)``). So a
nested ``all()`` over a list without ``maxItems`` is refused with the rule's field path and a
hint, as in kube.

The estimate walks cel-python's parse tree: one unit per operation, a comprehension (``all``,
``exists``, ``exists_one``, ``map``, ``filter``) costs its range's size times its body, string
and list operations a tenth of their size (kube's traversal factor). It is an estimate of the
same shape as kube's, not the same numbers to the unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lark

from statestore import cel
from statestore.errors import Cause

MAX_REQUEST_BYTES = 3 * 1024 * 1024
PER_CALL_LIMIT = 1_000_000
CRD_TOTAL_LIMIT = 100_000_000
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TRAVERSING_METHODS = frozenset(
    {
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "indexOf",
        "lastIndexOf",
        "lowerAscii",
        "upperAscii",
        "replace",
        "split",
        "substring",
        "trim",
        "join",
        "format",
        "quantity",
        "url",
        "ip",
        "cidr",
    }
)
_HINT = (
    "(try simplifying the rule(s), or adding maxItems, maxProperties, and maxLength where "
    "arrays, maps, and strings are declared)"
)


@dataclass(frozen=True)
class _Shape:
    """What an expression's value may be: the schema it comes from, or a known size bound."""

    schema: dict[str, Any] | None = None
    size: float | None = None


_UNKNOWN = _Shape()
_SCALAR = _Shape(size=1)


def _min_serialized(schema: Any) -> int:
    """The smallest JSON a value of ``schema`` can be (kube's estimateMinSizeJSON)."""
    if not isinstance(schema, dict):
        return 1
    kind = schema.get("type")
    if kind == "string":
        return 2 + int(schema.get("minLength") or 0)
    if kind == "boolean":
        return 4
    if kind in ("object", "array"):
        return 2
    return 1  # numbers, int-or-string, anything


def max_size(shape: _Shape) -> float:
    """The most elements (or characters) a value of ``shape`` may have."""
    if shape.size is not None:
        return shape.size
    schema = shape.schema
    if not isinstance(schema, dict):
        return (MAX_REQUEST_BYTES - 2) / 2
    kind = schema.get("type")
    if kind == "array":
        limit = schema.get("maxItems")
        if isinstance(limit, int):
            return float(limit)
        return (MAX_REQUEST_BYTES - 2) / (_min_serialized(schema.get("items")) + 1)
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        limit = schema.get("maxProperties")
        if isinstance(limit, int):
            return float(limit)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
            # "k":v, — a key of at least one character, its quotes, the colon and comma
            return (MAX_REQUEST_BYTES - 2) / (_min_serialized(additional) + 5)
        return float(len(schema.get("properties") or {}) or 1)
    if kind == "string":
        limit = schema.get("maxLength")
        if isinstance(limit, int):
            return float(limit)
        return float(MAX_REQUEST_BYTES - 2)
    return 1.0


def _child(shape: _Shape, name: str | None) -> _Shape:
    """The shape of a field (``name``) or an element (``None``) of ``shape``."""
    schema = shape.schema
    if not isinstance(schema, dict):
        return _UNKNOWN
    if schema.get("type") == "array":
        items = schema.get("items")
        return _Shape(items) if isinstance(items, dict) else _UNKNOWN
    properties = schema.get("properties") or {}
    if name is not None and isinstance(properties.get(name), dict):
        return _Shape(properties[name])
    additional = schema.get("additionalProperties")
    return _Shape(additional) if isinstance(additional, dict) else _UNKNOWN


def _elements(shape: _Shape) -> _Shape:
    """What a comprehension variable ranges over: list elements or map keys."""
    schema = shape.schema
    if isinstance(schema, dict) and schema.get("type") == "array":
        return _child(shape, None)
    if isinstance(schema, dict):
        key_limit = max_size(_Shape({"type": "string"}))
        return _Shape({"type": "string"}, size=key_limit)
    return _UNKNOWN


def _trees(node: lark.Tree[Any]) -> Iterator[lark.Tree[Any]]:
    for child in node.children:
        if isinstance(child, lark.Tree):
            yield child


def _name(token: Any) -> str:
    return str(token.value) if isinstance(token, lark.Token) else str(token)


class _Estimator:
    def __init__(self) -> None:
        self.env: dict[str, _Shape] = {}

    def cost(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        method = getattr(self, f"_{node.data}", None)
        if method is not None:
            result: tuple[float, _Shape] = method(node)
            return result
        children = list(_trees(node))
        if len(children) == 1 and len(node.children) == 1:
            return self.cost(children[0])  # a wrapper rule of the grammar
        total = 1.0
        shapes = []
        for child in children:
            cost, shape = self.cost(child)
            total += cost
            shapes.append(shape)
        data = str(node.data)
        sized = [max_size(s) for s in shapes if s is not _SCALAR]
        if data in ("relation_eq", "relation_ne", "addition_add") and sized:
            total += 0.1 * max(sized)  # comparing or joining strings and lists walks them
        if data == "relation_in" and len(shapes) >= 2:
            total += max_size(shapes[-1])
        return total, _SCALAR

    # ------------------------------------------------------------ leaves

    def _literal(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        text = _name(node.children[0]) if node.children else ""
        if text[:1] in ("'", '"') or text[:2] in ("r'", 'r"', "b'", 'b"'):
            return 0.0, _Shape({"type": "string"}, size=float(len(text)))
        return 0.0, _SCALAR

    def _ident(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        return 1.0, self.env.get(_name(node.children[0]), _UNKNOWN)

    def _list_lit(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        elements = [e for exprlist in _trees(node) for e in _trees(exprlist)]
        total = 1.0 + sum(self.cost(e)[0] for e in elements)
        return total, _Shape(None, size=float(max(len(elements), 1)))

    def _map_lit(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        total = 1.0 + sum(self.cost(child)[0] for child in _trees(node))
        return total, _Shape(None, size=float(len(node.children) or 1))

    # ------------------------------------------------------------ member access

    def _member_dot(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        cost, shape = self.cost(node.children[0])  # type: ignore[arg-type]
        return cost + 1, _child(shape, _name(node.children[1]))

    def _member_index(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        cost, shape = self.cost(node.children[0])  # type: ignore[arg-type]
        index_cost, _ = self.cost(node.children[1])  # type: ignore[arg-type]
        return cost + index_cost + 1, _child(shape, None)

    def _ident_arg(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        function = _name(node.children[0])
        args = [self.cost(a) for a in _trees(node)]
        total = 1.0 + sum(c for c, _ in args)
        if function in _TRAVERSING_METHODS and args:
            total += 0.1 * max_size(args[0][1])
        return total, _SCALAR

    def _member_dot_arg(self, node: lark.Tree[Any]) -> tuple[float, _Shape]:
        target, method_token, *rest = node.children
        method = _name(method_token)
        target_cost, target_shape = self.cost(target)  # type: ignore[arg-type]
        exprs = list(_trees(rest[0])) if rest and isinstance(rest[0], lark.Tree) else []
        if method in _MACROS and len(exprs) >= 2:
            return self._comprehension(method, target_cost, target_shape, exprs)
        total = 1.0 + target_cost + sum(self.cost(e)[0] for e in exprs)
        if method in _TRAVERSING_METHODS:
            total += 0.1 * max_size(target_shape)
        return total, _SCALAR

    def _comprehension(
        self, method: str, range_cost: float, range_shape: _Shape, exprs: list[lark.Tree[Any]]
    ) -> tuple[float, _Shape]:
        variable = next(iter(exprs[0].find_data("ident")), None)
        name = _name(variable.children[0]) if variable is not None else ""
        saved = self.env.get(name)
        self.env[name] = _elements(range_shape)
        try:
            body = sum(self.cost(e)[0] for e in exprs[1:])
        finally:
            if saved is None:
                self.env.pop(name, None)
            else:
                self.env[name] = saved
        size = max_size(range_shape)
        total = range_cost + 1 + size * (body + 1)
        if method in ("map", "filter"):
            return total, _Shape({"type": "array"}, size=size)
        return total, _SCALAR


def estimate(rule: str, schema: dict[str, Any]) -> float:
    """The worst-case cost of one evaluation of ``rule`` on a value of ``schema``."""
    tree = cel.parse(rule)
    estimator = _Estimator()
    estimator.env = {"self": _Shape(schema), "oldSelf": _Shape(schema)}
    return estimator.cost(tree)[0]


def _factor(cost: float, limit: float) -> str:
    factor = cost / limit
    if factor > 100:
        return "more than 100x"
    return f"{factor:.1f}x" if factor >= 1.5 else f"{factor:f}x"


@dataclass
class _Rule:
    path: str
    cost: float
    cardinality: float


def _rules(schema: Any, path: str, cardinality: float, found: list[_Rule]) -> None:
    if not isinstance(schema, dict):
        return
    for index, validation in enumerate(schema.get("x-kubernetes-validations") or ()):
        rule = validation.get("rule") if isinstance(validation, dict) else None
        if not isinstance(rule, str) or not rule:
            continue
        try:
            cost = estimate(rule, schema)
        except cel.RuleError:
            continue  # reported by the structural checks
        found.append(_Rule(f"{path}.x-kubernetes-validations[{index}].rule", cost, cardinality))
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, child in properties.items():
            _rules(child, f"{path}.properties[{name}]", cardinality, found)
    items = schema.get("items")
    if isinstance(items, dict):
        _rules(items, f"{path}.items", cardinality * max_size(_Shape(schema)), found)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        each = cardinality * max_size(_Shape(schema))
        _rules(additional, f"{path}.additionalProperties", each, found)


def crd_causes(crd: dict[str, Any]) -> list[Cause]:
    """Rules of ``crd`` over kube's budgets, each with its field path."""
    causes: list[Cause] = []
    versions = (crd.get("spec") or {}).get("versions")
    for number, version in enumerate(versions if isinstance(versions, list) else []):
        holder = version.get("schema") if isinstance(version, dict) else None
        schema = holder.get("openAPIV3Schema") if isinstance(holder, dict) else None
        if not isinstance(schema, dict):
            continue
        root = f"spec.versions[{number}].schema.openAPIV3Schema"
        found: list[_Rule] = []
        _rules(schema, root, 1.0, found)
        total = 0.0
        for rule in found:
            if rule.cost > PER_CALL_LIMIT:
                causes.append(
                    Cause(
                        rule.path,
                        "Forbidden: estimated rule cost exceeds budget by factor of "
                        f"{_factor(rule.cost, PER_CALL_LIMIT)} {_HINT}",
                        "FieldValueForbidden",
                    )
                )
            total += rule.cost * rule.cardinality
        if total > CRD_TOTAL_LIMIT and not causes:
            causes.append(
                Cause(
                    root,
                    "Forbidden: x-kubernetes-validations estimated rule cost total for entire "
                    "OpenAPIv3 schema exceeds budget by factor of "
                    f"{_factor(total, CRD_TOTAL_LIMIT)} {_HINT}",
                    "FieldValueForbidden",
                )
            )
        if math.isinf(total):
            break
    return causes
