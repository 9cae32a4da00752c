"""Structural-schema processing of custom resources, as kube-apiserver does it.

On every write the store prunes unknown fields, drops non-nullable nulls, applies defaults and
validates the object against the ``openAPIV3Schema`` of the CRD version. kube-apiserver does
this in four passes (prune, prune nulls, default, validate); here it is one recursive walk
over a *compiled* schema, because a write must not pay for re-reading the schema dict and
the four passes give the same result when each node is pruned, defaulted and then validated
after its children.

Messages and field paths follow kube-openapi + ``k8s.io/apimachinery/pkg/util/validation/field``
so that ``kubectl`` users see the errors they know (``spec.replicas: Invalid value: "string":
spec.replicas in body must be of type integer: "string"``).

``validate_crd`` and ``crd_defaults`` implement what the API server checks and fills on a
``CustomResourceDefinition`` itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from statestore import cel
from statestore.errors import Cause

__all__ = [
    "SchemaResult",
    "crd_defaults",
    "format_value",
    "process",
    "validate_crd",
]

#: Keys of TypeMeta/ObjectMeta that pruning never touches at a resource root (or embedded resource).
_META_KEYS: Final = frozenset({"apiVersion", "kind", "metadata"})

_REQUIRED: Final = "FieldValueRequired"
_INVALID: Final = "FieldValueInvalid"
_TYPE_INVALID: Final = "FieldValueTypeInvalid"
_NOT_SUPPORTED: Final = "FieldValueNotSupported"
_TOO_LONG: Final = "FieldValueTooLong"
_TOO_MANY: Final = "FieldValueTooMany"
_DUPLICATE: Final = "FieldValueDuplicate"
_FORBIDDEN: Final = "FieldValueForbidden"

#: JSON type names of decoded values; bool is listed before int on purpose of the lookup by
#: exact ``type()`` (``True`` is an ``int`` for ``isinstance``).
_JSON_TYPES: Final[dict[type, str]] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


@dataclass
class SchemaResult:
    """Outcome of :func:`process`: the object to store and what was wrong with the input."""

    #: A new object: pruned, nulls dropped, defaulted. The input is never mutated.
    obj: dict[str, Any]
    #: Dotted paths of pruned fields (``spec.foo``, ``spec.items[0].bar``), sorted; for Strict.
    unknown_fields: list[str] = field(default_factory=list)
    #: Validation failures, in the order the walk met them (a parent's before its children's).
    causes: list[Cause] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Value formatting, Go style (the messages are what kube-apiserver prints)
# --------------------------------------------------------------------------------------------


def _go_float(value: float) -> str:
    """``fmt.Sprint(float64)``: shortest digits, ``%e`` form when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits_t, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digits_t)
    point = len(digits) + exponent  # position of the decimal point relative to the digits
    exp10 = point - 1
    prefix = "-" if sign else ""
    # strconv's 'g' with the shortest precision uses %e when the exponent is < -4 or >= 6
    # (ftoa.go: "if precision was the shortest possible, use precision 6"): 1e+06, 1.5e-05.
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _go_json(value: Any) -> str:
    """``json.Marshal`` of a decoded JSON value: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_value(value: Any) -> str:
    """A bad value as ``field.Error.ErrorBody`` prints it: quoted string, bare scalar, or JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _go_json(value)


def _json_type(value: Any) -> str:
    name = _JSON_TYPES.get(type(value))
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


def _required(path: str, detail: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {detail}" if detail else ""), _REQUIRED)


def _invalid(path: str, value: Any, detail: str, reason: str = _INVALID) -> Cause:
    return Cause(path, f"Invalid value: {format_value(value)}: {detail}", reason)


def _forbidden(path: str, detail: str) -> Cause:
    return Cause(path, f"Forbidden: {detail}", _FORBIDDEN)


def _not_supported(path: str, value: Any, supported: Iterable[Any]) -> Cause:
    quoted = ", ".join(
        json.dumps(v if isinstance(v, str) else _go_json(v), ensure_ascii=False) for v in supported
    )
    return Cause(
        path,
        f"Unsupported value: {format_value(value)}: supported values: {quoted}",
        _NOT_SUPPORTED,
    )


def _type_error(path: str, expected: str, got: str) -> Cause:
    return _invalid(
        path, got, f"{_subject(path)} must be of type {expected}: {json.dumps(got)}", _TYPE_INVALID
    )


def _subject(path: str) -> str:
    """How kube-openapi names a value in a message: ``spec.x in body``, or the body itself."""
    return f"{path} in body" if path else "body"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------------------------
# Deep copy and equality of decoded JSON
# --------------------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """Deep copy of decoded JSON; far cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==`` it keeps ``true`` and ``1`` apart (``1 == 1.0`` stays)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _hashable(value: Any) -> Any:
    """A key identifying a JSON value for duplicate detection (set / map list types)."""
    if isinstance(value, (dict, list)):
        return ("json", _go_json(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return ("num", int(value))
    if isinstance(value, (int, float)):
        return ("num", value)
    return (type(value).__name__, value)


# --------------------------------------------------------------------------------------------
# Formats (k8s.io/kube-openapi/pkg/validation/strfmt, the ones CRDs support)
# --------------------------------------------------------------------------------------------

_DATE_RE: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME_RE: Final = re.compile(
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$"
)
_UUID_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I
)
_UUID3_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I
)
_UUID4_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I
)
_UUID5_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I
)
_HOSTNAME_RE: Final = re.compile(
    r"^([a-zA-Z0-9]((-?[a-zA-Z0-9]{0,62})?)|([a-zA-Z0-9](([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.)){1,}"
    r"([a-zA-Z]){2,63})$"
)
_MAC_RE: Final = re.compile(
    r"^(([0-9a-fA-F]{2}:){5}|([0-9a-fA-F]{2}:){7}|([0-9a-fA-F]{2}:){19})[0-9a-fA-F]{2}$"
    r"|^(([0-9a-fA-F]{2}-){5}|([0-9a-fA-F]{2}-){7}|([0-9a-fA-F]{2}-){19})[0-9a-fA-F]{2}$"
    r"|^(([0-9a-fA-F]{4}\.){2}|([0-9a-fA-F]{4}\.){3}|([0-9a-fA-F]{4}\.){9})[0-9a-fA-F]{4}$"
)
_EMAIL_RE: Final = re.compile(r"^[^@\s<>()]+@[^@\s<>()]+$")
_URI_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:|/)\S*$")
_GO_DURATION_RE: Final = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
_LOOSE_DURATION_RE: Final = re.compile(
    r"^\s*(\d+\s*(ns|nano|us|µs|micro|ms|milli|s|sec|m|min|h|hr|hour|d|day|w|wk|week)s?\s*)+$", re.I
)
_HEXCOLOR_RE: Final = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB_RE: Final = re.compile(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,"
    r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
)
_BSON_RE: Final = re.compile(r"^[0-9a-fA-F]{24}$")
_SSN_RE: Final = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_DNS1123_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE: Final = re.compile(rf"^{_DNS1123_LABEL}$")
_DNS1123_SUBDOMAIN_RE: Final = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1035_LABEL: Final = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_RE: Final = re.compile(rf"^{_DNS1035_LABEL}$")


def _is_date(value: str) -> bool:
    match = _DATE_RE.match(value)
    if match is None:
        return False
    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    parts = value.lower().split("t")
    if len(value) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME_RE.match(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(value: str, separator: str) -> bool:
    if separator not in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_duration(value: str) -> bool:
    return bool(_GO_DURATION_RE.match(value) or _LOOSE_DURATION_RE.match(value))


def _matcher(regex: re.Pattern[str], max_len: int | None = None) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return (max_len is None or len(value) <= max_len) and regex.match(value) is not None

    return check


#: Format name (dashes removed, as go-openapi normalizes them) → validator.
#: Formats CRDs may name but that are not listed here are ignored, as kube-apiserver does
#: with unknown formats.
_FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _matcher(_UUID_RE),
    "uuid3": _matcher(_UUID3_RE),
    "uuid4": _matcher(_UUID4_RE),
    "uuid5": _matcher(_UUID5_RE),
    "ipv4": lambda v: _is_ip(v, "."),
    "ipv6": lambda v: _is_ip(v, ":"),
    "cidr": _is_cidr,
    "mac": _matcher(_MAC_RE),
    "hostname": _matcher(_HOSTNAME_RE, 255),
    "email": _matcher(_EMAIL_RE),
    "uri": _matcher(_URI_RE),
    "duration": _is_duration,
    "hexcolor": _matcher(_HEXCOLOR_RE),
    "rgbcolor": _matcher(_RGB_RE),
    "bsonobjectid": _matcher(_BSON_RE),
    "ssn": _matcher(_SSN_RE),
    "password": lambda v: True,
    "k8sshortname": _matcher(_DNS1123_LABEL_RE, 63),
    "k8slongname": _matcher(_DNS1123_SUBDOMAIN_RE, 253),
}


@functools.lru_cache(maxsize=1024)
def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compiled ECMA/RE2 pattern, or ``None`` when Python's ``re`` cannot read it.

    Go's ``\\z`` is Python's ``\\Z``; other RE2 syntax Python lacks (``\\p{L}``) makes the pattern
    unusable here, and then it is not enforced rather than refusing every write.
    """
    try:
        return re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error:
        return None


# --------------------------------------------------------------------------------------------
# Compiled schema
# --------------------------------------------------------------------------------------------

_Check = Callable[[Any, str, list[Cause]], None]


class _Node:
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
        self.properties: dict[str, _Node] | None = None
        self.additional: _Node | None = None
        #: ``additionalProperties: true``: keep unknown keys without a schema.
        self.keep_additional = False
        self.items: _Node | None = None
        self.has_default = False
        self.default: Any = None
        #: Properties that carry a default, for the missing-key pass.
        self.defaulted: tuple[tuple[str, _Node], ...] = ()
        #: Value validations beyond the type, each appending causes.
        self.checks: tuple[_Check, ...] = ()


_EMPTY: Final = _Node()

#: Compiled schemas by ``id(schema)``; the entry keeps the schema alive so the id is not reused.
_CACHE: OrderedDict[int, tuple[dict[str, Any], _Node]] = OrderedDict()
_CACHE_SIZE: Final = 256


def _compiled(schema: dict[str, Any]) -> _Node:
    key = id(schema)
    entry = _CACHE.get(key)
    if entry is not None and entry[0] is schema:
        _CACHE.move_to_end(key)
        return entry[1]
    node = _compile(schema)
    _CACHE[key] = (schema, node)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return node


def _compile(schema: Any) -> _Node:
    if not isinstance(schema, dict):
        return _EMPTY
    node = _Node()
    _compile_type(node, schema)
    node.nullable = schema.get("nullable") is True
    node.preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    node.embedded = schema.get("x-kubernetes-embedded-resource") is True
    if "default" in schema:
        node.has_default = True
        node.default = schema["default"]
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        node.properties = {k: _compile(v) for k, v in properties.items()}
        node.defaulted = tuple((k, c) for k, c in node.properties.items() if c.has_default)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        node.additional = _compile(additional)
    elif additional is True:
        node.keep_additional = True
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = _compile(items)
    node.checks = tuple(_build_checks(schema, node))
    return node


def _compile_type(node: _Node, schema: dict[str, Any]) -> None:
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


def _type_ok(node: _Node, value: Any, got: str) -> bool:
    accepts = node.accepts
    if accepts is None or got in accepts:
        return True
    if got == "null":
        return node.nullable
    return got == "number" and node.int_from_float and float(value).is_integer()


# --------------------------------------------------------------------------------------------
# Value validations (built once per schema node)
# --------------------------------------------------------------------------------------------


def _cel_checks(schema: dict[str, Any]) -> list[_Check]:
    """``x-kubernetes-validations`` rules; one that does not compile is left to validate_crd."""
    found: list[_Check] = []
    for validation in schema.get("x-kubernetes-validations") or ():
        if not isinstance(validation, dict):
            continue
        try:
            check = cel.rule_check(validation)
        except cel.RuleError:
            continue
        if check is not None:
            found.append(check)
    return found


def _build_checks(schema: dict[str, Any], node: _Node) -> list[_Check]:
    checks: list[_Check] = []
    enum = schema.get("enum")
    if isinstance(enum, list):
        checks.append(_enum_check(enum))
    checks.extend(_string_checks(schema))
    checks.extend(_number_checks(schema))
    checks.extend(_array_checks(schema))
    checks.extend(_object_checks(schema, node))
    checks.extend(_cel_checks(schema))
    checks.extend(_junctor_checks(schema))
    return checks


def _enum_check(enum: list[Any]) -> _Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        for allowed in enum:
            if _json_equal(value, allowed):
                return
        causes.append(_not_supported(path, value, enum))

    return check


def _int(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _string_checks(schema: dict[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    max_length = _int(schema, "maxLength")
    min_length = _int(schema, "minLength")
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    validator = _FORMATS.get(fmt.replace("-", "").lower()) if isinstance(fmt, str) else None

    if max_length is not None:

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and len(value) > max_length:
                unit = "byte" if max_length == 1 else "bytes"
                causes.append(
                    Cause(path, f"Too long: may not be more than {max_length} {unit}", _TOO_LONG)
                )

        checks.append(check_max)
    if min_length is not None:

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and len(value) < min_length:
                causes.append(
                    _invalid(
                        path, value, f"{_subject(path)} should be at least {min_length} chars long"
                    )
                )

        checks.append(check_min)
    if isinstance(pattern, str) and pattern:
        regex = _compile_pattern(pattern)

        def check_pattern(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and regex is not None and regex.search(value) is None:
                causes.append(_invalid(path, value, f"{_subject(path)} should match '{pattern}'"))

        checks.append(check_pattern)
    if validator is not None and isinstance(fmt, str):

        def check_format(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and not validator(value):
                causes.append(
                    _invalid(
                        path,
                        value,
                        f"{_subject(path)} must be of type {fmt}: {json.dumps(value)}",
                        _TYPE_INVALID,
                    )
                )

        checks.append(check_format)
    return checks


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _number_checks(schema: dict[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    maximum = _number(schema, "maximum")
    minimum = _number(schema, "minimum")
    multiple = _number(schema, "multipleOf")
    exclusive_max = schema.get("exclusiveMaximum") is True
    exclusive_min = schema.get("exclusiveMinimum") is True
    if maximum is not None:
        bound = maximum
        word = "less than" if exclusive_max else "less than or equal to"

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if _is_number(value) and (value >= bound if exclusive_max else value > bound):
                causes.append(
                    _invalid(path, value, f"{_subject(path)} should be {word} {_go_float(bound)}")
                )

        checks.append(check_max)
    if minimum is not None:
        low = minimum
        low_word = "greater than" if exclusive_min else "greater than or equal to"

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if _is_number(value) and (value <= low if exclusive_min else value < low):
                causes.append(
                    _invalid(path, value, f"{_subject(path)} should be {low_word} {_go_float(low)}")
                )

        checks.append(check_min)
    if multiple is not None and multiple > 0:
        factor = multiple

        def check_multiple(value: Any, path: str, causes: list[Cause]) -> None:
            if _is_number(value):
                quotient = value / factor
                if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                    causes.append(
                        _invalid(
                            path,
                            value,
                            f"{_subject(path)} should be a multiple of {_go_float(factor)}",
                        )
                    )

        checks.append(check_multiple)
    return checks


def _array_checks(schema: dict[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    max_items = _int(schema, "maxItems")
    min_items = _int(schema, "minItems")
    if max_items is not None:

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, list) and len(value) > max_items:
                noun = "item" if max_items == 1 else "items"
                causes.append(
                    Cause(
                        path,
                        f"Too many: {len(value)}: must have at most {max_items} {noun}",
                        _TOO_MANY,
                    )
                )

        checks.append(check_max)
    if min_items is not None:

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, list) and len(value) < min_items:
                causes.append(
                    _invalid(
                        path, len(value), f"{_subject(path)} should have at least {min_items} items"
                    )
                )

        checks.append(check_min)
    if schema.get("uniqueItems") is True:

        def check_unique(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, list) and len({_hashable(v) for v in value}) != len(value):
                causes.append(_invalid(path, "", f"{_subject(path)} shouldn't contain duplicates"))

        checks.append(check_unique)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        checks.append(_check_list_set)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys")
        if isinstance(keys, list) and keys:
            checks.append(_list_map_check(tuple(str(k) for k in keys)))
    return checks


def _check_list_set(value: Any, path: str, causes: list[Cause]) -> None:
    """``x-kubernetes-list-type: set``: report the second appearance of each repeated element."""
    if not isinstance(value, list) or len(value) < 2:
        return
    seen: dict[Any, int] = {}
    for i, item in enumerate(value):
        key = _hashable(item)
        times = seen.get(key, 0)
        seen[key] = times + 1
        if times == 1:
            causes.append(
                Cause(f"{path}[{i}]", f"Duplicate value: {format_value(item)}", _DUPLICATE)
            )


def _list_map_check(keys: tuple[str, ...]) -> _Check:
    """``x-kubernetes-list-type: map``: elements are objects, unique by their key fields."""

    def check(value: Any, path: str, causes: list[Cause]) -> None:
        if not isinstance(value, list):
            return
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, dict):
                causes.append(
                    _invalid(
                        f"{path}[{i}]", item, "must be an object for an array of list-type map"
                    )
                )
                return
        seen: dict[Any, int] = {}
        for i, item in enumerate(value):
            entry = {k: item[k] for k in keys if isinstance(item, dict) and k in item}
            key = _hashable(entry)
            times = seen.get(key, 0)
            seen[key] = times + 1
            if times == 1:
                causes.append(
                    Cause(f"{path}[{i}]", f"Duplicate value: {format_value(entry)}", _DUPLICATE)
                )

    return check


def _object_checks(schema: dict[str, Any], node: _Node) -> list[_Check]:
    checks: list[_Check] = []
    required = schema.get("required")
    if isinstance(required, list) and required:
        names = tuple(str(r) for r in required)

        def check_required(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, dict):
                for name in names:
                    if name not in value:
                        causes.append(_required(_child(path, name)))

        checks.append(check_required)
    max_props = _int(schema, "maxProperties")
    min_props = _int(schema, "minProperties")
    if max_props is not None:

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, dict) and len(value) > max_props:
                noun = "item" if max_props == 1 else "items"
                causes.append(
                    Cause(
                        path,
                        f"Too many: {len(value)}: must have at most {max_props} {noun}",
                        _TOO_MANY,
                    )
                )

        checks.append(check_max)
    if min_props is not None:

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, dict) and len(value) < min_props:
                causes.append(
                    _invalid(
                        path,
                        len(value),
                        f"{_subject(path)} should have at least {min_props} properties",
                    )
                )

        checks.append(check_min)
    if node.embedded:
        checks.append(_check_embedded_type_meta)
    return checks


def _check_embedded_type_meta(value: Any, path: str, causes: list[Cause]) -> None:
    """An embedded resource needs apiVersion and kind (kube-apiserver's objectmeta.Validate)."""
    if not isinstance(value, dict):
        return
    for key in ("apiVersion", "kind"):
        if key not in value:
            causes.append(_required(_child(path, key)))
        elif not isinstance(value[key], str):
            causes.append(_invalid(_child(path, key), value[key], "must be a string"))
        elif not value[key]:
            causes.append(_invalid(_child(path, key), "", "must not be empty"))


def _junctor_checks(schema: dict[str, Any]) -> list[_Check]:
    """allOf/anyOf/oneOf/not only validate; pruning and defaulting never look into them."""
    checks: list[_Check] = []
    all_of = _branches(schema.get("allOf"))
    any_of = _branches(schema.get("anyOf"))
    one_of = _branches(schema.get("oneOf"))
    not_schema = schema.get("not")
    if all_of:
        checks.append(_all_of_check(all_of))
    if any_of:
        checks.append(_any_of_check(any_of))
    if one_of:
        checks.append(_one_of_check(one_of))
    if isinstance(not_schema, dict):
        negated = _compile(not_schema)

        def check_not(value: Any, path: str, causes: list[Cause]) -> None:
            if not _validate_only(value, negated, path):
                causes.append(
                    _invalid(path, "", f"{json.dumps(path)} must not validate the schema (not)")
                )

        checks.append(check_not)
    return checks


def _branches(value: Any) -> tuple[_Node, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(_compile(branch) for branch in value if isinstance(branch, dict))


def _all_of_check(branches: tuple[_Node, ...]) -> _Check:
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
                _invalid(
                    path, "", f"{json.dumps(path)} must validate all the schemas (allOf){suffix}"
                )
            )

    return check


def _any_of_check(branches: tuple[_Node, ...]) -> _Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        best: list[Cause] | None = None
        for branch in branches:
            errors = _validate_only(value, branch, path)
            if not errors:
                return
            if best is None or len(errors) < len(best):
                best = errors
        causes.append(
            _invalid(path, "", f"{json.dumps(path)} must validate at least one schema (anyOf)")
        )
        causes.extend(best or ())

    return check


def _one_of_check(branches: tuple[_Node, ...]) -> _Check:
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
            _invalid(
                path,
                "",
                f"{json.dumps(path)} must validate one and only one schema (oneOf). {detail}",
            )
        )
        if valid == 0:
            causes.extend(best or ())

    return check


def _validate_only(value: Any, node: _Node, path: str) -> list[Cause]:
    """Validate ``value`` against a junctor branch: no pruning, no defaults."""
    causes: list[Cause] = []
    got = _json_type(value)
    if not _type_ok(node, value, got):
        causes.append(_type_error(path, node.type_label, got))
        return causes
    for check in node.checks:
        check(value, path, causes)
    if isinstance(value, dict):
        for key, child in value.items():
            sub = node.properties.get(key) if node.properties else None
            sub = sub or node.additional
            if sub is not None:
                causes.extend(_validate_only(child, sub, _child(path, key)))
    elif isinstance(value, list) and node.items is not None:
        for i, item in enumerate(value):
            causes.extend(_validate_only(item, node.items, f"{path}[{i}]"))
    return causes


# --------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------


class _Walk:
    """State of one :func:`process` call."""

    __slots__ = ("causes", "track", "unknown")

    def __init__(self) -> None:
        self.causes: list[Cause] = []
        self.unknown: list[str] = []
        #: Off while a default value is walked: a default's fields are not the user's.
        self.track = True

    def value(self, value: Any, node: _Node, path: str, preserve: bool) -> Any:
        """Prune, default and validate one value; returns the new value."""
        mark = len(self.causes)
        kind = type(value)
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            out: Any = self.object(value, node, path, preserve or node.preserve, False)
        elif kind is list or isinstance(value, tuple):
            out = self.array(value, node, path, preserve or node.preserve)
        else:
            out = value
        got = _JSON_TYPES.get(type(out)) or _json_type(out)
        if not _type_ok(node, out, got):
            self.causes.insert(mark, _type_error(path, node.type_label, got))
            return out
        if node.checks and not (out is None and node.nullable):
            found: list[Cause] = []
            for check in node.checks:
                check(out, path, found)
            if found:
                self.causes[mark:mark] = found
        return out

    def object(
        self, value: Mapping[str, Any], node: _Node, path: str, preserve: bool, root: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        properties = node.properties
        keep_meta = root or node.embedded
        for key, child_value in value.items():
            child = properties.get(key) if properties is not None else None
            if child is None or (keep_meta and key in _META_KEYS):
                if keep_meta and key in _META_KEYS:
                    out[key] = _copy(child_value)
                    continue
                child = node.additional
                if child is None:
                    if preserve or node.keep_additional:
                        out[key] = _copy(child_value)
                    elif self.track:
                        self.unknown.append(_child(path, key))
                    continue
            if child_value is None and not child.nullable:
                if not child.has_default:
                    continue  # a non-nullable null without a default is dropped
                child_value = child.default
            out[key] = self.value(child_value, child, _child(path, key), False)
        for key, child in node.defaulted:
            if key not in out and not (keep_meta and key in _META_KEYS):
                self.track, saved = False, self.track
                out[key] = self.value(child.default, child, _child(path, key), False)
                self.track = saved
        return out

    def array(
        self, value: list[Any] | tuple[Any, ...], node: _Node, path: str, preserve: bool
    ) -> list[Any]:
        items = node.items
        if items is None:
            if preserve:
                return [_copy(v) for v in value]
            items = _EMPTY
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
        return SchemaResult(obj=_copy(obj))
    node = _compiled(schema)
    walk = _Walk()
    if not isinstance(obj, Mapping):
        walk.causes.append(_type_error("", "object", _json_type(obj)))
        return SchemaResult(obj={}, causes=walk.causes)
    out = walk.object(obj, node, "", node.preserve, True)
    root_causes: list[Cause] = []
    for check in node.checks:
        check(out, "", root_causes)
    walk.causes[0:0] = root_causes
    walk.unknown.sort()
    return SchemaResult(obj=out, unknown_fields=walk.unknown, causes=walk.causes)


# --------------------------------------------------------------------------------------------
# CustomResourceDefinition defaults and validation
# --------------------------------------------------------------------------------------------


def crd_defaults(crd: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``crd`` with what kube-apiserver fills in (SetDefaults_CustomResourceDefinition).

    ``names.singular`` = lower-case kind, ``names.listKind`` = kind + "List",
    ``conversion.strategy`` = None, ``scope`` = Namespaced. ``served``/``storage`` stay as given.
    """
    out: dict[str, Any] = _copy(crd)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    names = spec.get("names")
    if isinstance(names, dict):
        kind = names.get("kind")
        if isinstance(kind, str) and kind:
            if not names.get("singular"):
                names["singular"] = kind.lower()
            if not names.get("listKind"):
                names["listKind"] = kind + "List"
    if not spec.get("scope"):
        spec["scope"] = "Namespaced"
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    elif not spec["conversion"].get("strategy"):
        spec["conversion"]["strategy"] = "None"
    return out


_PRINTER_TYPES: Final = ("boolean", "date", "integer", "number", "string")
_PRINTER_FORMATS: Final = (
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
)
_OPENAPI_TYPES: Final = ("array", "boolean", "integer", "number", "object", "string")
_ROOT_STATUS_KEYS: Final = frozenset(
    {
        "description",
        "type",
        "format",
        "title",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "required",
        "items",
        "properties",
        "externalDocs",
        "example",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
    }
)
_UNSUPPORTED_KEYWORDS: Final = (
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
    ("$ref", "$ref is not supported"),
)
#: Keywords a structural schema forbids inside allOf/anyOf/oneOf/not, with the k8s wording.
_NESTED_FORBIDDEN: Final = (
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
)
_DNS1123_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(_DNS1123_MSG)
    return errors


def _dns1035_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS1035_LABEL_RE.match(value):
        errors.append(_DNS1035_MSG)
    return errors


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


def validate_crd(crd: dict[str, Any]) -> list[Cause]:
    """What kube-apiserver refuses in a CustomResourceDefinition (after :func:`crd_defaults`)."""
    causes: list[Cause] = []
    if not isinstance(crd, dict):
        return [_invalid("", _json_type(crd), "must be an object", _TYPE_INVALID)]
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        causes.append(_required("spec"))
        spec = {}
    names = spec.get("names")
    if not isinstance(names, dict):
        names = {}
    group = spec.get("group")
    group = group if isinstance(group, str) else ""
    plural = names.get("plural")
    plural = plural if isinstance(plural, str) else ""
    _validate_crd_name(crd.get("metadata"), plural, group, causes)
    _validate_group(group, causes)
    _validate_scope(spec.get("scope"), causes)
    _validate_names(names, causes)
    _validate_versions(spec.get("versions"), causes)
    _validate_conversion(spec.get("conversion"), causes)
    return causes


def _validate_crd_name(metadata: Any, plural: str, group: str, causes: list[Cause]) -> None:
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        causes.append(_required("metadata.name", "name or generateName is required"))
        return
    errors = _dns1123_subdomain_errors(name)
    if name != f"{plural}.{group}":
        errors.append('must be spec.names.plural+"."+spec.group')
    for error in errors:
        causes.append(_invalid("metadata.name", name, error))


def _validate_group(group: str, causes: list[Cause]) -> None:
    if not group:
        causes.append(_required("spec.group"))
    elif errors := _dns1123_subdomain_errors(group):
        causes.append(_invalid("spec.group", group, ",".join(errors)))
    elif "." not in group:
        causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))


def _validate_scope(scope: Any, causes: list[Cause]) -> None:
    if not scope:
        causes.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(_not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))


def _validate_names(names: dict[str, Any], causes: list[Cause]) -> None:
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        path = f"spec.names.{key}"
        if not isinstance(value, str) or not value:
            causes.append(_required(path))
            continue
        if key in ("plural", "singular"):
            if errors := _dns1035_errors(value):
                causes.append(_invalid(path, value, ",".join(errors)))
        elif errors := _dns1035_errors(value.lower()):
            causes.append(
                _invalid(
                    path,
                    value,
                    "may have mixed case, but should otherwise match: " + ",".join(errors),
                )
            )
    kind, list_kind = names.get("kind"), names.get("listKind")
    if isinstance(kind, str) and kind and kind == list_kind:
        causes.append(
            _invalid("spec.names.listKind", list_kind, "kind and listKind may not be the same")
        )
    for key in ("shortNames", "categories"):
        values = names.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            causes.append(
                _invalid(f"spec.names.{key}", values, "must be a list of strings", _TYPE_INVALID)
            )
            continue
        for i, value in enumerate(values):
            errors = _dns1035_errors(value) if isinstance(value, str) else ["must be a string"]
            if errors:
                causes.append(_invalid(f"spec.names.{key}[{i}]", value, ",".join(errors)))


def _validate_versions(versions: Any, causes: list[Cause]) -> None:
    if not isinstance(versions, list) or not versions:
        causes.append(
            _required("spec.versions", "must have exactly one version marked as storage version")
        )
        return
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            causes.append(_invalid(path, version, "must be an object", _TYPE_INVALID))
            continue
        name = version.get("name")
        if not isinstance(name, str) or not name:
            causes.append(_required(f"{path}.name"))
        else:
            if errors := _dns1035_errors(name):
                causes.append(_invalid(f"{path}.name", name, ",".join(errors)))
            if name in seen:
                causes.append(_invalid("spec.versions", name, "must contain unique version names"))
            seen.add(name)
        if version.get("storage") is True:
            storage += 1
        _validate_version(version, path, causes)
    if storage != 1:
        causes.append(
            _invalid(
                "spec.versions", storage, "must have exactly one version marked as storage version"
            )
        )


def _validate_version(version: dict[str, Any], path: str, causes: list[Cause]) -> None:
    subresources = version.get("subresources")
    has_status = isinstance(subresources, dict) and "status" in subresources
    if subresources is not None:
        _validate_subresources(subresources, f"{path}.subresources", causes)
    schema_holder = version.get("schema")
    schema = schema_holder.get("openAPIV3Schema") if isinstance(schema_holder, dict) else None
    schema_path = f"{path}.schema.openAPIV3Schema"
    if not isinstance(schema, dict):
        causes.append(_required(schema_path))
    else:
        _validate_root_schema(schema, schema_path, has_status, causes)
    columns = version.get("additionalPrinterColumns")
    if isinstance(columns, list):
        for i, column in enumerate(columns):
            _validate_column(column, f"{path}.additionalPrinterColumns[{i}]", causes)
    elif columns is not None:
        causes.append(
            _invalid(f"{path}.additionalPrinterColumns", columns, "must be a list", _TYPE_INVALID)
        )


def _validate_subresources(subresources: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(subresources, dict):
        causes.append(_invalid(path, subresources, "must be an object", _TYPE_INVALID))
        return
    status = subresources.get("status")
    if "status" in subresources and not isinstance(status, dict):
        causes.append(_invalid(f"{path}.status", status, "must be an object", _TYPE_INVALID))
    scale = subresources.get("scale")
    if isinstance(scale, dict):
        for key, under in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
            value = scale.get(key)
            if not isinstance(value, str) or not value:
                causes.append(_required(f"{path}.scale.{key}"))
            elif not value.startswith(under):
                causes.append(
                    _invalid(
                        f"{path}.scale.{key}", value, f"should be a json path under {under[:-1]}"
                    )
                )


def _validate_column(column: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(column, dict):
        causes.append(_invalid(path, column, "must be an object", _TYPE_INVALID))
        return
    if not column.get("name"):
        causes.append(_required(f"{path}.name"))
    kind = column.get("type")
    allowed = ",".join(_PRINTER_TYPES)
    if not kind:
        causes.append(_required(f"{path}.type", f"must be one of {allowed}"))
    elif kind not in _PRINTER_TYPES:
        causes.append(_invalid(f"{path}.type", kind, f"must be one of {allowed}"))
    fmt = column.get("format")
    if fmt and fmt not in _PRINTER_FORMATS:
        causes.append(
            _invalid(f"{path}.format", fmt, f"must be one of {','.join(_PRINTER_FORMATS)}")
        )
    json_path = column.get("jsonPath")
    if not isinstance(json_path, str) or not json_path:
        causes.append(_required(f"{path}.jsonPath"))
    elif not json_path.startswith("."):
        causes.append(
            _invalid(f"{path}.jsonPath", json_path, "must be a simple json path starting with .")
        )
    else:
        from statestore import jsonpath  # local: jsonpath is a sibling leaf module

        try:
            jsonpath.compile_path(json_path)
        except jsonpath.JSONPathError as exc:
            causes.append(_invalid(f"{path}.jsonPath", json_path, f"is an invalid path: {exc}"))


def _validate_conversion(conversion: Any, causes: list[Cause]) -> None:
    if not isinstance(conversion, dict):
        return
    strategy = conversion.get("strategy")
    if not strategy:
        causes.append(_required("spec.conversion.strategy"))
    elif strategy not in ("None", "Webhook"):
        causes.append(_not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))


def _validate_root_schema(
    schema: dict[str, Any], path: str, has_status: bool, causes: list[Cause]
) -> None:
    if has_status:
        if schema.get("type", "object") != "object":
            causes.append(
                _invalid(
                    f"{path}.type",
                    schema.get("type"),
                    'only "object" is allowed '
                    "as the type at the root of the schema if the status "
                    "subresource is enabled",
                )
            )
        extra = sorted(k for k in schema if k not in _ROOT_STATUS_KEYS)
        if extra:
            causes.append(
                _invalid(
                    path,
                    "",
                    f"only {sorted(_ROOT_STATUS_KEYS)} fields are "
                    "allowed at the root of the schema if the status subresource "
                    f"is enabled (found {extra})",
                )
            )
    if schema.get("nullable") is True:
        causes.append(_forbidden(f"{path}.nullable", "nullable cannot be true at the root"))
    if "type" in schema and schema.get("type") != "object":
        causes.append(_invalid(f"{path}.type", schema.get("type"), "must be object at the root"))
    if "additionalProperties" in schema:
        causes.append(_forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict):
        _validate_root_metadata(metadata, _key(f"{path}.properties", "metadata"), causes)
    _SchemaChecker(causes).node(schema, path, _Level.ROOT, meta=False)


def _validate_root_metadata(schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    """At the root, metadata may only restrict name and generateName."""
    if schema.get("type", "object") != "object":
        causes.append(_invalid(f"{path}.type", schema.get("type"), "must be object"))
    rest = {k: v for k, v in schema.items() if k not in ("type", "properties", "description")}
    props = schema.get("properties") or {}
    extra_props = set(props) - {"name", "generateName"} if isinstance(props, dict) else {"?"}
    if rest or extra_props:
        causes.append(
            _forbidden(
                path,
                "must not specify anything other than name and "
                "generateName, but metadata is implicitly specified",
            )
        )


class _Level:
    ROOT = "root"
    ITEM = "item"
    FIELD = "field"


_EMPTY_TYPE_DETAIL: Final = {
    _Level.ROOT: "must not be empty at the root",
    _Level.ITEM: "must not be empty for specified array items",
    _Level.FIELD: "must not be empty for specified object fields",
}


class _SchemaChecker:
    """Structural-schema rules (apiextensions validation + schema.ValidateStructural)."""

    def __init__(self, causes: list[Cause]) -> None:
        self.causes = causes

    def add(self, cause: Cause) -> None:
        self.causes.append(cause)

    def node(self, schema: Any, path: str, level: str, *, meta: bool) -> None:
        if not isinstance(schema, dict):
            self.add(_invalid(path, schema, "must be an object", _TYPE_INVALID))
            return
        self.keywords(schema, path, meta)
        self.structure(schema, path, level)
        self.extensions(schema, path)
        self.default(schema, path, meta)
        self.children(schema, path, level, meta)
        for junctor in ("allOf", "anyOf", "oneOf"):
            branches = schema.get(junctor)
            if isinstance(branches, list):
                if junctor == "anyOf" and _is_int_or_string_pattern(branches):
                    continue
                for i, branch in enumerate(branches):
                    self.nested(branch, f"{path}.{junctor}[{i}]")
        if "not" in schema:
            self.nested(schema["not"], f"{path}.not")

    def keywords(self, schema: dict[str, Any], path: str, meta: bool) -> None:
        kind = schema.get("type")
        if kind == "null":
            self.add(
                _forbidden(
                    f"{path}.type", "type cannot be set to null, use nullable as an alternative"
                )
            )
        elif kind is not None and kind not in _OPENAPI_TYPES:
            self.add(_not_supported(f"{path}.type", kind, _OPENAPI_TYPES))
        for key, detail in _UNSUPPORTED_KEYWORDS:
            if key in schema:
                self.add(_forbidden(f"{path}.{key}", detail))
        if isinstance(schema.get("items"), list):
            self.add(_forbidden(f"{path}.items", "items must be a schema object and not an array"))
        if schema.get("uniqueItems") is True:
            self.add(
                _forbidden(
                    f"{path}.uniqueItems",
                    "uniqueItems cannot be set to true since "
                    "the runtime complexity becomes quadratic",
                )
            )
        if meta and schema.get("x-kubernetes-embedded-resource") is True:
            self.add(
                _forbidden(
                    f"{path}.x-kubernetes-embedded-resource",
                    "must not be used inside of resource meta",
                )
            )
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and _compile_pattern(pattern) is None:
            self.add(
                _invalid(
                    f"{path}.pattern", pattern, "must be a valid regular expression, but isn't"
                )
            )
        if "additionalProperties" in schema and schema.get("properties"):
            additional = schema["additionalProperties"]
            if additional is not True:
                self.add(
                    _forbidden(
                        f"{path}.additionalProperties",
                        "additionalProperties and properties are mutual exclusive",
                    )
                )

    def structure(self, schema: dict[str, Any], path: str, level: str) -> None:
        for index, validation in enumerate(schema.get("x-kubernetes-validations") or ()):
            rule = validation.get("rule") if isinstance(validation, dict) else None
            where = f"{path}.x-kubernetes-validations[{index}].rule"
            if not isinstance(rule, str) or not rule:
                self.add(_required(where))
                continue
            try:
                cel.compile_rule(rule)
            except cel.RuleError as error:
                self.add(_invalid(where, rule, str(error)))
        kind = schema.get("type")
        int_or_string = schema.get("x-kubernetes-int-or-string") is True
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        if embedded and kind != "object":
            if not kind:
                self.add(
                    _required(
                        f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"
                    )
                )
            else:
                self.add(
                    _invalid(
                        f"{path}.type",
                        kind,
                        "must be object if x-kubernetes-embedded-resource is true",
                    )
                )
        elif not kind and not int_or_string and not preserve:
            self.add(_required(f"{path}.type", _EMPTY_TYPE_DETAIL[level]))
        if kind == "array" and not isinstance(schema.get("items"), dict):
            self.add(_required(f"{path}.items", "must be specified"))
        if embedded and "additionalProperties" in schema:
            self.add(
                _forbidden(
                    f"{path}.additionalProperties",
                    "must not be used if x-kubernetes-embedded-resource is set",
                )
            )
        if embedded and not preserve and not schema.get("properties"):
            self.add(
                _required(
                    f"{path}.properties",
                    "must not be empty if "
                    "x-kubernetes-embedded-resource is true without "
                    "x-kubernetes-preserve-unknown-fields",
                )
            )

    def extensions(self, schema: dict[str, Any], path: str) -> None:
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            self.add(
                _invalid(
                    f"{path}.x-kubernetes-preserve-unknown-fields",
                    preserve,
                    "must be true or undefined",
                )
            )
        if schema.get("x-kubernetes-int-or-string") is True:
            if preserve is True:
                self.add(
                    _invalid(
                        f"{path}.x-kubernetes-preserve-unknown-fields",
                        True,
                        "must be false if x-kubernetes-int-or-string is true",
                    )
                )
            if schema.get("x-kubernetes-embedded-resource") is True:
                self.add(
                    _invalid(
                        f"{path}.x-kubernetes-embedded-resource",
                        True,
                        "must be false if x-kubernetes-int-or-string is true",
                    )
                )
        self.list_type(schema, path)

    def list_type(self, schema: dict[str, Any], path: str) -> None:
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys")
        if list_type is not None:
            if schema.get("type") != "array":
                self.add(
                    _invalid(
                        f"{path}.type",
                        schema.get("type"),
                        "must be array if x-kubernetes-list-type is specified",
                    )
                )
            if list_type not in ("atomic", "set", "map"):
                self.add(
                    _not_supported(
                        f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]
                    )
                )
        if keys and list_type != "map":
            self.add(
                _invalid(
                    f"{path}.x-kubernetes-list-type",
                    list_type,
                    "must be map if x-kubernetes-list-map-keys is non-empty",
                )
            )
        if list_type != "map":
            return
        if not isinstance(keys, list) or not keys:
            self.add(
                _required(
                    f"{path}.x-kubernetes-list-map-keys",
                    "must not be empty if x-kubernetes-list-type is map",
                )
            )
            return
        items = schema.get("items")
        if not isinstance(items, dict) or items.get("type") != "object":
            self.add(
                _invalid(
                    f"{path}.items.type",
                    items.get("type") if isinstance(items, dict) else None,
                    "must be object if parent array's x-kubernetes-list-type is map",
                )
            )
            return
        props = items.get("properties") or {}
        required = items.get("required") or []
        if len(set(keys)) != len(keys):
            self.add(
                _invalid(
                    f"{path}.x-kubernetes-list-map-keys", keys, "must not contain duplicate entries"
                )
            )
        for key in keys:
            prop = props.get(key) if isinstance(props, dict) else None
            prop_path = _key(f"{path}.items.properties", str(key))
            if not isinstance(prop, dict):
                self.add(
                    _invalid(
                        f"{path}.x-kubernetes-list-map-keys",
                        keys,
                        "entries must all be names of item properties",
                    )
                )
                continue
            if prop.get("type") in ("array", "object"):
                self.add(
                    _invalid(
                        f"{prop_path}.type",
                        prop.get("type"),
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    )
                )
            if key not in required and "default" not in prop:
                self.add(
                    _required(
                        f"{prop_path}.default",
                        "this property is in "
                        "x-kubernetes-list-map-keys, so it must have a default or be "
                        "a required property",
                    )
                )

    def default(self, schema: dict[str, Any], path: str, meta: bool) -> None:
        if "default" not in schema:
            return
        if meta:
            self.add(_forbidden(f"{path}.default", "must not be set in top-level metadata"))
            return
        default = schema["default"]
        node = _compile(schema)
        walk = _Walk()
        walk.value(default, node, "", node.preserve)
        where = f"{path}.default"
        if walk.unknown:
            self.add(_invalid(where, default, "must not have unknown fields"))
        for cause in walk.causes:
            self.add(
                Cause(
                    f"{where}.{cause.field}" if cause.field else where, cause.message, cause.reason
                )
            )

    def children(self, schema: dict[str, Any], path: str, level: str, meta: bool) -> None:
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, prop in props.items():
                if level == _Level.ROOT and name == "metadata":
                    continue  # checked by _validate_root_metadata
                # Defaults are forbidden in the TypeMeta fields at the root.
                child_meta = meta or (level == _Level.ROOT and name in _META_KEYS)
                self.node(prop, _key(f"{path}.properties", name), _Level.FIELD, meta=child_meta)
        elif props is not None:
            self.add(_invalid(f"{path}.properties", props, "must be an object", _TYPE_INVALID))
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            self.node(additional, f"{path}.additionalProperties", _Level.FIELD, meta=meta)
        items = schema.get("items")
        if isinstance(items, dict):
            self.node(items, f"{path}.items", _Level.ITEM, meta=meta)

    def nested(self, schema: Any, path: str) -> None:
        """allOf/anyOf/oneOf/not: value validation only, nothing that shapes the object."""
        if not isinstance(schema, dict):
            self.add(_invalid(path, schema, "must be an object", _TYPE_INVALID))
            return
        for key, detail in _NESTED_FORBIDDEN:
            if key in schema and schema[key] not in (False, None, "", [], {}):
                self.add(_forbidden(f"{path}.{key}", detail))
        props = schema.get("properties")
        if isinstance(props, dict):
            if "metadata" in props:
                self.add(
                    _forbidden(
                        _key(f"{path}.properties", "metadata"),
                        "must not be specified in a nested context",
                    )
                )
            for name, prop in props.items():
                self.nested(prop, _key(f"{path}.properties", name))
        if isinstance(schema.get("items"), dict):
            self.nested(schema["items"], f"{path}.items")
        for junctor in ("allOf", "anyOf", "oneOf"):
            branches = schema.get(junctor)
            if isinstance(branches, list):
                for i, branch in enumerate(branches):
                    self.nested(branch, f"{path}.{junctor}[{i}]")
        if "not" in schema:
            self.nested(schema["not"], f"{path}.not")


def _is_int_or_string_pattern(branches: list[Any]) -> bool:
    """The anyOf [{type: integer}, {type: string}] that int-or-string fields may carry."""
    return [b for b in branches if isinstance(b, dict)] == [{"type": "integer"}, {"type": "string"}]
