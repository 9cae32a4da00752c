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

_API_VERSION_PROP: Final = {
    "description": "APIVersion defines the versioned schema of this representation of an object. "
    "Servers should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
    "type": "string",
}
_KIND_PROP: Final = {
    "description": "Kind is a string value representing the REST resource this object "
    "represents. Servers may infer this from the endpoint the client submits requests to. "
    "Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    "#types-kinds",
    "type": "string",
}
_METADATA_PROP: Final = {
    "allOf": [{"$ref": _OBJECT_META_REF}],
    "default": {},
    "description": "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
}
_LIST_METADATA_PROP: Final = {
    "allOf": [{"$ref": _LIST_META_REF}],
    "default": {},
    "description": "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
}

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


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": kind, "uniqueItems": True},
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


_PRETTY: Final = _query(
    "pretty",
    "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
    "indicates a browser or command-line HTTP tool (curl and wget).",
)
_DRY_RUN: Final = _query(
    "dryRun",
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing "
    "of the request. Valid values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER: Final = _query(
    "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
)
_FIELD_VALIDATION: Final = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/"
    "PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will "
    "ignore any unknown fields that are silently dropped from the object, and will ignore all "
    "but the last duplicate field that the decoder encounters. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped "
    "from the object, and for each duplicate field that is encountered. - Strict: This will "
    "fail the request with a BadRequest error if any unknown fields would be dropped from the "
    "object, or if any duplicate fields are present. The error returned from the server will "
    "contain all unknown and duplicate fields encountered.",
)
_FORCE: Final = _query(
    "force",
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting '
    "fields owned by other people. Force flag must be unset for non-apply patch requests.",
    "boolean",
)
_LIST_PARAMS: Final = (
    _query(
        "allowWatchBookmarks",
        'allowWatchBookmarks requests watch events with type "BOOKMARK".',
        "boolean",
    ),
    _query(
        "continue",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _query(
        "fieldSelector",
        "A selector to restrict the list of returned objects by their "
        "fields (metadata.name, metadata.namespace). Defaults to everything.",
    ),
    _query(
        "labelSelector",
        "A selector to restrict the list of returned objects by their "
        "labels. Defaults to everything.",
    ),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query(
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _query(
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query(
        "watch",
        "Watch for changes to the described resources and return them as a stream "
        "of add, update, and remove notifications.",
        "boolean",
    ),
)
_DELETE_PARAMS: Final = (
    _DRY_RUN,
    _query(
        "gracePeriodSeconds",
        "The duration in seconds before the object should be deleted.",
        "integer",
    ),
    _query(
        "propagationPolicy",
        "Whether and how garbage collection will be performed: "
        "'Orphan', 'Background' or 'Foreground'.",
    ),
)


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
                params=(
                    _query(
                        "resourceVersion",
                        "resourceVersion sets a "
                        "constraint on what resource versions a "
                        "request may be served from.",
                    ),
                ),
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


def _string(description: str, fmt: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"description": description, "type": "string"}
    if fmt:
        schema["format"] = fmt
    return schema


def _string_map(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "additionalProperties": {"type": "string", "default": ""},
    }


def _meta_schemas() -> dict[str, Any]:
    """The apimachinery types the documents refer to (enough for explain and clients)."""
    owner_reference = {
        "description": "OwnerReference contains enough information to let you identify an "
        "owning object.",
        "type": "object",
        "required": ["apiVersion", "kind", "name", "uid"],
        "properties": {
            "apiVersion": _string("API version of the referent."),
            "blockOwnerDeletion": {
                "description": "If true, the owner cannot be deleted before "
                "this reference is removed.",
                "type": "boolean",
            },
            "controller": {
                "description": "If true, this reference points to the managing controller.",
                "type": "boolean",
            },
            "kind": _string("Kind of the referent."),
            "name": _string("Name of the referent."),
            "uid": _string("UID of the referent."),
        },
        "x-kubernetes-map-type": "atomic",
    }
    object_meta = {
        "description": "ObjectMeta is metadata that all persisted resources must have, which "
        "includes all objects users must create.",
        "type": "object",
        "properties": {
            "annotations": _string_map(
                "Annotations is an unstructured key value map stored "
                "with a resource that may be set by external tools to "
                "store and retrieve arbitrary metadata."
            ),
            "creationTimestamp": _string(
                "CreationTimestamp is a timestamp representing the "
                "server time when this object was created.",
                "date-time",
            ),
            "deletionGracePeriodSeconds": {
                "description": "Number of seconds allowed for this object to gracefully terminate.",
                "type": "integer",
                "format": "int64",
            },
            "deletionTimestamp": _string(
                "DeletionTimestamp is the time after which this "
                "resource will be deleted; set by the server when a "
                "graceful deletion is requested.",
                "date-time",
            ),
            "finalizers": {
                "description": "Must be empty before the object is deleted from the registry.",
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "set",
            },
            "generateName": _string(
                "GenerateName is an optional prefix, used by the server, "
                "to generate a unique name ONLY IF the Name field has not "
                "been provided."
            ),
            "generation": {
                "description": "A sequence number representing a specific "
                "generation of the desired state.",
                "type": "integer",
                "format": "int64",
            },
            "labels": _string_map(
                "Map of string keys and values that can be used to organize "
                "and categorize (scope and select) objects."
            ),
            "managedFields": {
                "description": "ManagedFields maps workflow-id and version to "
                "the set of fields that are managed by that workflow.",
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "name": _string("Name must be unique within a namespace. Cannot be updated."),
            "namespace": _string(
                "Namespace defines the space within which each name must be unique."
            ),
            "ownerReferences": {
                "description": "List of objects depended by this object.",
                "type": "array",
                "items": {"allOf": [{"$ref": f"{_REF}{_META}.OwnerReference"}], "default": {}},
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-list-type": "map",
            },
            "resourceVersion": _string(
                "An opaque value that represents the internal version "
                "of this object, used for optimistic concurrency."
            ),
            "selfLink": _string(
                "Deprecated: selfLink is a legacy read-only field that is no "
                "longer populated by the system."
            ),
            "uid": _string("UID is the unique in time and space value for this object."),
        },
    }
    list_meta = {
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "type": "object",
        "properties": {
            "continue": _string(
                "continue may be set if the user set a limit on the number of items returned."
            ),
            "remainingItemCount": {
                "description": "The number of subsequent items in the list "
                "which are not included in this list response.",
                "type": "integer",
                "format": "int64",
            },
            "resourceVersion": _string(
                "String that identifies the server's internal version of this object."
            ),
            "selfLink": _string("Deprecated: selfLink is a legacy read-only field."),
        },
    }
    status = {
        "description": "Status is a return value for calls that don't return other objects.",
        "type": "object",
        "properties": {
            "apiVersion": dict(_API_VERSION_PROP),
            "code": {
                "description": "Suggested HTTP return code for this status.",
                "type": "integer",
                "format": "int32",
            },
            "details": {
                "description": "Extended data associated with the reason.",
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "kind": dict(_KIND_PROP),
            "message": _string("A human-readable description of the status of this operation."),
            "metadata": copy.deepcopy(_LIST_METADATA_PROP),
            "reason": _string(
                'A machine-readable description of why this operation is in the "Failure" status.'
            ),
            "status": _string('Status of the operation. One of: "Success" or "Failure".'),
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
    }
    delete_options = {
        "description": "DeleteOptions may be provided when deleting an API object.",
        "type": "object",
        "properties": {
            "apiVersion": dict(_API_VERSION_PROP),
            "dryRun": {
                "description": "When present, indicates that modifications should not "
                "be persisted.",
                "type": "array",
                "items": {"type": "string", "default": ""},
                "x-kubernetes-list-type": "atomic",
            },
            "gracePeriodSeconds": {
                "description": "The duration in seconds before the object should be deleted.",
                "type": "integer",
                "format": "int64",
            },
            "kind": dict(_KIND_PROP),
            "preconditions": {
                "description": "Must be fulfilled before a deletion is carried out.",
                "type": "object",
                "properties": {
                    "resourceVersion": _string("Specifies the target ResourceVersion"),
                    "uid": _string("Specifies the target UID."),
                },
            },
            "propagationPolicy": _string("Whether and how garbage collection will be performed."),
        },
    }
    return {
        f"{_META}.DeleteOptions": delete_options,
        f"{_META}.ListMeta": list_meta,
        f"{_META}.ObjectMeta": object_meta,
        f"{_META}.OwnerReference": owner_reference,
        f"{_META}.Patch": {
            "description": "Patch is provided to give a concrete name and type to the "
            "Kubernetes PATCH request body.",
            "type": "object",
        },
        f"{_META}.Status": status,
    }


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
