"""Bad requests over raw HTTPS: the exact Status, the field named, and nothing stored changed.

Every case runs inside :func:`unchanged`, which snapshots the store's global resourceVersion
(any write anywhere bumps it) and the test's objects before the request, and afterwards
checks that both are identical and that the server still answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support.kubeapi import JSON_PATCH, MERGE, Api, assert_status, widget, widgets
from tests.support.storeproc import StoreProcess

MiB = 1024 * 1024


@pytest.fixture
def existing(api: Api, namespace: str) -> dict[str, Any]:
    """One stored widget, so that every case can show it was left exactly as it was."""
    return api.create(widgets(namespace), widget("existing", size=3, color="red"))


@contextmanager
def unchanged(api: Api, namespace: str) -> Iterator[None]:
    revision = api.revision()
    before = api.get_json(widgets(namespace))
    yield
    assert api.store.process is not None and api.store.process.poll() is None, "the store died"
    assert api.get("/readyz").status_code == 200
    after = api.get_json(widgets(namespace))
    assert after["items"] == before["items"]
    assert api.revision() == revision, "something was written"


def test_body_over_3_mib_is_413(api: Api, namespace: str, existing: dict[str, Any]) -> None:
    big = widget("big", note="x" * (3 * MiB + 100))
    with unchanged(api, namespace):
        response = api.request(
            "POST",
            widgets(namespace),
            content=json.dumps(big),
            headers={"Content-Type": "application/json"},
        )
        assert_status(response, 413, "RequestEntityTooLarge")
    # Without a Content-Length (chunked), the limit holds while reading.
    payload = json.dumps(big).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    with unchanged(api, namespace):
        response = api.request(
            "POST",
            widgets(namespace),
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert_status(response, 413, "RequestEntityTooLarge")
    with unchanged(api, namespace):
        response = api.patch(widgets(namespace, "existing"), {"spec": {"note": "y" * 4 * MiB}})
        assert_status(response, 413, "RequestEntityTooLarge")
    # Under both the body limit and the object limit (1.5 MiB) is fine.
    ok = api.create(widgets(namespace), widget("large", note="z" * MiB))
    assert len(ok["spec"]["note"]) == MiB


def test_unknown_resources_are_404(api: Api, namespace: str, existing: dict[str, Any]) -> None:
    with unchanged(api, namespace):
        for path in [
            f"/apis/test.wws.dev/v1/namespaces/{namespace}/nosuchthings",
            "/apis/nosuch.example.com/v1/things",
            "/apis/test.wws.dev/v9/namespaces/default/widgets",
            "/api/v1/nosuchthings",
        ]:
            assert_status(api.get(path), 404, "NotFound")
            assert_status(
                api.request("POST", path, json={"metadata": {"name": "x"}}), 404, "NotFound"
            )
        assert_status(api.get(widgets(namespace, "absent")), 404, "NotFound")
        assert_status(
            api.patch(widgets(namespace, "absent"), {"spec": {"size": 2}}), 404, "NotFound"
        )
        assert_status(api.delete(widgets(namespace, "absent")), 404, "NotFound")
        status = assert_status(
            api.request("POST", widgets("no-such-namespace"), json=widget("x")), 404, "NotFound"
        )
        assert "no-such-namespace" in status["message"]


def test_malformed_json_and_yaml_are_400(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    with unchanged(api, namespace):
        response = api.request(
            "POST",
            widgets(namespace),
            content=b'{"apiVersion": "test.wws',
            headers={"Content-Type": "application/json"},
        )
        status = assert_status(response, 400, "BadRequest")
        assert "JSON" in status["message"]
        response = api.request(
            "POST",
            widgets(namespace),
            content=b"apiVersion: test.wws.dev/v1\nspec: [size: 3\n",
            headers={"Content-Type": "application/yaml"},
        )
        status = assert_status(response, 400, "BadRequest")
        assert "YAML" in status["message"]
        response = api.request(
            "PATCH",
            widgets(namespace, "existing"),
            content=b"{not json",
            headers={"Content-Type": MERGE},
        )
        assert_status(response, 400, "BadRequest")
        # Protobuf (what client-go's typed clients send for built-in kinds) is read for the
        # core kinds kubectl creates; a truncated body or another kind is refused as such.
        response = api.request(
            "POST",
            "/api/v1/namespaces",
            content=b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x05\n\x07",
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        )
        assert_status(response, 400, "BadRequest")
        response = api.request(
            "POST",
            widgets(namespace),
            content=b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment",
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        )
        status = assert_status(response, 415, "UnsupportedMediaType")
        assert "JSON or YAML" in status["message"]
        response = api.request(
            "POST",
            widgets(namespace),
            content=b"[1, 2]",
            headers={"Content-Type": "application/json"},
        )
        assert_status(response, 400, "BadRequest")
        response = api.request(
            "POST", widgets(namespace), content=b"", headers={"Content-Type": "application/json"}
        )
        assert_status(response, 400, "BadRequest")


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-leading", "x" * 254, "a/b", ""])
def test_invalid_names_are_422(
    api: Api, namespace: str, existing: dict[str, Any], name: str
) -> None:
    with unchanged(api, namespace):
        response = api.request("POST", widgets(namespace), json=widget(name))
        assert_status(response, 422, "Invalid", field="metadata.name")


def test_schema_violations_are_422_naming_the_field(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"size": "big"}, ["spec.size"]),
        ({"size": 0}, ["spec.size"]),
        ({"size": 101}, ["spec.size"]),
        ({"size": 3, "color": "purple"}, ["spec.color"]),
        ({"color": "red"}, ["spec.size"]),
        ({"size": 3, "tags": "not-a-list"}, ["spec.tags"]),
        ({"size": 3, "tags": [1]}, ["spec.tags[0]"]),
        ({"size": -1, "color": "mauve"}, ["spec.size", "spec.color"]),
    ]
    for spec, fields in cases:
        body = widget("violator")
        body["spec"] = spec
        with unchanged(api, namespace):
            status = assert_status(
                api.request("POST", widgets(namespace), json=body), 422, "Invalid"
            )
            named = [cause["field"] for cause in status["details"]["causes"]]
            assert sorted(set(named)) == sorted(fields), (spec, status)
            assert status["details"]["name"] == "violator"
            assert status["details"]["kind"] == "Widget"
            for field in fields:
                assert field in status["message"]
    # The same checks guard updates: merge patch and PUT.
    with unchanged(api, namespace):
        assert_status(
            api.patch(widgets(namespace, "existing"), {"spec": {"size": 0}}),
            422,
            "Invalid",
            field="spec.size",
        )
        replacement = dict(existing)
        replacement["spec"] = {"size": 3, "color": "purple"}
        assert_status(
            api.request("PUT", widgets(namespace, "existing"), json=replacement),
            422,
            "Invalid",
            field="spec.color",
        )
        assert_status(
            api.patch(
                widgets(namespace, "existing"),
                [{"op": "replace", "path": "/spec/size", "value": "huge"}],
                JSON_PATCH,
            ),
            422,
            "Invalid",
            field="spec.size",
        )


def test_strict_field_validation_names_the_unknown_field(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    body = widget("strict", size=3, bogus=1)
    with unchanged(api, namespace):
        response = api.request(
            "POST", widgets(namespace), json=body, params={"fieldValidation": "Strict"}
        )
        status = assert_status(response, 400, "BadRequest")
        assert 'unknown field "spec.bogus"' in status["message"]
        response = api.patch(
            widgets(namespace, "existing"),
            {"spec": {"other": True}},
            params={"fieldValidation": "Strict"},
        )
        status = assert_status(response, 400, "BadRequest")
        assert 'unknown field "spec.other"' in status["message"]
    # Without Strict the field is pruned and the client is warned.
    response = api.request(
        "POST", widgets(namespace), json=body, params={"fieldValidation": "Warn"}
    )
    assert response.status_code == 201, response.text
    assert "bogus" not in response.json()["spec"]
    assert "spec.bogus" in response.headers.get("warning", "")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer"]
)
def test_missing_or_wrong_token_is_401(
    shared_store: StoreProcess,
    api: Api,
    namespace: str,
    existing: dict[str, Any],
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with (
        unchanged(api, namespace),
        httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as anonymous,
    ):
        for method, path, body in [
            ("GET", widgets(namespace), None),
            ("GET", "/apis", None),
            ("POST", widgets(namespace), widget("intruder")),
            ("DELETE", widgets(namespace, "existing"), None),
            ("GET", widgets(namespace) + "?watch=true", None),
        ]:
            response = anonymous.request(method, path, headers=headers, json=body)
            assert_status(response, 401, "Unauthorized")


def test_failed_json_patch_test_is_422(api: Api, namespace: str, existing: dict[str, Any]) -> None:
    rv = existing["metadata"]["resourceVersion"]
    with unchanged(api, namespace):
        response = api.patch(
            widgets(namespace, "existing"),
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": str(int(rv) - 1)},
                {"op": "replace", "path": "/spec/size", "value": 9},
            ],
            JSON_PATCH,
        )
        assert_status(response, 422, "Invalid")
        response = api.patch(
            widgets(namespace, "existing"),
            [{"op": "remove", "path": "/spec/nothing-here"}],
            JSON_PATCH,
        )
        assert_status(response, 422, "Invalid")
    # The same test with the right value passes: kopf's way of patching finalizers.
    patched = api.patch_ok(
        widgets(namespace, "existing"),
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/spec/size", "value": 9},
        ],
        JSON_PATCH,
    )
    assert patched["spec"]["size"] == 9


def test_stale_resource_version_is_409(api: Api, namespace: str, existing: dict[str, Any]) -> None:
    current = api.patch_ok(widgets(namespace, "existing"), {"spec": {"size": 4}})
    stale = dict(existing)
    stale["spec"] = {"size": 50, "color": "blue"}
    with unchanged(api, namespace):
        status = assert_status(
            api.request("PUT", widgets(namespace, "existing"), json=stale), 409, "Conflict"
        )
        assert "the object has been modified" in status["message"]
        assert status["details"] == {"name": "existing", "group": "test.wws.dev", "kind": "widgets"}
        # A merge patch carrying a resourceVersion is conditional too.
        response = api.patch(
            widgets(namespace, "existing"),
            {
                "metadata": {"resourceVersion": existing["metadata"]["resourceVersion"]},
                "spec": {"size": 51},
            },
        )
        assert_status(response, 409, "Conflict")
        # PUT without a resourceVersion is refused for custom resources.
        missing = dict(current)
        missing["metadata"] = {
            k: v for k, v in current["metadata"].items() if k != "resourceVersion"
        }
        assert_status(
            api.request("PUT", widgets(namespace, "existing"), json=missing),
            422,
            "Invalid",
            field="metadata.resourceVersion",
        )
        # A duplicate create is 409 AlreadyExists.
        assert_status(
            api.request("POST", widgets(namespace), json=widget("existing")), 409, "AlreadyExists"
        )
    fresh = dict(current)
    fresh["spec"] = {"size": 50}
    response = api.request("PUT", widgets(namespace, "existing"), json=fresh)
    assert response.status_code == 200, response.text


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def test_too_deeply_nested_bodies_are_400(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    status_path = widgets(namespace, "existing", "status")
    with unchanged(api, namespace):
        body = widget("deep")
        body["status"] = nested(300)
        status = assert_status(
            api.request("POST", widgets(namespace), json=body), 400, "BadRequest"
        )
        assert "nest" in status["message"]
        # Deeper than Python's json module can write: the text is built by hand.
        deep_patch = b'{"status":' + b'{"x":' * 999 + b"{}" + b"}" * 1000
        response = api.request(
            "PATCH", status_path, content=deep_patch, headers={"Content-Type": MERGE}
        )
        assert_status(response, 400, "BadRequest")
        flow = b"{a: " * 400 + b"1" + b"}" * 400
        assert_status(
            api.request(
                "POST",
                widgets(namespace),
                content=flow,
                headers={"Content-Type": "application/yaml"},
            ),
            400,
            "BadRequest",
        )
    # JSON patch can deepen a stored object a step at a time; it is checked as a whole too.
    api.patch_ok(status_path, [{"op": "add", "path": "/status", "value": nested(150)}], JSON_PATCH)
    with unchanged(api, namespace):
        response = api.patch(
            status_path,
            [{"op": "add", "path": "/status" + "/x" * 148, "value": nested(150)}],
            JSON_PATCH,
        )
        assert_status(response, 400, "BadRequest")


def test_malformed_delete_options_are_400(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    with unchanged(api, namespace):
        for options in ({"preconditions": "x"}, {"preconditions": ["uid"]}):
            response = api.request(
                "DELETE",
                widgets(namespace, "existing"),
                content=json.dumps(options),
                headers={"Content-Type": "application/json"},
            )
            assert_status(response, 400, "BadRequest")


def billion_laughs(levels: int) -> bytes:
    """A few hundred bytes of YAML whose aliases expand to 10**levels strings."""
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    head = "apiVersion: test.wws.dev/v1\nkind: Widget\nmetadata: {name: lol}\nspec: {size: 1}\n"
    return (head + "status:\n  " + "\n  ".join(lines) + "\n").encode()


def test_yaml_that_is_not_json_is_400(api: Api, namespace: str, existing: dict[str, Any]) -> None:
    yaml_type = {"Content-Type": "application/yaml"}
    with unchanged(api, namespace):
        body = billion_laughs(9)
        assert len(body) < 1000
        response = api.request(
            "POST", widgets(namespace), content=body, headers=yaml_type, timeout=10
        )
        status = assert_status(response, 400, "BadRequest")
        assert "alias" in status["message"]
        for spec in (
            "{size: 1, 1: a}",
            "{size: 1, note: !!binary aGVsbG8=}",
            "{size: 1, tags: !!set {a, b}}",
            "{size: 1, note: .inf}",
        ):
            body = f"metadata: {{name: odd}}\nspec: {spec}\n".encode()
            response = api.request("POST", widgets(namespace), content=body, headers=yaml_type)
            assert_status(response, 400, "BadRequest")


def test_yaml_bodies_read_as_kubernetes_reads_them(api: Api, namespace: str) -> None:
    """Unquoted timestamps stay strings, as in go-yaml v2 (what kube-apiserver uses)."""
    body = (
        b"apiVersion: test.wws.dev/v1\nkind: Widget\nmetadata: {name: dated}\n"
        b"spec: {size: 2, note: 2024-01-01T10:00:00Z, tags: [2024-01-01]}\n"
    )
    response = api.request(
        "POST", widgets(namespace), content=body, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["note"] == "2024-01-01T10:00:00Z"
    assert response.json()["spec"]["tags"] == ["2024-01-01"]


def test_invalid_owner_references_are_422(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    owner = {
        "apiVersion": "test.wws.dev/v1",
        "kind": "Widget",
        "name": "existing",
        "uid": existing["metadata"]["uid"],
        "controller": True,
    }
    cases: list[tuple[Any, str]] = [
        ("x", "metadata.ownerReferences"),
        (["x"], "metadata.ownerReferences[0]"),
        ([{k: v for k, v in owner.items() if k != "uid"}], "metadata.ownerReferences[0].uid"),
        ([owner, {**owner, "apiVersion": 1}], "metadata.ownerReferences[1].apiVersion"),
        ([{**owner, "controller": "yes"}], "metadata.ownerReferences[0].controller"),
    ]
    for references, field in cases:
        body = widget("owned")
        body["metadata"]["ownerReferences"] = references
        with unchanged(api, namespace):
            assert_status(
                api.request("POST", widgets(namespace), json=body), 422, "Invalid", field=field
            )
    body = widget("owned")
    body["metadata"]["ownerReferences"] = [owner]
    assert api.create(widgets(namespace), body)["metadata"]["ownerReferences"] == [owner]


def test_changing_name_or_uid_by_patch_is_422(
    api: Api, namespace: str, existing: dict[str, Any]
) -> None:
    with unchanged(api, namespace):
        for field, value in (("name", "renamed"), ("uid", "0000-not-the-uid")):
            response = api.patch(
                widgets(namespace, "existing"), {"metadata": {field: value}}, MERGE
            )
            body = assert_status(response, 422, "Invalid")
            assert [c["field"] for c in body["details"]["causes"]] == [f"metadata.{field}"]
            assert "immutable" in body["message"]
