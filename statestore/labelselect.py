"""``metav1.LabelSelector`` objects (matchLabels + matchExpressions) as Kubernetes matches them.

Used by ClusterRole aggregation and by admission policies' namespace and object selectors.
An empty selector matches everything; ``None`` (no selector) too, as in those two places.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statestore.errors import Cause

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key", "")
        operator = expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def validate(selector: Any, path: str) -> list[Cause]:
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [Cause(path, "Invalid value: must be a label selector object")]
    causes: list[Cause] = []
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        here = f"{path}.matchExpressions[{index}]"
        operator = (expression or {}).get("operator")
        values = (expression or {}).get("values") or []
        if operator not in OPERATORS:
            causes.append(
                Cause(
                    f"{here}.operator",
                    f'Unsupported value: "{operator}": supported values: '
                    + ", ".join(f'"{o}"' for o in OPERATORS),
                    "FieldValueNotSupported",
                )
            )
        elif operator in ("In", "NotIn") and not values:
            causes.append(
                Cause(
                    f"{here}.values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                    "FieldValueRequired",
                )
            )
        elif operator in ("Exists", "DoesNotExist") and values:
            causes.append(
                Cause(
                    f"{here}.values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    "FieldValueForbidden",
                )
            )
    return causes
