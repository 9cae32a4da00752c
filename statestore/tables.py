"""``meta.k8s.io/v1`` Table responses, what ``kubectl get`` prints.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
server's columns: for a custom resource a ``Name`` column, then the CRD version's
``additionalPrinterColumns`` (or ``Age`` when it has none). Cells follow kube-apiserver's
custom-resource table convertor (``apiextensions-apiserver/pkg/registry/customresource/
tableconvertor``): a missing value is a ``null`` cell (kubectl prints ``<none>``), ``date``
columns are rendered as an age with ``HumanDuration`` (``5s``, ``3m2s``, ``4h``, ``2d3h``),
``integer``/``number``/``boolean`` cells keep their JSON type and ``string`` cells hold the text
client-go's JSONPath printer would print. The built-in kinds get the columns kube-apiserver
gives them (namespaces: Status; secrets: Type, Data; configmaps: Data; events; CRDs).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Any, Final

from api import times
from statestore import jsonpath
from statestore.resources import CRD_GROUP, ResourceInfo, VersionInfo
from statestore.schema import format_value

__all__ = ["build_table", "human_duration", "render_age", "table_for_watch"]

_NAME_DESCRIPTION: Final = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATION_DESCRIPTION: Final = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_AGE_COLUMN: Final[dict[str, Any]] = {
    "name": "Age",
    "type": "date",
    "description": _CREATION_DESCRIPTION,
    "jsonPath": ".metadata.creationTimestamp",
}
_RFC3339_RE: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

Cell = Any
Now = dt.datetime | None


# --------------------------------------------------------------------------------------------
# Ages
# --------------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``: ~2-3 significant figures."""
    whole = int(seconds)  # Go truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: str) -> dt.datetime | None:
    """An RFC 3339 timestamp (strictly: the date alone is no age), else ``None``."""
    return times.parse_time(value) if _RFC3339_RE.match(value) else None


def render_age(value: str, now: Now = None) -> str:
    """An RFC 3339 timestamp as kubectl shows an age; ``<unknown>`` when empty."""
    if not value or value == "null":
        return "<unknown>"
    when = _parse_time(value)
    if when is None:
        return "<invalid>"
    current = now or dt.datetime.now(dt.UTC)
    return human_duration((current - when).total_seconds())


# --------------------------------------------------------------------------------------------
# Cells of custom-resource printer columns
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """What client-go's JSONPath printer prints for one value."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return format_value(value)


def _cell(column_type: str, value: Any, now: Now) -> Cell:
    """``cellForJSONValue``: a value of the wrong JSON type is an empty (null) cell."""
    if value is None:
        return None
    if column_type == "string":
        return _text(value)
    if isinstance(value, bool):
        return value if column_type == "boolean" else None
    if column_type == "integer" and isinstance(value, (int, float)):
        return int(value) if math.isfinite(value) else None
    if column_type == "number" and isinstance(value, (int, float)):
        return float(value)
    if column_type == "date" and isinstance(value, str):
        return render_age(value, now)
    return None


def _column_definition(column: dict[str, Any]) -> dict[str, Any]:
    path = column.get("jsonPath", "")
    return {
        "name": column.get("name", ""),
        "type": column.get("type", "string"),
        "format": column.get("format", ""),
        "description": column.get("description")
        or f"Custom resource definition column (in JSONPath format): {path}",
        "priority": int(column.get("priority", 0) or 0),
    }


def _column_value(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    try:
        found = jsonpath.evaluate(str(column.get("jsonPath", "")), obj)
    except jsonpath.JSONPathError:
        return None  # kube-apiserver keeps serving; the column just stays empty
    return found[0] if found else None


# --------------------------------------------------------------------------------------------
# Built-in kinds
# --------------------------------------------------------------------------------------------

_Row = Callable[[dict[str, Any], Now], list[Cell]]


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _age(obj: dict[str, Any], now: Now) -> str:
    return render_age(str(_meta(obj).get("creationTimestamp") or ""), now)


def _count(value: Any) -> int:
    return len(value) if isinstance(value, dict) else 0


def _column(name: str, kind: str, description: str, priority: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "format": "",
        "description": description,
        "priority": priority,
    }


_NAME: Final = {**_column("Name", "string", _NAME_DESCRIPTION), "format": "name"}
_AGE: Final = _column("Age", "string", _CREATION_DESCRIPTION)


def _namespace_row(obj: dict[str, Any], now: Now) -> list[Cell]:
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    return [_meta(obj).get("name", ""), (status or {}).get("phase", "Active"), _age(obj, now)]


def _secret_row(obj: dict[str, Any], now: Now) -> list[Cell]:
    data = _count(obj.get("data")) + _count(obj.get("stringData"))
    return [_meta(obj).get("name", ""), obj.get("type", "Opaque"), data, _age(obj, now)]


def _configmap_row(obj: dict[str, Any], now: Now) -> list[Cell]:
    data = _count(obj.get("data")) + _count(obj.get("binaryData"))
    return [_meta(obj).get("name", ""), data, _age(obj, now)]


def _event_row(obj: dict[str, Any], now: Now) -> list[Cell]:
    involved = obj.get("involvedObject") if isinstance(obj.get("involvedObject"), dict) else {}
    involved = involved or {}
    source = obj.get("source") if isinstance(obj.get("source"), dict) else {}
    source = source or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("eventTime")
    origin = ", ".join(str(s) for s in (source.get("component"), source.get("host")) if s)
    return [
        render_age(str(last or ""), now),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        origin,
        obj.get("message", ""),
        render_age(str(first or ""), now),
        str(obj.get("count", 1)),
        _meta(obj).get("name", ""),
    ]


def _crd_row(obj: dict[str, Any], now: Now) -> list[Cell]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    spec = spec or {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    names = names or {}
    versions = sorted(
        v.get("name", "") + ("(storage)" if v.get("storage") else "")
        for v in spec.get("versions") or []
        if isinstance(v, dict) and v.get("served")
    )
    conditions = (obj.get("status") or {}).get("conditions") or []
    established = any(
        isinstance(c, dict) and c.get("type") == "Established" and c.get("status") == "True"
        for c in conditions
    )
    return [
        _meta(obj).get("name", ""),
        spec.get("scope", ""),
        ",".join(versions),
        str(_meta(obj).get("creationTimestamp") or ""),
        spec.get("group", ""),
        names.get("kind", ""),
        ",".join(names.get("shortNames") or []),
        established,
    ]


_BUILTIN: Final[dict[tuple[str, str], tuple[list[dict[str, Any]], _Row]]] = {
    ("", "namespaces"): (
        [_NAME, _column("Status", "string", "The status of the namespace"), _AGE],
        _namespace_row,
    ),
    ("", "secrets"): (
        [
            _NAME,
            _column("Type", "string", "The type of the secret"),
            _column("Data", "string", "The number of entries in the secret"),
            _AGE,
        ],
        _secret_row,
    ),
    ("", "configmaps"): (
        [_NAME, _column("Data", "string", "The number of entries in the config map"), _AGE],
        _configmap_row,
    ),
    ("", "events"): (
        [
            _column(
                "Last Seen",
                "string",
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            _column("Type", "string", "Type of this event (Normal, Warning)"),
            _column(
                "Reason",
                "string",
                "This should be a short, machine understandable string "
                "that gives the reason for the transition into the "
                "object's current status.",
            ),
            _column("Object", "string", "The object that this event is about."),
            _column("Subobject", "string", "The field of the object the event is about.", 1),
            _column("Source", "string", "The component reporting this event.", 1),
            _column(
                "Message", "string", "A human-readable description of the status of this operation."
            ),
            _column("First Seen", "string", "The time at which the event was first recorded.", 1),
            _column("Count", "string", "The number of times this event has occurred.", 1),
            {**_column("Name", "string", _NAME_DESCRIPTION, 1), "format": "name"},
        ],
        _event_row,
    ),
    (CRD_GROUP, "customresourcedefinitions"): (
        [
            _NAME,
            _column("Scope", "string", "Cluster/Namespaced"),
            _column("Versions", "string", "Served versions"),
            _column("Created At", "date", _CREATION_DESCRIPTION),
            _column("Group", "string", "API group", 1),
            _column("Kind", "string", "CustomResource kind", 1),
            _column("ShortNames", "string", "Short names", 1),
            _column("Established", "boolean", "Established status", 1),
        ],
        _crd_row,
    ),
}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _version_info(info: ResourceInfo, version: str) -> VersionInfo | None:
    for candidate in info.versions:
        if candidate.name == version:
            return candidate
    return None


class _Layout:
    """Column definitions and a row function for one resource version."""

    def __init__(self, info: ResourceInfo, version: str) -> None:
        builtin = _BUILTIN.get((info.group, info.plural)) if info.builtin else None
        self.columns: list[dict[str, Any]]
        self.custom: list[dict[str, Any]] = []
        self.builtin_row: _Row | None = None
        if builtin is not None:
            self.columns, self.builtin_row = builtin
            return
        found = _version_info(info, version)
        printer = list(found.printer_columns) if found is not None else []
        self.custom = printer or [_AGE_COLUMN]
        self.columns = [dict(_NAME)] + [_column_definition(c) for c in self.custom]

    def cells(self, obj: dict[str, Any], now: Now) -> list[Cell]:
        if self.builtin_row is not None:
            return self.builtin_row(obj, now)
        cells: list[Cell] = [_meta(obj).get("name", "")]
        for column in self.custom:
            cells.append(_cell(str(column.get("type", "string")), _column_value(column, obj), now))
        return cells


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _meta(obj),
    }


def build_table(
    info: ResourceInfo,
    version: str,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    include_columns: bool = True,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` served at ``version`` of ``info``.

    ``include_object`` is the ``includeObject`` query parameter: ``Metadata`` (default) puts a
    PartialObjectMetadata in each row, ``Object`` the object itself, ``None`` nothing.
    ``include_columns=False`` leaves out ``columnDefinitions`` (``TableOptions.NoHeaders``).
    Rows share the objects' ``metadata`` dicts: serialize the table before changing them.
    """
    layout = _Layout(info, version)
    current = now or dt.datetime.now(dt.UTC)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": layout.cells(obj, current)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    metadata = {"resourceVersion": resource_version} if resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in layout.columns] if include_columns else [],
        "rows": rows,
    }


def table_for_watch(
    info: ResourceInfo,
    version: str,
    obj: dict[str, Any],
    *,
    include_object: str = "Metadata",
    include_columns: bool = True,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The Table with one row that a ``kubectl get -w`` watch event carries as its object.

    kubectl prints headers only when the column definitions differ from the last ones it
    printed, so sending them on every event is harmless; pass ``include_columns=False`` after
    the first event to save bytes.
    """
    resource_version = str(_meta(obj).get("resourceVersion") or "")
    return build_table(
        info,
        version,
        [obj],
        include_object=include_object,
        resource_version=resource_version,
        include_columns=include_columns,
        now=now,
    )
