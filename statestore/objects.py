"""Object-level rules of the Kubernetes API: names, metadata, generation, built-in kinds."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from statestore.errors import Cause

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# The alphabet kube-apiserver uses for generateName suffixes (no vowels: no accidental words).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_ANNOTATIONS_LIMIT = 256 * 1024

# Metadata fields a client may set; everything else in metadata is server-managed or dropped.
SERVER_MANAGED = (
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)


#: How deeply objects and arrays may nest in a body or a stored object. orjson writes at most
#: 254 levels (and watch events and Tables wrap an object in a few more); the recursive
#: schema walk and merge patch must not reach Python's recursion limit either.
MAX_DEPTH = 200


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` levels (walked without
    recursion, so any input can be checked)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


_clock: tuple[int, str] = (0, "")


def now() -> str:
    """RFC 3339 UTC to the second, as Kubernetes writes timestamps (cached per second)."""
    global _clock
    second = int(time.time())
    if _clock[0] != second:
        _clock = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _clock[1]


def new_uid() -> str:
    return str(uuid.uuid4())


#: A generated name is the prefix cut to 58 characters and 5 random ones (kube's
#: ``names.SimpleNameGenerator``), so that it fits a 63-character label.
_GENERATED_PREFIX_MAX = 58


def generated_name(prefix: str) -> str:
    base = prefix[:_GENERATED_PREFIX_MAX]
    return base + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def check_name(name: Any, *, label: bool, field: str = "metadata.name") -> list[Cause]:
    if not isinstance(name, str) or not name:
        return [
            Cause(field, "Required value: name or generateName is required", "FieldValueRequired")
        ]
    limit = 63 if label else 253
    pattern = DNS1123_LABEL if label else DNS1123_SUBDOMAIN
    kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
    if len(name) > limit:
        return [Cause(field, f'Invalid value: "{name}": must be no more than {limit} characters')]
    if not pattern.match(name):
        return [
            Cause(
                field,
                f'Invalid value: "{name}": a lowercase {kind} must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
            )
        ]
    return []


def check_metadata(metadata: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    labels = metadata.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            causes.append(Cause("metadata.labels", "Invalid value: must be an object"))
        else:
            for key, value in labels.items():
                if not _QUALIFIED_NAME.match(key) or len(key.split("/")[-1]) > 63:
                    causes.append(
                        Cause(
                            "metadata.labels",
                            f'Invalid value: "{key}": name part must consist of '
                            "alphanumeric characters, '-', '_' or '.'",
                        )
                    )
                if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                    causes.append(
                        Cause(
                            f"metadata.labels[{key}]",
                            f'Invalid value: "{value}": a valid label must be 63 '
                            "characters or less, empty or alphanumeric with "
                            "'-', '_' or '.' inside",
                        )
                    )
    annotations = metadata.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            causes.append(Cause("metadata.annotations", "Invalid value: must be an object"))
        else:
            size = 0
            for key, value in annotations.items():
                if not _QUALIFIED_NAME.match(key):
                    causes.append(
                        Cause(
                            "metadata.annotations", f'Invalid value: "{key}": not a qualified name'
                        )
                    )
                if not isinstance(value, str):
                    causes.append(
                        Cause(
                            f"metadata.annotations[{key}]",
                            "Invalid value: annotation values must be strings",
                        )
                    )
                    continue
                size += len(key) + len(value)
            if size > _ANNOTATIONS_LIMIT:
                causes.append(
                    Cause(
                        "metadata.annotations",
                        "Too long: must have at most 262144 bytes",
                        "FieldValueTooLong",
                    )
                )
    finalizers = metadata.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
            causes.append(Cause("metadata.finalizers", "Invalid value: must be a list of strings"))
        else:
            for index, finalizer in enumerate(finalizers):
                if not _QUALIFIED_NAME.match(finalizer):
                    causes.append(
                        Cause(
                            f"metadata.finalizers[{index}]",
                            f'Invalid value: "{finalizer}": not a qualified name',
                        )
                    )
    causes.extend(_check_owner_references(metadata.get("ownerReferences")))
    return causes


def _check_owner_references(references: Any) -> list[Cause]:
    """What kube-apiserver requires of ``ownerReferences`` (controllers read them blindly)."""
    field = "metadata.ownerReferences"
    if references is None:
        return []
    if not isinstance(references, list):
        return [Cause(field, "Invalid value: must be a list of owner references")]
    causes: list[Cause] = []
    for index, reference in enumerate(references):
        if not isinstance(reference, dict):
            causes.append(Cause(f"{field}[{index}]", "Invalid value: must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            value = reference.get(key)
            if value is None or value == "":
                causes.append(
                    Cause(f"{field}[{index}].{key}", "Required value", "FieldValueRequired")
                )
            elif not isinstance(value, str):
                causes.append(Cause(f"{field}[{index}].{key}", "Invalid value: must be a string"))
        for key in ("controller", "blockOwnerDeletion"):
            if reference.get(key) is not None and not isinstance(reference[key], bool):
                causes.append(Cause(f"{field}[{index}].{key}", "Invalid value: must be a boolean"))
    return causes


def spec_changed(old: dict[str, Any], new: dict[str, Any], *, status_subresource: bool) -> bool:
    """Whether ``generation`` must bump: anything outside metadata (and status) changed."""
    skip = {"metadata", "status"} if status_subresource else {"metadata"}
    keys = (set(old) | set(new)) - skip
    return any(old.get(key) != new.get(key) for key in keys)


def normalize_secret(obj: dict[str, Any]) -> list[Cause]:
    """``stringData`` is write-only sugar, merged into ``data`` as base64 (as kube-apiserver)."""
    causes: list[Cause] = []
    obj.setdefault("type", "Opaque")
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return [Cause("data", "Invalid value: must be an object")]
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            causes.append(Cause(f"data[{key}]", "Invalid value: must be base64-encoded"))
    string_data = obj.pop("stringData", None) or {}
    if isinstance(string_data, dict):
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    return causes


def normalize_namespace(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Active")


def crd_status(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD is established at once: there is nothing to wait for in one process."""
    timestamp = now()
    names = dict(crd["spec"]["names"])
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": timestamp,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": timestamp,
        },
    ]
    return {
        "acceptedNames": names,
        "conditions": conditions,
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
    }


def now_minus(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
