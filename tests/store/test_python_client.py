"""The official ``kubernetes`` Python client against the store, configured from its kubeconfig."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.support.kubeapi import Api, widget
from tests.support.storeproc import StoreProcess

GROUP, VERSION = "test.wws.dev", "v1"
#: ``CustomObjectsApi``; its methods are typed as returning ``object`` though they return dicts.
Custom = Any


@pytest.fixture(scope="module")
def custom(shared_store: StoreProcess) -> Iterator[Custom]:
    api_client = config.new_client_from_config(config_file=str(shared_store.kubeconfig))
    try:
        yield client.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def test_namespaced_crud(custom: Custom, namespace: str) -> None:
    body = widget("crud", size=3, color="red")
    body["metadata"]["labels"] = {"tier": "gold"}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", body)
    meta = created["metadata"]
    assert meta["namespace"] == namespace
    assert meta["generation"] == 1
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert isinstance(meta["resourceVersion"], str)
    assert created["spec"] == {"size": 3, "color": "red", "shape": "round"}

    named = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "widgets",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Widget",
            "metadata": {"generateName": "gen-"},
            "spec": {"size": 1},
        },
    )
    assert named["metadata"]["name"].startswith("gen-") and len(named["metadata"]["name"]) > 4

    got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "crud")
    assert got == created
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "widgets")
    assert listed["kind"] == "WidgetList"
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == sorted(
        ["crud", named["metadata"]["name"]]
    )
    selected = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", label_selector="tier in (gold, silver)"
    )
    assert [item["metadata"]["name"] for item in selected["items"]] == ["crud"]
    everywhere = custom.list_cluster_custom_object(
        GROUP, VERSION, "widgets", field_selector=f"metadata.namespace={namespace}"
    )
    assert len(everywhere["items"]) == 2

    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "crud", {"spec": {"size": 4}}
    )
    assert patched["spec"]["size"] == 4
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "widgets", "crud", {"status": {"phase": "Ready"}}
    )
    assert status["status"] == {"phase": "Ready"}
    assert status["metadata"]["generation"] == 2  # status is not spec

    replaced_body = dict(status)
    replaced_body["spec"] = {"size": 5}
    replaced_body["status"] = {"phase": "ignored on the main resource"}
    replaced = custom.replace_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "crud", replaced_body
    )
    assert replaced["spec"] == {"size": 5, "shape": "round"}
    assert replaced["status"] == {"phase": "Ready"}
    assert replaced["metadata"]["generation"] == 3

    deleted = custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "crud")
    assert deleted["metadata"]["uid"] == meta["uid"]
    with pytest.raises(ApiException) as missing:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "crud")
    assert missing.value.status == 404


def test_cluster_scoped_crud(custom: Custom) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Gizmo",
        "metadata": {"name": "gizmo-crud"},
        "spec": {"level": 1},
    }
    created = custom.create_cluster_custom_object(GROUP, VERSION, "gizmos", body)
    assert "namespace" not in created["metadata"]
    assert created["spec"] == {"level": 1}
    patched = custom.patch_cluster_custom_object(
        GROUP,
        VERSION,
        "gizmos",
        "gizmo-crud",
        [{"op": "replace", "path": "/spec/level", "value": 2}],
        _content_type="application/json-patch+json",  # the client's default is a merge patch
    )
    assert patched["spec"]["level"] == 2
    # Without a status subresource, status is written through the main resource.
    patched = custom.patch_cluster_custom_object(
        GROUP, VERSION, "gizmos", "gizmo-crud", {"status": {"seen": True}}
    )
    assert patched["status"] == {"seen": True}
    names = [
        item["metadata"]["name"]
        for item in custom.list_cluster_custom_object(GROUP, VERSION, "gizmos")["items"]
    ]
    assert "gizmo-crud" in names
    custom.delete_cluster_custom_object(GROUP, VERSION, "gizmos", "gizmo-crud")
    with pytest.raises(ApiException) as missing:
        custom.get_cluster_custom_object(GROUP, VERSION, "gizmos", "gizmo-crud")
    assert missing.value.status == 404


def test_watch_resumed_from_a_resource_version_gets_exactly_the_missed_events(
    custom: Custom, api: Api, namespace: str
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", widget("seen"))
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "widgets")
    resume_from = listed["metadata"]["resourceVersion"]

    # What happens while the client is away.
    missed: list[tuple[str, str, str]] = []

    def record(kind: str, obj: dict[str, Any]) -> None:
        missed.append((kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    record(
        "ADDED",
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", widget("m1")),
    )
    for size in (2, 3, 4):
        record(
            "MODIFIED",
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, "widgets", "seen", {"spec": {"size": size}}
            ),
        )
    record(
        "ADDED",
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", widget("m2")),
    )
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "m1")
    after_delete = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "widgets")
    missed.append(("DELETED", "m1", after_delete["metadata"]["resourceVersion"]))

    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "widgets",
        resource_version=resume_from,
        timeout_seconds=1,
    )
    received = [
        (e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
        for e in stream
    ]
    assert received == missed
    sizes = [e for e in received if e[1] == "seen"]
    assert len(sizes) == 3


def test_stale_replace_is_409(custom: Custom, namespace: str) -> None:
    original = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", widget("stale", size=3)
    )
    current = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "stale", {"spec": {"size": 4}}
    )
    outdated = dict(original)
    outdated["spec"] = {"size": 50}
    with pytest.raises(ApiException) as conflict:
        custom.replace_namespaced_custom_object(
            GROUP, VERSION, namespace, "widgets", "stale", outdated
        )
    assert conflict.value.status == 409
    status = json.loads(conflict.value.body or "{}")
    assert status["kind"] == "Status" and status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    now = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "stale")
    assert now == current

    fresh = dict(now)
    fresh["spec"] = {"size": 50}
    replaced = custom.replace_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "stale", fresh
    )
    assert replaced["spec"]["size"] == 50
