"""CEL validation rules of CRD schemas (``x-kubernetes-validations``), as kube-apiserver runs them.

Each rule is compiled once per schema node (with ``cel-python``) and evaluated with ``self``
bound to the node's value, after the value passed its type and format checks. A rule that
evaluates to false (or fails to evaluate) is a cause at that node's field path, with the
rule's ``message`` (or "failed rule: RULE"). ``oldSelf`` (transition rules) is not bound:
rules that use it are skipped, as the store validates each object on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import celpy
import celpy.adapter
import celpy.celtypes

from statestore.errors import Cause

_ENVIRONMENT = celpy.Environment()

Check = Callable[[Any, str, list[Cause]], None]


class RuleError(ValueError):
    """A rule that does not compile; the CRD that carries it is invalid."""


def compile_rule(rule: str) -> Any:
    try:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(rule))
    except Exception as error:  # celpy raises its own parser errors
        raise RuleError(f"compilation failed: {error}") from error


def _field(path: str, field_path: str) -> str:
    if not field_path:
        return path
    return f"{path}{field_path}" if field_path.startswith(("[", ".")) else f"{path}.{field_path}"


def rule_check(validation: dict[str, Any]) -> Check | None:
    """The check of one ``x-kubernetes-validations`` entry (``None`` for transition rules)."""
    rule = str(validation.get("rule", ""))
    if "oldSelf" in rule:
        return None
    program = compile_rule(rule)
    message = str(validation.get("message") or f"failed rule: {rule}")
    reason = str(validation.get("reason") or "FieldValueInvalid")
    field_path = str(validation.get("fieldPath") or "")

    def check(value: Any, path: str, causes: list[Cause]) -> None:
        try:
            result = program.evaluate({"self": celpy.adapter.json_to_cel(value)})
        except Exception as error:  # an evaluation error fails the rule, as in Kubernetes
            result = error
        if result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            return
        detail = message
        if isinstance(result, Exception):
            detail = f"{message} (evaluation error: {result})"
        causes.append(Cause(_field(path, field_path), f"Invalid value: {detail}", reason))

    return check
