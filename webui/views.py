"""What a page shows of a resource: plain functions from objects to display values."""

from __future__ import annotations

import datetime
from typing import Any

from api.workspace import RESTARTED_AT_ANNOTATION as RESTARTED_AT


def _parse(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: Any, *, now: datetime.datetime | None = None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d`` as kubectl shows ages; "" when unknown."""
    when = _parse(value)
    if when is None:
        return ""
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - when).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def ready(obj: dict[str, Any]) -> str:
    """ "True", "False" or "Unknown", as the Ready condition says."""
    found = condition(obj, "Ready")
    return str(found.get("status")) if found else "Unknown"


def first_failure(obj: dict[str, Any]) -> str:
    """The message of the first failing condition (``status.message``, else the first
    condition other than Ready that is not True)."""
    status = obj.get("status") or {}
    if status.get("message"):
        return str(status["message"])
    for item in status.get("conditions") or []:
        if item.get("type") != "Ready" and item.get("status") == "False" and item.get("message"):
            return str(item["message"])
    return ""


ACTIVITY_ANNOTATION = "wws.dev/lastActivityTime"


def held_idle(obj: dict[str, Any]) -> bool:
    """Stopped by the controller for idleness (``spec.running`` is still true): Start wakes
    it with the restart annotation."""
    return (obj.get("status") or {}).get("stopReason") == "Idle"


def wake_patch() -> dict[str, Any]:
    """The write that starts a workspace, also one held stopped for idleness: running, and
    a new ``wws.dev/restartedAt`` (a wake counts as activity)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"running": True}, "metadata": {"annotations": {RESTARTED_AT: now}}}


def last_activity(obj: dict[str, Any]) -> str | None:
    """The later of ``status.lastActivityTime`` and the editor proxy's annotation."""
    found = [
        (obj.get("status") or {}).get("lastActivityTime"),
        ((obj.get("metadata") or {}).get("annotations") or {}).get(ACTIVITY_ANNOTATION),
    ]
    stamps = [(when, text) for text in found if (when := _parse(text)) is not None]
    return max(stamps)[1] if stamps else None


def row(obj: dict[str, Any]) -> dict[str, Any]:
    """One dashboard row."""
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    return {
        "namespace": metadata.get("namespace", ""),
        "name": metadata.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "ready": ready(obj),
        "message": first_failure(obj),
        "provider": spec.get("provider", ""),
        "owner": spec.get("owner", ""),
        "team": spec.get("team") or "",
        "age": age(metadata.get("creationTimestamp")),
        "activity": age(last_activity(obj)),
        "running": bool(spec.get("running", True)),
    }


def live_summary(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What the browser needs to update a row or a workspace page (no secrets)."""
    summary = row(obj) if kind != "DELETED" else dict(obj.get("metadata") or {})
    summary["event"] = kind
    summary["id"] = f"{summary.get('namespace', '')}/{summary.get('name', '')}"
    if kind != "DELETED":
        summary["conditions"] = [
            {k: c.get(k, "") for k in ("type", "status", "reason", "message")}
            for c in (obj.get("status") or {}).get("conditions") or []
        ]
        summary["resourceVersion"] = (obj.get("metadata") or {}).get("resourceVersion", "")
    return {k: v for k, v in summary.items() if k in LIVE_KEYS}


LIVE_KEYS = {
    "event",
    "id",
    "namespace",
    "name",
    "phase",
    "ready",
    "message",
    "provider",
    "owner",
    "team",
    "age",
    "activity",
    "running",
    "conditions",
    "resourceVersion",
}
