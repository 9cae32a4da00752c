"""Conditions in the shape of Kubernetes' metav1.Condition, and status write-back as a patch.

Every reconciler builds its conditions through :func:`condition` so that the rules hold for
every kind alike:

- ``lastTransitionTime`` changes only when ``status`` changes (a new reason or message alone
  keeps it), so "False since" is always readable from a condition;
- ``observedGeneration`` is set on each condition;
- ``status.message`` is the message of the first False condition
  (:func:`first_failing_message`; conditions are kept in a fixed order, ``Ready`` first).

:func:`merge_patch` turns "old status, new status" into the smallest JSON merge patch, so
a reconcile that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from api import meta


def now() -> datetime:
    """The current time as Kubernetes writes it: UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def condition(
    previous: Iterable[meta.Condition],
    *,
    type_: str,
    status: meta.ConditionStatus,
    reason: str,
    message: str = "",
    generation: int | None,
    at: datetime,
) -> meta.Condition:
    """The condition ``type_`` as it is now; its ``lastTransitionTime`` is kept from the
    previous condition of that type when the status did not change."""
    old = meta.find_condition(previous, type_)
    since = old.last_transition_time if old is not None and old.status == status else at
    return meta.Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def holds(conditions: Iterable[meta.Condition], type_: str) -> bool:
    """True when the condition ``type_`` is reported and its status is True."""
    found = meta.find_condition(conditions, type_)
    return found is not None and found.status == meta.ConditionStatus.TRUE


def first_failing_message(conditions: Sequence[meta.Condition]) -> str | None:
    """The message of the first False condition (``None`` when none is False or the False
    ones say nothing). Unknown is not failing: it means "not looked at yet"."""
    for cond in conditions:
        if cond.status == meta.ConditionStatus.FALSE and cond.message:
            return cond.message
    return None


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: changed keys with
    their new value, removed keys as ``None``, nested objects patched key by key, lists
    replaced whole. Empty when nothing changed."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch
