"""Value validations of one schema node (enum, string, number, array, object, CEL rules),
each built once per node as a closure that appends causes."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sized
from typing import Any

from statestore import cel
from statestore.errors import Cause
from statestore.schema import formats, jsonvalues, messages

Check = Callable[[Any, str, list[Cause]], None]


def cel_checks(schema: dict[str, Any]) -> list[Check]:
    """``x-kubernetes-validations`` rules; one that does not compile is left to validate_crd."""
    found: list[Check] = []
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


def enum_check(enum: list[Any]) -> Check:
    def check(value: Any, path: str, causes: list[Cause]) -> None:
        for allowed in enum:
            if jsonvalues.json_equal(value, allowed):
                return
        causes.append(messages.not_supported(path, value, enum))

    return check


def _int(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def string_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    max_length = _int(schema, "maxLength")
    min_length = _int(schema, "minLength")
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    validator = formats.FORMATS.get(fmt.replace("-", "").lower()) if isinstance(fmt, str) else None

    if max_length is not None:

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and len(value) > max_length:
                unit = "byte" if max_length == 1 else "bytes"
                causes.append(
                    Cause(
                        path,
                        f"Too long: may not be more than {max_length} {unit}",
                        messages.TOO_LONG,
                    )
                )

        checks.append(check_max)
    if min_length is not None:

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and len(value) < min_length:
                causes.append(
                    messages.invalid(
                        path,
                        value,
                        f"{messages.subject(path)} should be at least {min_length} chars long",
                    )
                )

        checks.append(check_min)
    if isinstance(pattern, str) and pattern:
        regex = formats.compile_pattern(pattern)

        def check_pattern(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and regex is not None and regex.search(value) is None:
                causes.append(
                    messages.invalid(
                        path, value, f"{messages.subject(path)} should match '{pattern}'"
                    )
                )

        checks.append(check_pattern)
    if validator is not None and isinstance(fmt, str):

        def check_format(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, str) and not validator(value):
                causes.append(
                    messages.invalid(
                        path,
                        value,
                        f"{messages.subject(path)} must be of type {fmt}: {json.dumps(value)}",
                        messages.TYPE_INVALID,
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


def number_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
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
                    messages.invalid(
                        path,
                        value,
                        f"{messages.subject(path)} should be {word} {messages.go_float(bound)}",
                    )
                )

        checks.append(check_max)
    if minimum is not None:
        low = minimum
        low_word = "greater than" if exclusive_min else "greater than or equal to"

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if _is_number(value) and (value <= low if exclusive_min else value < low):
                causes.append(
                    messages.invalid(
                        path,
                        value,
                        f"{messages.subject(path)} should be {low_word} {messages.go_float(low)}",
                    )
                )

        checks.append(check_min)
    if multiple is not None and multiple > 0:
        factor = multiple

        def check_multiple(value: Any, path: str, causes: list[Cause]) -> None:
            if _is_number(value):
                quotient = value / factor
                if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                    causes.append(
                        messages.invalid(
                            path,
                            value,
                            (
                                f"{messages.subject(path)} should be a "
                                f"multiple of {messages.go_float(factor)}"
                            ),
                        )
                    )

        checks.append(check_multiple)
    return checks


def array_checks(schema: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    checks.extend(_size_checks(list, _int(schema, "maxItems"), _int(schema, "minItems"), "items"))
    if schema.get("uniqueItems") is True:

        def check_unique(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, list) and len({jsonvalues.hashable(v) for v in value}) != len(
                value
            ):
                causes.append(
                    messages.invalid(
                        path, "", f"{messages.subject(path)} shouldn't contain duplicates"
                    )
                )

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
        key = jsonvalues.hashable(item)
        times = seen.get(key, 0)
        seen[key] = times + 1
        if times == 1:
            causes.append(
                Cause(
                    f"{path}[{i}]",
                    f"Duplicate value: {messages.format_value(item)}",
                    messages.DUPLICATE,
                )
            )


def _list_map_check(keys: tuple[str, ...]) -> Check:
    """``x-kubernetes-list-type: map``: elements are objects, unique by their key fields."""

    def check(value: Any, path: str, causes: list[Cause]) -> None:
        if not isinstance(value, list):
            return
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, dict):
                causes.append(
                    messages.invalid(
                        f"{path}[{i}]", item, "must be an object for an array of list-type map"
                    )
                )
                return
        seen: dict[Any, int] = {}
        for i, item in enumerate(value):
            entry = {k: item[k] for k in keys if isinstance(item, dict) and k in item}
            key = jsonvalues.hashable(entry)
            times = seen.get(key, 0)
            seen[key] = times + 1
            if times == 1:
                causes.append(
                    Cause(
                        f"{path}[{i}]",
                        f"Duplicate value: {messages.format_value(entry)}",
                        messages.DUPLICATE,
                    )
                )

    return check


def object_checks(schema: dict[str, Any], embedded: bool) -> list[Check]:
    checks: list[Check] = []
    required = schema.get("required")
    if isinstance(required, list) and required:
        names = tuple(str(r) for r in required)

        def check_required(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, dict):
                for name in names:
                    if name not in value:
                        causes.append(messages.required(messages.child(path, name)))

        checks.append(check_required)
    checks.extend(
        _size_checks(
            dict, _int(schema, "maxProperties"), _int(schema, "minProperties"), "properties"
        )
    )
    if embedded:
        checks.append(_check_embedded_type_meta)
    return checks


def _check_embedded_type_meta(value: Any, path: str, causes: list[Cause]) -> None:
    """An embedded resource needs apiVersion and kind (kube-apiserver's objectmeta.Validate)."""
    if not isinstance(value, dict):
        return
    for key in ("apiVersion", "kind"):
        if key not in value:
            causes.append(messages.required(messages.child(path, key)))
        elif not isinstance(value[key], str):
            causes.append(
                messages.invalid(messages.child(path, key), value[key], "must be a string")
            )
        elif not value[key]:
            causes.append(messages.invalid(messages.child(path, key), "", "must not be empty"))


def _size_checks(
    container: type[Sized], maximum: int | None, minimum: int | None, unit: str
) -> list[Check]:
    """maxItems/minItems (lists) and maxProperties/minProperties (objects): one rule on size.

    The messages are kube's: "Too many: N: must have at most M item(s)" (TooMany) and
    "... should have at least M items|properties" (Invalid, the value being the size).
    """
    checks: list[Check] = []
    if maximum is not None:
        limit = maximum
        noun = "item" if limit == 1 else "items"

        def check_max(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, container) and len(value) > limit:
                causes.append(
                    Cause(
                        path,
                        f"Too many: {len(value)}: must have at most {limit} {noun}",
                        messages.TOO_MANY,
                    )
                )

        checks.append(check_max)
    if minimum is not None:
        least = minimum

        def check_min(value: Any, path: str, causes: list[Cause]) -> None:
            if isinstance(value, container) and len(value) < least:
                causes.append(
                    messages.invalid(
                        path,
                        len(value),
                        f"{messages.subject(path)} should have at least {least} {unit}",
                    )
                )

        checks.append(check_min)
    return checks
