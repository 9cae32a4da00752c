"""Decoding of the Protobuf bodies client-go sends for built-in kinds.

``kubectl create namespace|secret|configmap`` (client-go's typed clients) always send
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0`` and a ``runtime.Unknown``
envelope around the object's message. The store keeps JSON, so the few core kinds it serves
are decoded here into their JSON form, field numbers as in k8s.io/api's ``generated.proto``.
Fields the store does not keep (managedFields, selfLink, ...) are skipped, like unknown ones.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from statestore.errors import StatusError, bad_request

MAGIC = b"k8s\x00"
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise bad_request("the Protobuf body is truncated or malformed")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for varints, bytes for the rest."""
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, position = _varint(data, position)
            yield number, wire, value
        elif wire == _BYTES:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise bad_request("the Protobuf body is truncated or malformed")
            yield number, wire, data[position : position + length]
            position += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            yield number, wire, data[position : position + size]
            position += size
        else:
            raise bad_request(f"the Protobuf body uses an unsupported wire type {wire}")


def _text(value: Any) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as error:
        raise bad_request("the Protobuf body has a string that is not UTF-8") from error


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, field in _fields(data):
        if number == 1:
            key = _text(field)
        elif number == 2:
            value = bytes(field)
    return key, value


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion", 5: "uid"}
    for number, _, value in _fields(data):
        if number in names:
            text = _text(value)
            if text:  # Go's generated code writes empty strings too; JSON omits them
                meta[names[number]] = text
        elif number in (11, 12):
            key, item = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = _text(item)
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for number, _, value in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number == 2:
            key, item = _map_entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3 and value:
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _map_entry(value)
            obj.setdefault("stringData", {})[key] = _text(item)
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


def _config_map(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    for number, _, value in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number == 2:
            key, item = _map_entry(value)
            obj.setdefault("data", {})[key] = _text(item)
        elif number == 3:
            key, item = _map_entry(value)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(item).decode()
        elif number == 4:
            obj["immutable"] = bool(value)
    return obj


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}
    for number, _, value in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif number == 2:
            finalizers = [_text(v) for n, _, v in _fields(value) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def _strings(data: bytes, names: dict[int, str], repeated: frozenset[int]) -> dict[str, Any]:
    """A message of string fields (singular or repeated), by field number."""
    result: dict[str, Any] = {}
    for number, _, value in _fields(data):
        if number not in names:
            continue
        if number in repeated:
            result.setdefault(names[number], []).append(_text(value))
        else:
            text = _text(value)
            if text:
                result[names[number]] = text
    return result


def _policy_rule(data: bytes) -> dict[str, Any]:
    names = {1: "verbs", 2: "apiGroups", 3: "resources", 4: "resourceNames", 5: "nonResourceURLs"}
    rule = _strings(data, names, frozenset(names))
    rule.setdefault("verbs", [])
    return rule


def _label_selector(data: bytes) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    for number, _, value in _fields(data):
        if number == 1:
            key, item = _map_entry(value)
            selector.setdefault("matchLabels", {})[key] = _text(item)
        elif number == 2:
            selector.setdefault("matchExpressions", []).append(
                _strings(value, {1: "key", 2: "operator", 3: "values"}, frozenset({3}))
            )
    return selector


def _rbac(kind: str) -> Callable[[bytes], dict[str, Any]]:
    """rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding."""

    def decode(data: bytes) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": {},
        }
        binding = kind.endswith("Binding")
        for number, _, value in _fields(data):
            if number == 1:
                obj["metadata"] = _object_meta(value)
            elif number == 2 and binding:
                subject = _strings(
                    value, {1: "kind", 2: "apiGroup", 3: "name", 4: "namespace"}, frozenset()
                )
                obj.setdefault("subjects", []).append(subject)
            elif number == 2:
                obj.setdefault("rules", []).append(_policy_rule(value))
            elif number == 3 and binding:
                obj["roleRef"] = _strings(value, {1: "apiGroup", 2: "kind", 3: "name"}, frozenset())
            elif number == 3:
                selectors = [_label_selector(v) for n, _, v in _fields(value) if n == 1]
                obj["aggregationRule"] = {"clusterRoleSelectors": selectors}
        if not binding:
            obj.setdefault("rules", [])
        return obj

    return decode


def _resource_attributes(data: bytes) -> dict[str, Any]:
    names = {
        1: "namespace",
        2: "verb",
        3: "group",
        4: "version",
        5: "resource",
        6: "subresource",
        7: "name",
    }
    return _strings(data, names, frozenset())


def _review(kind: str, group: str) -> Callable[[bytes], dict[str, Any]]:
    """authorization.k8s.io/v1 access reviews and authentication.k8s.io/v1 SelfSubjectReview."""

    def decode(data: bytes) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": f"{group}/v1",
            "kind": kind,
            "metadata": {},
            "spec": {},
        }
        for number, _, value in _fields(data):
            if number == 1:
                obj["metadata"] = _object_meta(value)
            elif number == 2 and kind != "SelfSubjectReview":
                obj["spec"] = _review_spec(value, kind)
        return obj

    return decode


def _review_spec(data: bytes, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if kind == "SelfSubjectRulesReview":
        return _strings(data, {1: "namespace"}, frozenset())
    for number, _, value in _fields(data):
        if number == 1:
            spec["resourceAttributes"] = _resource_attributes(value)
        elif number == 2:
            spec["nonResourceAttributes"] = _strings(value, {1: "path", 2: "verb"}, frozenset())
        elif number == 3:
            spec["user"] = _text(value)
        elif number == 4:
            spec.setdefault("groups", []).append(_text(value))
        elif number == 5:
            key, item = _map_entry(value)
            spec.setdefault("extra", {})[key] = [_text(v) for n, _, v in _fields(item) if n == 1]
        elif number == 6:
            spec["uid"] = _text(value)
    return spec


DECODERS: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "Secret": _secret,
    "ConfigMap": _config_map,
    "Namespace": _namespace,
}
#: Kinds of other groups, by (apiVersion, kind).
GROUP_DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    **{
        ("rbac.authorization.k8s.io/v1", kind): _rbac(kind)
        for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    },
    **{
        ("authorization.k8s.io/v1", kind): _review(kind, "authorization.k8s.io")
        for kind in (
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
        )
    },
    ("authentication.k8s.io/v1", "SelfSubjectReview"): _review(
        "SelfSubjectReview", "authentication.k8s.io"
    ),
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a Protobuf-encoded core/v1 Secret, ConfigMap or Namespace."""
    if not body.startswith(MAGIC):
        raise bad_request("the Protobuf body does not start with the Kubernetes magic number")
    api_version = kind = ""
    raw = b""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if number == 1:  # TypeMeta
            for inner, _, field in _fields(value):
                if inner == 1:
                    api_version = _text(field)
                elif inner == 2:
                    kind = _text(field)
        elif number == 2:
            raw = bytes(value)
    decoder = DECODERS.get(kind) if api_version == "v1" else GROUP_DECODERS.get((api_version, kind))
    if decoder is None:
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the WWS embedded store reads Protobuf only for core/v1 {', '.join(DECODERS)} and "
            "RBAC objects and access reviews; "
            f"send {api_version}/{kind} as JSON or YAML (kubectl apply -f)",
        )
    return decoder(raw)
