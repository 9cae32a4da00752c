"""Request rules of issue 8's "smaller" list and the namespace rules, over raw HTTPS.

Each refusal changes nothing: the store's global resourceVersion stays where it was.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.store.conftest import CRDS
from tests.support.kubeapi import Api, assert_status, widget, widgets
from tests.support.names import unique
from tests.support.storeproc import StoreProcess


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_text_plain_body_is_415(api: Api, namespace: str, method: str) -> None:
    existing = api.create(widgets(namespace), widget("plain"))
    revision = api.revision()
    path = widgets(namespace) if method == "POST" else widgets(namespace, "plain")
    response = api.request(
        method, path, content=json.dumps(existing), headers={"Content-Type": "text/plain"}
    )
    assert_status(response, 415, "UnsupportedMediaType")
    assert api.revision() == revision


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("POST", {"fieldValidation": "Bogus"}, "fieldValidation"),
        ("GET", {"watch": "yes"}, "watch"),
        ("GET", {"limit": "abc"}, "limit"),
        ("GET", {"resourceVersion": "1", "resourceVersionMatch": "Bogus"}, "resourceVersionMatch"),
    ],
    ids=["fieldValidation", "watch", "limit", "resourceVersionMatch"],
)
def test_bad_query_parameters_are_400(
    api: Api, namespace: str, method: str, params: dict[str, str], field: str
) -> None:
    revision = api.revision()
    if method == "POST":
        response = api.request("POST", widgets(namespace), json=widget("q"), params=params)
    else:
        response = api.get(widgets(namespace), params=params)
    assert_status(response, 400, "BadRequest", field)
    assert api.revision() == revision


def test_deletecollection_of_namespaces_is_405(api: Api, namespace: str) -> None:
    revision = api.revision()
    response = api.delete("/api/v1/namespaces")
    assert_status(response, 405, "MethodNotAllowed")
    assert api.revision() == revision
    assert api.get(f"/api/v1/namespaces/{namespace}").status_code == 200
    resources = api.get_json("/api/v1")["resources"]
    [namespaces] = [r for r in resources if r["name"] == "namespaces"]
    assert "deletecollection" not in namespaces["verbs"]


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(api: Api, name: str) -> None:
    revision = api.revision()
    response = api.delete(f"/api/v1/namespaces/{name}")
    status = assert_status(response, 403, "Forbidden")
    assert "may not be deleted" in status["message"]
    assert api.revision() == revision
    assert "deletionTimestamp" not in api.get_json(f"/api/v1/namespaces/{name}")["metadata"]


def test_generate_name_is_cut_to_58_characters(api: Api, namespace: str) -> None:
    body = widget("")
    # "a" is not in the random suffix's alphabet (kube's "bcdfghjklmnpqrstvwxz2456789"),
    # so the cut is visible whatever the suffix is.
    body["metadata"] = {"generateName": "a" * 70}
    created = api.create(widgets(namespace), body)
    name = created["metadata"]["name"]
    assert len(name) == 63 and name.startswith("a" * 58) and "a" not in name[58:]


def test_create_that_sets_resource_version_is_refused(api: Api, namespace: str) -> None:
    body = widget("with-rv")
    body["metadata"]["resourceVersion"] = "5"
    revision = api.revision()
    response = api.request("POST", widgets(namespace), json=body)
    status = assert_status(response, 400, "BadRequest", "metadata.resourceVersion")
    assert status["message"] == "resourceVersion should not be set on objects to be created"
    assert api.revision() == revision


def test_restart_with_unchanged_crds_writes_nothing(tmp_path: Path) -> None:
    store = StoreProcess(tmp_path / "store", crds_dir=CRDS).start()
    try:
        api = Api(store)
        crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.wws.dev"
        before = api.get_json(crd_path)
        revision = api.revision()
        api.close()
    finally:
        store.stop()
    time.sleep(1.1)  # a new lastTransitionTime would now differ from the stored one
    store.start()
    try:
        api = Api(store)
        after = api.get_json(crd_path)
        assert after == before
        assert api.revision() == revision
        # No watcher resuming from before the restart hears of any CRD change.
        with api.watch(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            {"resourceVersion": str(revision), "timeoutSeconds": "1"},
        ) as stream:
            assert stream.rest() == []
        api.close()
    finally:
        store.stop()


def test_changed_crd_is_updated_at_restart(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    text = (CRDS / "widgets.yaml").read_text()
    (crds / "widgets.yaml").write_text(text)
    store = StoreProcess(tmp_path / "store", crds_dir=crds).start()
    try:
        namespace = unique("ns")
        api = Api(store)
        api.namespace(namespace)
        generation = api.get_json(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.wws.dev"
        )["metadata"]["generation"]
        api.close()
    finally:
        store.stop()
    (crds / "widgets.yaml").write_text(re.sub(r"maximum: 100", "maximum: 200", text, count=1))
    store.start()
    try:
        api = Api(store)
        crd = api.get_json(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.wws.dev"
        )
        assert crd["metadata"]["generation"] == generation + 1
        assert (
            api.request("POST", widgets(namespace), json=widget("big", size=150)).status_code == 201
        )
        api.close()
    finally:
        store.stop()


def test_bad_resource_version_match_on_a_watch_is_400(api: Api, namespace: str) -> None:
    response = api.get(
        widgets(namespace),
        params={"watch": "true", "resourceVersion": "1", "resourceVersionMatch": "Bogus"},
    )
    assert_status(response, 400, "BadRequest", "resourceVersionMatch")


@pytest.mark.parametrize(("directive", "warned"), [("Warn", True), ("Ignore", False), ("", True)])
def test_unknown_fields_warn_unless_ignored(
    api: Api, namespace: str, directive: str, warned: bool
) -> None:
    body = widget(unique("w"), surprise=1)
    params = {"fieldValidation": directive} if directive else {}
    response = api.request("POST", widgets(namespace), json=body, params=params)
    assert response.status_code == 201, response.text
    assert "surprise" not in response.json()["spec"]
    warnings = " ".join(response.headers.get_list("warning"))
    assert ("spec.surprise" in warnings) is warned, warnings
