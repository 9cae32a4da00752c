"""Routing of the HTTP face: what a request path names.

A path is either a static document (``/version``, discovery, ``/openapi/v3``) or a resource
``Target``: kind, version, namespace, name and subresource, resolved against the registry with
kube-apiserver's 404s for everything it does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from statestore import discovery, openapi, resources
from statestore.errors import StatusError, not_found
from statestore.resources import Registry, ResourceInfo


@dataclass(frozen=True)
class Target:
    """A request path resolved against the registry."""

    info: ResourceInfo
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


def static_document(
    registry: Registry, address: str, openapi_cache: dict[str, Any], parts: list[str]
) -> Any | None:
    if parts == ["version"]:
        return discovery.SERVER_VERSION
    if parts == ["api"]:
        return discovery.api_versions(address)
    if parts == ["api", "v1"]:
        return discovery.resource_list(registry, "", "v1")
    if parts == ["apis"]:
        return discovery.group_list(registry)
    if len(parts) == 2 and parts[0] == "apis":
        document = discovery.group(registry, parts[1])
        if document is None:
            raise not_found(group="", plural="groups", name=parts[1])
        return document
    if len(parts) == 3 and parts[0] == "apis":
        document = discovery.resource_list(registry, parts[1], parts[2])
        if document is None:
            raise not_found(group=parts[1], plural="versions", name=parts[2])
        return document
    if parts[:2] == ["openapi", "v3"]:
        return _openapi(registry, openapi_cache, parts[2:])
    if parts[:2] == ["openapi", "v2"]:
        raise not_found(group="", plural="openapi", name="v2")
    return None


def _openapi(registry: Registry, openapi_cache: dict[str, Any], rest: list[str]) -> Any:
    key = "/".join(rest)
    cached = openapi_cache.get(key)
    if cached is not None:
        return cached
    if not rest:
        document: Any = openapi.index(registry)
    elif rest == ["api", "v1"]:
        document = openapi.group_version_document(registry, "", "v1")
    elif len(rest) == 3 and rest[0] == "apis":
        document = openapi.group_version_document(registry, rest[1], rest[2])
    else:
        document = None
    if document is None:
        raise not_found(group="", plural="openapi", name=key)
    openapi_cache[key] = document
    return document


def resolve(registry: Registry, parts: list[str]) -> Target:
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise not_found(group="", plural="paths", name="/" + "/".join(parts))
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found(group=group, plural="paths", name="/" + "/".join(parts))
    plural = rest[0]
    info = registry.get(group, plural)
    if info is None or info.version(version) is None:
        resource = f"{plural}.{group}" if group else plural
        raise StatusError(
            404,
            "NotFound",
            f"the server could not find the requested resource ({resource}, version {version})",
            group=group,
            kind=plural,
        )
    if namespace is not None and not info.namespaced:
        raise not_found(group=group, plural=plural, name="/" + "/".join(parts))
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    if subresource is not None:
        version_info = info.version(version)
        allowed = {"status"} if version_info and version_info.status_subresource else set()
        if info is resources.NAMESPACES:
            allowed.add("finalize")
        if subresource not in allowed:
            raise not_found(group=group, plural=f"{plural}/{subresource}", name=name or "")
        if subresource == "finalize":
            subresource = None
    if name is not None and info.namespaced and namespace is None:
        raise not_found(group=group, plural=plural, name=name)
    return Target(info, version, namespace, name, subresource)
