"""What a request asks to do, in authorization terms (k8s.io/apiserver's RequestInfoFactory).

``/api/v1/namespaces/acme/secrets/x`` → resource request, verb ``get``, resource ``secrets``,
namespace ``acme``, name ``x``; ``/apis/wws.dev/v1alpha1`` → non-resource request, verb
``get``, path as given. A list or watch whose fieldSelector pins ``metadata.name`` carries
that name, so ``resourceNames`` rules can allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class RequestInfo:
    resource_request: bool
    path: str
    verb: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def _field_selector_name(query: dict[str, list[str]]) -> str:
    """RequiresExactMatch("metadata.name") of the request's field selector."""
    raw = (query.get("fieldSelector") or [""])[0]
    for part in raw.split(","):
        if "!=" in part:
            continue
        field, _, value = part.replace("==", "=", 1).partition("=")
        if field.strip() != "metadata.name":
            continue
        value = value.strip()
        if value and "/" not in value and "%" not in value and value not in (".", ".."):
            return value
    return ""


def parse(method: str, path: str, query_string: bytes) -> RequestInfo:
    parts = [p for p in path.strip("/").split("/") if p] if path.strip("/") else []
    info = RequestInfo(False, path, method.lower())
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return info
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return info
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _METHOD_VERBS.get(method.upper(), "")
    if rest and rest[0] in _SPECIAL_VERBS and len(rest) >= 2:
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    if not name and verb == "get":
        query = parse_qs(query_string.decode("latin-1"))
        watch = (query.get("watch") or [""])[0].lower()
        verb = "watch" if watch not in ("", "false", "0") else "list"
        name = _field_selector_name(query)
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, path, verb, group, version, namespace, resource, subresource, name)
