"""OpenAPI v3 documents: what kubectl apply, diff and explain read."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from statestore import openapi
from statestore.resources import Registry, from_crd

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A developer workspace.",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "description": "Container image."},
                "size": {"x-kubernetes-int-or-string": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def crd(*, scope: str = "Namespaced", status: bool = True, schema: Any = None) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1alpha1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": copy.deepcopy(schema or SCHEMA)},
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "workspaces.wws.dev"},
        "spec": {
            "group": "wws.dev",
            "scope": scope,
            "names": {"plural": "workspaces", "singular": "workspace", "kind": "Workspace"},
            "versions": [
                version,
                {"name": "v1alpha0", "served": False, "storage": False},
            ],
        },
    }


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add(from_crd(crd()))
    return reg


def document(reg: Registry, group: str = "wws.dev", version: str = "v1alpha1") -> dict[str, Any]:
    doc = openapi.group_version_document(reg, group, version)
    assert doc is not None
    return doc


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_index_lists_served_group_versions_with_hashed_urls(registry: Registry) -> None:
    paths = openapi.index(registry)["paths"]
    assert set(paths) == {
        "api/v1",
        "apis/apiextensions.k8s.io/v1",
        "apis/wws.dev/v1alpha1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/admissionregistration.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
        "apis/authentication.k8s.io/v1",
    }
    url = paths["apis/wws.dev/v1alpha1"]["serverRelativeURL"]
    digest = openapi.document_hash(document(registry))
    assert url == f"/openapi/v3/apis/wws.dev/v1alpha1?hash={digest}"
    assert paths["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_hash_changes_when_the_crd_changes(registry: Registry) -> None:
    before = openapi.index(registry)["paths"]
    assert openapi.index(registry)["paths"] == before  # stable while nothing changes
    changed = crd()
    spec_schema = changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_schema["properties"]["spec"]["properties"]["image"]["maxLength"] = 10
    registry.add(from_crd(changed))
    after = openapi.index(registry)["paths"]
    key = "apis/wws.dev/v1alpha1"
    assert after[key] != before[key]
    assert after["api/v1"] == before["api/v1"]


def test_unknown_or_removed_group_version_has_no_document(registry: Registry) -> None:
    assert openapi.group_version_document(registry, "nope.dev", "v1") is None
    assert openapi.group_version_document(registry, "wws.dev", "v1alpha0") is None
    registry.remove("wws.dev", "workspaces")
    assert openapi.group_version_document(registry, "wws.dev", "v1alpha1") is None
    assert "apis/wws.dev/v1alpha1" not in openapi.index(registry)["paths"]


def test_namespaced_paths_and_actions(registry: Registry) -> None:
    doc = document(registry)
    assert doc["openapi"].startswith("3.")
    base = "/apis/wws.dev/v1alpha1"
    ns = f"{base}/namespaces/{{namespace}}/workspaces"
    paths = doc["paths"]
    assert set(paths) == {f"{base}/workspaces", ns, f"{ns}/{{name}}", f"{ns}/{{name}}/status"}
    actions = {(path, method): op["x-kubernetes-action"] for path, method, op in operations(doc)}
    assert actions == {
        (f"{base}/workspaces", "get"): "list",
        (ns, "get"): "list",
        (ns, "post"): "post",
        (ns, "delete"): "deletecollection",
        (f"{ns}/{{name}}", "get"): "get",
        (f"{ns}/{{name}}", "put"): "put",
        (f"{ns}/{{name}}", "patch"): "patch",
        (f"{ns}/{{name}}", "delete"): "delete",
        (f"{ns}/{{name}}/status", "get"): "get",
        (f"{ns}/{{name}}/status", "put"): "put",
        (f"{ns}/{{name}}/status", "patch"): "patch",
    }
    path_params = [p["name"] for p in paths[f"{ns}/{{name}}"]["parameters"]]
    assert path_params == ["name", "namespace", "pretty"]
    assert paths[f"{ns}/{{name}}"]["parameters"][0]["required"] is True


def test_cluster_scoped_without_status() -> None:
    reg = Registry()
    reg.add(from_crd(crd(scope="Cluster", status=False)))
    base = "/apis/wws.dev/v1alpha1/workspaces"
    assert set(document(reg)["paths"]) == {base, f"{base}/{{name}}"}


def test_every_operation_names_the_kind(registry: Registry) -> None:
    gvk = {"group": "wws.dev", "version": "v1alpha1", "kind": "Workspace"}
    ids = set()
    for _, _, op in operations(document(registry)):
        assert op["x-kubernetes-group-version-kind"] == gvk
        ids.add(op["operationId"])
        assert op["responses"]["200"]["description"] == "OK"
    assert len(ids) == 11  # operation ids are unique
    assert "patchWwsDevV1alpha1NamespacedWorkspaceStatus" in ids


def test_patch_operations_advertise_field_validation_and_patch_types(registry: Registry) -> None:
    patches = [op for _, method, op in operations(document(registry)) if method == "patch"]
    assert len(patches) == 2
    for op in patches:
        query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= query
        assert set(op["requestBody"]["content"]) == {
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        }


def test_post_and_put_take_field_validation(registry: Registry) -> None:
    for _, method, op in operations(document(registry)):
        if method in ("post", "put"):
            names = {p["name"] for p in op["parameters"]}
            assert {"fieldValidation", "dryRun", "fieldManager"} <= names
            assert "application/json" in op["requestBody"]["content"]


def test_kind_schema_from_the_crd(registry: Registry) -> None:
    schemas = document(registry)["components"]["schemas"]
    kind = schemas["dev.wws.v1alpha1.Workspace"]
    assert kind["x-kubernetes-group-version-kind"] == [
        {"group": "wws.dev", "version": "v1alpha1", "kind": "Workspace"}
    ]
    assert kind["description"] == "A developer workspace."
    props = kind["properties"]
    assert props["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert props["apiVersion"]["type"] == "string" and props["kind"]["type"] == "string"
    spec = props["spec"]
    assert spec["required"] == ["image"]
    assert spec["properties"]["image"] == {"type": "string", "description": "Container image."}
    assert spec["properties"]["size"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    template = spec["properties"]["template"]
    assert {"apiVersion", "kind", "metadata"} <= set(template["properties"])
    assert template["required"] == ["kind", "apiVersion"]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    listing = schemas["dev.wws.v1alpha1.WorkspaceList"]
    assert listing["x-kubernetes-group-version-kind"] == [
        {"group": "wws.dev", "version": "v1alpha1", "kind": "WorkspaceList"}
    ]
    assert listing["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/dev.wws.v1alpha1.Workspace"
    }


def test_crd_schema_is_not_mutated() -> None:
    source = crd()
    before = copy.deepcopy(source)
    reg = Registry()
    reg.add(from_crd(source))
    document(reg)
    assert source == before


def test_all_references_resolve(registry: Registry) -> None:
    for group, version in (("", "v1"), ("wws.dev", "v1alpha1"), ("apiextensions.k8s.io", "v1")):
        doc = document(registry, group, version)
        schemas = doc["components"]["schemas"]
        for ref in refs(doc):
            assert ref.startswith("#/components/schemas/")
            assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_explain_can_find_the_schema_of_every_operation(registry: Registry) -> None:
    """kubectl explain matches the operation's GVK object inside the schema's GVK list."""
    for group, version in (("", "v1"), ("wws.dev", "v1alpha1"), ("apiextensions.k8s.io", "v1")):
        doc = document(registry, group, version)
        schemas = doc["components"]["schemas"].values()
        for _, _, op in operations(doc):
            gvk = op["x-kubernetes-group-version-kind"]
            assert any(gvk in s.get("x-kubernetes-group-version-kind", []) for s in schemas)


def test_core_document(registry: Registry) -> None:
    doc = document(registry, "", "v1")
    paths = doc["paths"]
    assert "/api/v1/namespaces/{name}" in paths
    assert "/api/v1/namespaces/{name}/status" in paths
    assert "/api/v1/namespaces/{namespace}/secrets/{name}" in paths
    assert "/api/v1/namespaces/{namespace}/events" in paths
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in paths
    patch = paths["/api/v1/namespaces/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Namespace",
    }
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    namespace = doc["components"]["schemas"]["io.k8s.api.core.v1.Namespace"]
    assert namespace["x-kubernetes-preserve-unknown-fields"] is True
    assert namespace["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "Namespace"}
    ]


def test_crd_group_document_uses_kubernetes_model_names(registry: Registry) -> None:
    schemas = document(registry, "apiextensions.k8s.io", "v1")["components"]["schemas"]
    name = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    assert name in schemas
    assert f"{name}List" in schemas


def test_model_name() -> None:
    assert openapi.model_name("wws.dev", "v1alpha1", "Workspace") == "dev.wws.v1alpha1.Workspace"
    assert openapi.model_name("", "v1", "Secret") == "io.k8s.api.core.v1.Secret"
