"""OpenAPI v3 documents (``/openapi/v3``), so that kubectl's apply, diff and explain work.

What kubectl reads (client-go ``openapi``/``openapi3``, cli-runtime ``query_param_verifier_v3``,
kubectl ``explain/v2`` templates and ``apply/patcher``):

* ``GET /openapi/v3`` → ``{"paths": {"apis/G/V": {"serverRelativeURL": URL}}}`` where URL is
  ``/openapi/v3/apis/G/V?hash=H`` (``api/v1`` for the core group); H changes with the document.
* ``kubectl apply``/``create`` validate on the server (``fieldValidation=Strict``) only if the
  PATCH operation of the kind (found by its ``x-kubernetes-group-version-kind`` extension, a
  single ``{group, version, kind}`` object) lists the ``fieldValidation`` query parameter. Every
  PATCH of a kind (item and ``/status``) carries it, since kubectl checks whichever it meets
  first. For a CRD missing from OpenAPI kubectl falls back to the core ``Namespace`` PATCH.
* kubectl sends a strategic merge patch only when the PATCH request body lists
  ``application/strategic-merge-patch+json``; custom resources list json-patch, merge-patch and
  apply-patch only, so kubectl uses a JSON merge patch for them.
* ``kubectl explain`` finds the kind's GVK on a get/post/put/patch/delete operation of the
  collection or item path, then the schema in ``components.schemas`` whose
  ``x-kubernetes-group-version-kind`` *list* contains exactly that GVK.

Schemas are named like kube-apiserver names them: ``dev.wws.v1alpha1.Workspace`` (reversed
group, version, kind) and ``io.k8s.api.core.v1.Namespace`` for the core kinds.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import json
from typing import Any, Final

from statestore.resources import CRD_GROUP, Registry, ResourceInfo

__all__ = ["document_hash", "group_version_document", "index", "model_name"]

_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1"
_REF: Final = "#/components/schemas/"
_OBJECT_META_REF: Final = f"{_REF}{_META}.ObjectMeta"
_LIST_META_REF: Final = f"{_REF}{_META}.ListMeta"
_PATCH_REF: Final = f"{_REF}{_META}.Patch"
_STATUS_REF: Final = f"{_REF}{_META}.Status"
_DELETE_OPTIONS_REF: Final = f"{_REF}{_META}.DeleteOptions"


#: The static apimachinery parts (type-meta properties, query parameters, the meta/v1 schemas)
#: are data, shipped as package data and read once at import.
_STATIC: Final[dict[str, Any]] = json.loads(
    importlib.resources.files("statestore")
    .joinpath("static/openapi.json")
    .read_text(encoding="utf-8")
)
_API_VERSION_PROP: Final[dict[str, Any]] = _STATIC["typeMeta"]["apiVersion"]
_KIND_PROP: Final[dict[str, Any]] = _STATIC["typeMeta"]["kind"]
_METADATA_PROP: Final[dict[str, Any]] = _STATIC["typeMeta"]["metadata"]
_LIST_METADATA_PROP: Final[dict[str, Any]] = _STATIC["typeMeta"]["listMetadata"]

#: Media types of a custom resource PATCH (the store's patch handler accepts these).
_PATCH_TYPES: Final = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
#: Built-in core kinds also take strategic merge patches: kubectl always sends one for kinds it
#: knows (Secret, ConfigMap, Namespace, Event), whatever the OpenAPI document says.
_CORE_PATCH_TYPES: Final = (*_PATCH_TYPES, "application/strategic-merge-patch+json")


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


_PARAMETERS: Final[dict[str, dict[str, Any]]] = _STATIC["parameters"]
_PRETTY: Final = _PARAMETERS["pretty"]
_DRY_RUN: Final = _PARAMETERS["dryRun"]
_FIELD_MANAGER: Final = _PARAMETERS["fieldManager"]
_FIELD_VALIDATION: Final = _PARAMETERS["fieldValidation"]
_FORCE: Final = _PARAMETERS["force"]
#: ``resourceVersion`` of a single GET.
_RESOURCE_VERSION: Final = _PARAMETERS["resourceVersion"]
_LIST_PARAMS: Final[tuple[dict[str, Any], ...]] = tuple(_STATIC["listParameters"])
_DELETE_PARAMS: Final[tuple[dict[str, Any], ...]] = tuple(_STATIC["deleteParameters"])


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def model_name(group: str, version: str, kind: str) -> str:
    """The ``components.schemas`` key of a kind, as kube-apiserver names it."""
    if not group:
        return (
            f"io.k8s.api.core.v1.{kind}" if version == "v1" else f"io.k8s.api.core.{version}.{kind}"
        )
    if group == CRD_GROUP:
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}"
    return f"{'.'.join(reversed(group.split('.')))}.{version}.{kind}"


def _gvk(info: ResourceInfo, version: str, kind: str | None = None) -> dict[str, str]:
    return {"group": info.group, "version": version, "kind": kind or info.kind}


def _camel(text: str) -> str:
    parts = [p for p in text.replace("-", ".").split(".") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def _article(kind: str) -> str:
    return "an" if kind[:1].lower() in "aeiou" else "a"


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


class _Operations:
    """Builds the operations of one resource in one version (the routes kube-apiserver serves)."""

    def __init__(self, info: ResourceInfo, version: str) -> None:
        self.info = info
        self.version = version
        self.ref = {"$ref": f"{_REF}{model_name(info.group, version, info.kind)}"}
        self.list_ref = {"$ref": f"{_REF}{model_name(info.group, version, info.list_kind)}"}
        group_id = _camel(info.group) if info.group else "Core"
        self.id_prefix = f"{group_id}{version[:1].upper()}{version[1:]}"
        self.tag = f"{group_id[:1].lower()}{group_id[1:]}_{version}"
        self.patch_types = _CORE_PATCH_TYPES if info.builtin and not info.group else _PATCH_TYPES

    def operation(
        self,
        action: str,
        verb: str,
        description: str,
        *,
        scope: str,
        subresource: str = "",
        params: tuple[dict[str, Any], ...] = (),
        response: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        extra_responses: tuple[tuple[str, str], ...] = (),
    ) -> dict[str, Any]:
        """One operation; ``verb`` is the operationId verb (read, replace, patch, list...)."""
        schema = response if response is not None else self.ref
        content = {
            "application/json": {"schema": schema},
            "application/yaml": {"schema": schema},
        }
        responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
        for code, text in extra_responses:
            responses[code] = {"description": text, "content": content}
        responses["401"] = {"description": "Unauthorized"}
        op: dict[str, Any] = {
            "tags": [self.tag],
            "description": description,
            "operationId": f"{verb}{self.id_prefix}{scope}{self.info.kind}{subresource}",
            "parameters": [dict(p) for p in params],
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(self.info, self.version),
        }
        if body is not None:
            op["requestBody"] = body
        return op

    def _json_body(self) -> dict[str, Any]:
        return {
            "content": {
                "application/json": {"schema": self.ref},
                "application/yaml": {"schema": self.ref},
            },
            "required": True,
        }

    def _patch_body(self) -> dict[str, Any]:
        return {
            "content": {media: {"schema": {"$ref": _PATCH_REF}} for media in self.patch_types},
            "required": True,
        }

    def collection(self, scope: str, verbs: tuple[str, ...]) -> dict[str, Any]:
        kind = self.info.kind
        item: dict[str, Any] = {}
        if "list" in verbs:
            item["get"] = self.operation(
                "list",
                "list",
                f"list objects of kind {kind}",
                scope=scope,
                params=_LIST_PARAMS,
                response=self.list_ref,
            )
        if "create" in verbs:
            item["post"] = self.operation(
                "post",
                "create",
                f"create {_article(kind)} {kind}",
                scope=scope,
                params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
                body=self._json_body(),
                extra_responses=(("201", "Created"), ("202", "Accepted")),
            )
        if "deletecollection" in verbs:
            item["delete"] = self.operation(
                "deletecollection",
                "deleteCollection",
                f"delete collection of {kind}",
                scope=scope,
                params=_LIST_PARAMS + _DELETE_PARAMS,
                response={"$ref": _STATUS_REF},
                body=self._delete_body(),
            )
        return item

    def _delete_body(self) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": {"$ref": _DELETE_OPTIONS_REF}}}}

    def item(self, scope: str, verbs: tuple[str, ...], subresource: str = "") -> dict[str, Any]:
        kind = self.info.kind
        of = f" {subresource} of" if subresource else ""
        suffix = subresource.capitalize()
        item: dict[str, Any] = {}
        if "get" in verbs:
            item["get"] = self.operation(
                "get",
                "read",
                f"read{of} the specified {kind}",
                scope=scope,
                subresource=suffix,
                params=(_RESOURCE_VERSION,),
            )
        if "update" in verbs:
            item["put"] = self.operation(
                "put",
                "replace",
                f"replace{of} the specified {kind}",
                scope=scope,
                subresource=suffix,
                params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION),
                body=self._json_body(),
                extra_responses=(("201", "Created"),),
            )
        if "patch" in verbs:
            item["patch"] = self.operation(
                "patch",
                "patch",
                f"partially update{of} the specified {kind}",
                scope=scope,
                subresource=suffix,
                params=(_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE),
                body=self._patch_body(),
                extra_responses=(("201", "Created"),),
            )
        if "delete" in verbs and not subresource:
            item["delete"] = self.operation(
                "delete",
                "delete",
                f"delete {_article(kind)} {kind}",
                scope=scope,
                params=_DELETE_PARAMS,
                response={"$ref": _STATUS_REF},
                body=self._delete_body(),
                extra_responses=(("202", "Accepted"),),
            )
        return item


def _with_params(item: dict[str, Any], *params: dict[str, Any]) -> dict[str, Any]:
    """Path-level parameters (path placeholders and ``pretty``), as kube-openapi groups them."""
    if item:
        item["parameters"] = [dict(p) for p in params] + [dict(_PRETTY)]
    return item


def _resource_paths(info: ResourceInfo, version: str) -> dict[str, dict[str, Any]]:
    ops = _Operations(info, version)
    prefix = f"/apis/{info.group}/{version}" if info.group else f"/api/{version}"
    name = _path_param("name", f"name of the {info.kind}")
    namespace = _path_param(
        "namespace", "object name and auth scope, such as for teams and projects"
    )
    verbs = info.verbs
    paths: dict[str, dict[str, Any]] = {}
    if info.namespaced:
        scope = "Namespaced"
        root = f"{prefix}/namespaces/{{namespace}}/{info.plural}"
        if "list" in verbs:
            every = {
                "get": ops.operation(
                    "list",
                    "list",
                    f"list objects of kind {info.kind}",
                    scope="",
                    subresource="ForAllNamespaces",
                    params=_LIST_PARAMS,
                    response=ops.list_ref,
                )
            }
            paths[f"{prefix}/{info.plural}"] = _with_params(every)
        base_params: tuple[dict[str, Any], ...] = (namespace,)
    else:
        scope = ""
        root = f"{prefix}/{info.plural}"
        base_params = ()
    paths[root] = _with_params(ops.collection(scope, verbs), *base_params)
    paths[f"{root}/{{name}}"] = _with_params(ops.item(scope, verbs), name, *base_params)
    served = info.version(version)
    if served is not None and served.status_subresource:
        paths[f"{root}/{{name}}/status"] = _with_params(
            ops.item(scope, verbs, "status"), name, *base_params
        )
    return {path: item for path, item in paths.items() if item}


# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


def _unfold(schema: Any) -> Any:
    """Deep copy of a CRD schema with what kube-apiserver adds for OpenAPI consumers.

    int-or-string gets its ``anyOf [integer, string]``; an embedded resource gets apiVersion,
    kind and an ObjectMeta ``metadata``.
    """
    if not isinstance(schema, dict):
        return copy.deepcopy(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _unfold(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _unfold(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_unfold(branch) for branch in value]
        else:
            out[key] = copy.deepcopy(value)
    if out.get("x-kubernetes-int-or-string") is True and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("x-kubernetes-embedded-resource") is True:
        _add_type_meta(out)
        required = list(out.get("required") or [])
        out["required"] = required + [k for k in ("kind", "apiVersion") if k not in required]
    return out


def _add_type_meta(schema: dict[str, Any]) -> None:
    props = schema.setdefault("properties", {})
    props["apiVersion"] = dict(_API_VERSION_PROP)
    props["kind"] = dict(_KIND_PROP)
    props["metadata"] = copy.deepcopy(_METADATA_PROP)


def _kind_schema(info: ResourceInfo, version: str) -> dict[str, Any]:
    served = info.version(version)
    crd_schema = served.schema if served is not None else None
    if crd_schema is None:
        # Built-in kinds (and CRDs without a schema): any field goes.
        schema: dict[str, Any] = {
            "description": f"{info.kind} ({info.api_version(version)})",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    else:
        schema = _unfold(crd_schema)
        schema.setdefault("type", "object")
    _add_type_meta(schema)
    schema["x-kubernetes-group-version-kind"] = [_gvk(info, version)]
    return schema


def _list_schema(info: ResourceInfo, version: str) -> dict[str, Any]:
    item_ref = f"{_REF}{model_name(info.group, version, info.kind)}"
    return {
        "description": f"{info.list_kind} is a list of {info.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION_PROP),
            "items": {
                "description": f"List of {info.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                "api-conventions.md",
                "type": "array",
                "items": {"$ref": item_ref},
            },
            "kind": dict(_KIND_PROP),
            "metadata": copy.deepcopy(_LIST_METADATA_PROP),
        },
        "x-kubernetes-group-version-kind": [_gvk(info, version, info.list_kind)],
    }


def _meta_schemas() -> dict[str, Any]:
    """The apimachinery types the documents refer to (enough for explain and clients)."""
    return copy.deepcopy(_STATIC["schemas"])


# --------------------------------------------------------------------------------------------
# Documents, hashes and the index
# --------------------------------------------------------------------------------------------


def _build(infos: list[ResourceInfo], group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas = _meta_schemas()
    for info in sorted(infos, key=lambda i: i.plural):
        paths.update(_resource_paths(info, version))
        schemas[model_name(info.group, version, info.kind)] = _kind_schema(info, version)
        schemas[model_name(info.group, version, info.list_kind)] = _list_schema(info, version)
    title = "Kubernetes CRD Swagger" if group and group != CRD_GROUP else "Kubernetes"
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v0.1.0"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


def document_hash(document: dict[str, Any]) -> str:
    """SHA-512 of the document's canonical JSON, upper-case hex like kube-apiserver's."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


class _Entry:
    __slots__ = ("digest", "document", "infos")

    def __init__(self, infos: tuple[ResourceInfo, ...], document: dict[str, Any]) -> None:
        #: The ResourceInfo objects the document was built from; a new CRD revision yields new
        #: objects (the registry rebuilds them), so identity tells whether the entry is current.
        self.infos = infos
        self.document = document
        self.digest = document_hash(document)


_CACHE: dict[tuple[str, str], _Entry] = {}


def _entry(registry: Registry, group: str, version: str) -> _Entry | None:
    infos = tuple(registry.in_group_version(group, version))
    if not infos:
        _CACHE.pop((group, version), None)
        return None
    cached = _CACHE.get((group, version))
    if (
        cached is not None
        and len(cached.infos) == len(infos)
        and all(a is b for a, b in zip(cached.infos, infos, strict=True))
    ):
        return cached
    entry = _Entry(infos, _build(list(infos), group, version))
    _CACHE[(group, version)] = entry
    return entry


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of ``group``/``version`` ("" = core ``api/v1``), or ``None``.

    Documents are cached until a resource of the group version changes; treat the result as
    read-only.
    """
    entry = _entry(registry, group, version)
    return entry.document if entry is not None else None


def _group_versions(registry: Registry) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for info in registry:
        for served in info.versions:
            if served.served:
                found.add((info.group, served.name))
    return sorted(found)


def _api_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index(registry: Registry) -> dict[str, Any]:
    """``GET /openapi/v3``: every served group version with a hash-bearing URL."""
    paths: dict[str, Any] = {}
    for group, version in _group_versions(registry):
        entry = _entry(registry, group, version)
        if entry is None:
            continue
        key = _api_path(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={entry.digest}"}
    return {"paths": paths}
