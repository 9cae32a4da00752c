"""Messages as kube-apiserver prints them: Go value formatting and field.Error causes.

The wording follows ``k8s.io/apimachinery/pkg/util/validation/field`` and kube-openapi, so
that ``kubectl`` users see the errors they know.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from statestore.errors import Cause

_REQUIRED: Final = "FieldValueRequired"
_INVALID: Final = "FieldValueInvalid"
TYPE_INVALID: Final = "FieldValueTypeInvalid"
_NOT_SUPPORTED: Final = "FieldValueNotSupported"
TOO_LONG: Final = "FieldValueTooLong"
TOO_MANY: Final = "FieldValueTooMany"
DUPLICATE: Final = "FieldValueDuplicate"
_FORBIDDEN: Final = "FieldValueForbidden"


def go_float(value: float) -> str:
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


def go_json(value: Any) -> str:
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
        return go_float(value)
    return go_json(value)


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, "Required value" + (f": {detail}" if detail else ""), _REQUIRED)


def invalid(path: str, value: Any, detail: str, reason: str = _INVALID) -> Cause:
    return Cause(path, f"Invalid value: {format_value(value)}: {detail}", reason)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, f"Forbidden: {detail}", _FORBIDDEN)


def not_supported(path: str, value: Any, supported: Iterable[Any]) -> Cause:
    quoted = ", ".join(
        json.dumps(v if isinstance(v, str) else go_json(v), ensure_ascii=False) for v in supported
    )
    return Cause(
        path,
        f"Unsupported value: {format_value(value)}: supported values: {quoted}",
        _NOT_SUPPORTED,
    )


def type_error(path: str, expected: str, got: str) -> Cause:
    return invalid(
        path, got, f"{subject(path)} must be of type {expected}: {json.dumps(got)}", TYPE_INVALID
    )


def subject(path: str) -> str:
    """How kube-openapi names a value in a message: ``spec.x in body``, or the body itself."""
    return f"{path} in body" if path else "body"


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
