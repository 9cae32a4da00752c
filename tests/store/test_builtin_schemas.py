"""Built-in kinds are checked against their real schemas (issue 8), over raw HTTPS.

A ConfigMap with a number for a value, a Secret with ``type: 5`` or ``generateName: 7`` used
to be stored, after which typed clients failed for the whole namespace. Now the store decodes
them as kube-apiserver does: wrong types and out-of-range numbers are 400, unknown fields are
dropped with a warning (400 under ``fieldValidation=Strict``), and so are duplicate fields.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, config

from tests.support.kubeapi import Api, assert_status, widget, widgets
from tests.support.storeproc import StoreProcess


def configmaps(namespace: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{path}/{name}" if name else path


def configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **fields}


def post(api: Api, path: str, body: str, content_type: str, **params: str) -> Any:
    return api.request(
        "POST", path, content=body, headers={"Content-Type": content_type}, params=params
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (configmap("int-value", data={"a": 1}), "data.a"),
        (configmap("bool-binary", binaryData={"a": True}), "binaryData.a"),
        (
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": 5},
            "type",
        ),
        (
            configmap("", data={"a": "b"}) | {"metadata": {"generateName": 7}},
            "metadata.generateName",
        ),
        (
            configmap("labels", data={}) | {"metadata": {"name": "l", "labels": ["x"]}},
            "metadata.labels",
        ),
    ],
    ids=[
        "configmap-int",
        "configmap-binary-bool",
        "secret-type-int",
        "generatename-int",
        "labels-list",
    ],
)
def test_wrong_types_in_builtin_kinds_are_400_and_nothing_is_stored(
    api: Api, namespace: str, body: dict[str, Any], field: str
) -> None:
    kind = body["kind"].lower() + "s"
    path = f"/api/v1/namespaces/{namespace}/{kind}"
    revision = api.revision()
    response = api.request("POST", path, json=body)
    status = assert_status(response, 400, "BadRequest", field)
    assert "cannot be handled as a" in status["message"], status
    assert api.revision() == revision
    # The namespace stays readable by typed clients.
    assert api.get_json(path)["items"] == []


def test_typed_python_client_reads_the_namespace_after_bad_writes(
    api: Api, namespace: str, shared_store: StoreProcess
) -> None:
    api.request("POST", configmaps(namespace), json=configmap("bad", data={"n": 5}))
    api.create(configmaps(namespace), configmap("good", data={"n": "5"}))
    api_client = config.new_client_from_config(config_file=str(shared_store.kubeconfig))
    try:
        found = client.CoreV1Api(api_client).list_namespaced_config_map(namespace)
    finally:
        api_client.close()
    assert [item.metadata.name for item in found.items if item.metadata] == ["good"]
    assert found.items[0].data == {"n": "5"}


def test_unknown_fields_are_dropped_with_a_warning(api: Api, namespace: str) -> None:
    body = configmap("unknown", data={"a": "b"}, colour="red")
    body["metadata"]["nickname"] = "x"
    response = api.request("POST", configmaps(namespace), json=body)
    assert response.status_code == 201, response.text
    warnings = response.headers.get_list("warning")
    assert any('unknown field \\"colour\\"' in w or 'unknown field "colour"' in w for w in warnings)
    assert any("metadata.nickname" in w for w in warnings), warnings
    stored = api.get_json(configmaps(namespace, "unknown"))
    assert "colour" not in stored and "nickname" not in stored["metadata"]
    assert stored["data"] == {"a": "b"}


def test_unknown_fields_under_strict_are_400(api: Api, namespace: str) -> None:
    revision = api.revision()
    response = api.request(
        "POST",
        configmaps(namespace),
        json=configmap("strict", data={"a": "b"}, colour="red"),
        params={"fieldValidation": "Strict"},
    )
    status = assert_status(response, 400, "BadRequest", "colour")
    assert status["message"] == 'strict decoding error: unknown field "colour"'
    assert api.revision() == revision


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},'
            '"data":{"a":"1","a":"2"}}',
            "application/json",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  a: '1'\n  a: '2'\n",
            "application/yaml",
        ),
    ],
    ids=["json", "yaml"],
)
def test_duplicate_fields_under_strict_are_400(
    api: Api, namespace: str, body: str, content_type: str
) -> None:
    revision = api.revision()
    response = post(api, configmaps(namespace), body, content_type, fieldValidation="Strict")
    status = assert_status(response, 400, "BadRequest")
    assert 'duplicate field "a"' in status["message"], status
    assert api.revision() == revision


def test_huge_integer_in_yaml_is_400_not_500(api: Api, namespace: str) -> None:
    revision = api.revision()
    body = (
        "apiVersion: test.wws.dev/v1\nkind: Widget\nmetadata:\n  name: huge\n"
        "spec:\n  size: 3\n  note: x\n  extra: 123456789012345678901234567890\n"
    )
    response = post(api, widgets(namespace), body, "application/yaml")
    status = assert_status(response, 400, "BadRequest")
    assert "spec.extra" in status["message"] and "64-bit" in status["message"], status
    # A number just past int64 in JSON too (orjson reads it as an unsigned 64-bit integer).
    big = json.dumps(widget("huge", size=3)).replace('"size": 3', '"size": 9223372036854775808')
    response = post(api, widgets(namespace), big, "application/json")
    assert_status(response, 400, "BadRequest")
    assert api.revision() == revision


def test_int32_field_out_of_range_is_400(api: Api, namespace: str) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "ev"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": namespace},
        "count": 2**40,
    }
    response = api.request("POST", f"/api/v1/namespaces/{namespace}/events", json=event)
    assert_status(response, 400, "BadRequest", "count")


def test_duplicate_fields_warn_by_default(api: Api, namespace: str) -> None:
    body = (
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup-warn"},'
        '"data":{"a":"1","a":"2","b":"x\\":y"}}'
    )
    response = post(api, configmaps(namespace), body, "application/json")
    assert response.status_code == 201, response.text
    warnings = " ".join(response.headers.get_list("warning"))
    assert 'duplicate field \\"a\\"' in warnings or 'duplicate field "a"' in warnings, warnings
    assert response.json()["data"] == {"a": "2", "b": 'x":y'}
    quiet = post(
        api,
        configmaps(namespace),
        body.replace("dup-warn", "dup-quiet"),
        "application/json",
        fieldValidation="Ignore",
    )
    assert quiet.status_code == 201 and not quiet.headers.get_list("warning")
