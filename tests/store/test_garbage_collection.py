"""Garbage collection by ownerReferences (issue 8): Background, Foreground, Orphan.

Owners are Widgets (a custom resource), dependents ConfigMaps and Widgets, as the controller
will own RoleBindings and Secrets. Everything goes through the real store over HTTPS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import CRDS
from tests.support.kubeapi import Api, assert_status, widget, widgets
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually

HOLD = "test.wws.dev/hold"


def configmaps(namespace: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{path}/{name}" if name else path


def owned_configmap(name: str, *owners: dict[str, Any], block: bool = False) -> dict[str, Any]:
    refs = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            **({"blockOwnerDeletion": True} if block else {}),
        }
        for owner in owners
    ]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": refs},
        "data": {"k": "v"},
    }


def gone(api: Api, path: str) -> Callable[[], bool]:
    return lambda: api.get(path).status_code == 404


def delete(api: Api, path: str, policy: str | None = None) -> Any:
    body = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if policy is not None:
        body["propagationPolicy"] = policy
    return api.request("DELETE", path, json=body)


def test_background_deletes_dependents_once_their_owners_are_gone(api: Api, namespace: str) -> None:
    owner = api.create(widgets(namespace), widget("owner"))
    other = api.create(widgets(namespace), widget("other"))
    api.create(configmaps(namespace), owned_configmap("only-child", owner))
    api.create(configmaps(namespace), owned_configmap("shared-child", owner, other))
    child_widget = widget("child-widget")
    child_widget["metadata"]["ownerReferences"] = owned_configmap("x", owner)["metadata"][
        "ownerReferences"
    ]
    api.create(widgets(namespace), child_widget)

    response = delete(api, widgets(namespace, "owner"))  # no policy: Background
    assert response.status_code == 200, response.text
    assert api.get(widgets(namespace, "owner")).status_code == 404  # the owner goes at once
    eventually(gone(api, configmaps(namespace, "only-child")))
    eventually(gone(api, widgets(namespace, "child-widget")))
    # A dependent with another live owner stays, without the reference to the one gone.
    eventually(
        lambda: (
            [
                ref["name"]
                for ref in api.get_json(configmaps(namespace, "shared-child"))["metadata"][
                    "ownerReferences"
                ]
            ]
            == ["other"]
        )
    )


def test_foreground_waits_for_blocking_dependents(api: Api, namespace: str) -> None:
    owner = api.create(widgets(namespace), widget("fg-owner"))
    blocking = owned_configmap("blocking", owner, block=True)
    blocking["metadata"]["finalizers"] = [HOLD]
    api.create(configmaps(namespace), blocking)
    api.create(configmaps(namespace), owned_configmap("loose", owner))

    response = delete(api, widgets(namespace, "fg-owner"), "Foreground")
    assert response.status_code == 200, response.text
    deleting = response.json()
    assert "foregroundDeletion" in deleting["metadata"]["finalizers"]
    assert deleting["metadata"]["deletionTimestamp"]
    eventually(gone(api, configmaps(namespace, "loose")))
    # The blocking dependent is being deleted but holds on to its finalizer: the owner waits.
    eventually(
        lambda: bool(
            api.get_json(configmaps(namespace, "blocking"))["metadata"].get("deletionTimestamp")
        )
    )
    time.sleep(0.5)
    assert api.get(widgets(namespace, "fg-owner")).status_code == 200
    api.patch_ok(configmaps(namespace, "blocking"), {"metadata": {"finalizers": None}})
    eventually(gone(api, configmaps(namespace, "blocking")))
    eventually(gone(api, widgets(namespace, "fg-owner")))


def test_foreground_without_dependents_deletes_the_owner(api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("lonely"))
    assert delete(api, widgets(namespace, "lonely"), "Foreground").status_code == 200
    eventually(gone(api, widgets(namespace, "lonely")))


def test_orphan_keeps_dependents_and_drops_their_references(api: Api, namespace: str) -> None:
    owner = api.create(widgets(namespace), widget("orphaner"))
    api.create(configmaps(namespace), owned_configmap("orphan-child", owner))
    response = delete(api, widgets(namespace, "orphaner"), "Orphan")
    assert response.status_code == 200, response.text
    assert "orphan" in response.json()["metadata"]["finalizers"]
    eventually(gone(api, widgets(namespace, "orphaner")))
    child = api.get_json(configmaps(namespace, "orphan-child"))
    assert "ownerReferences" not in child["metadata"]
    time.sleep(0.3)
    assert api.get(configmaps(namespace, "orphan-child")).status_code == 200


@pytest.mark.parametrize("where", ["body", "query"])
def test_bogus_propagation_policy_is_400(api: Api, namespace: str, where: str) -> None:
    api.create(widgets(namespace), widget("stays"))
    revision = api.revision()
    if where == "body":
        response = delete(api, widgets(namespace, "stays"), "Sideways")
    else:
        response = api.delete(widgets(namespace, "stays"), params={"propagationPolicy": "Sideways"})
    assert_status(response, 400, "BadRequest", "propagationPolicy")
    assert api.revision() == revision
    assert api.get(widgets(namespace, "stays")).status_code == 200


def test_dependent_of_an_owner_that_never_existed_is_collected(api: Api, namespace: str) -> None:
    ghost = widget("ghost")
    ghost["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    api.create(configmaps(namespace), owned_configmap("haunted", ghost))
    eventually(gone(api, configmaps(namespace, "haunted")))


def test_owner_of_a_kind_the_store_does_not_serve_keeps_its_dependent(
    api: Api, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "uid": "11111111-1111-1111-1111-111111111111"},
    }
    api.create(configmaps(namespace), owned_configmap("pod-child", pod))
    time.sleep(0.5)
    assert api.get(configmaps(namespace, "pod-child")).status_code == 200


def test_foreground_deletion_survives_a_restart(tmp_path: Path) -> None:
    store = StoreProcess(tmp_path / "store", crds_dir=CRDS).start()
    try:
        api = Api(store)
        api.namespace("gc")
        owner = api.create(widgets("gc"), widget("owner"))
        blocking = owned_configmap("held", owner, block=True)
        blocking["metadata"]["finalizers"] = [HOLD]
        api.create(configmaps("gc"), blocking)
        assert delete(api, widgets("gc", "owner"), "Foreground").status_code == 200
        eventually(
            lambda: bool(
                api.get_json(configmaps("gc", "held"))["metadata"].get("deletionTimestamp")
            )
        )
        api.close()
    finally:
        store.kill()
    store.start()
    try:
        api = Api(store)
        assert api.get(widgets("gc", "owner")).status_code == 200  # still waiting
        api.patch_ok(configmaps("gc", "held"), {"metadata": {"finalizers": None}})
        eventually(gone(api, widgets("gc", "owner")))
        api.close()
    finally:
        store.stop()
