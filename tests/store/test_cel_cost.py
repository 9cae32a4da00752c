"""The cost of CRD validation rules (issue 8): estimated when the CRD is created, bounded when
the rules run, so one object cannot hold the store up."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.support.kubeapi import Api
from tests.support.names import unique

NESTED_ALL = "self.all(x, self.all(y, x == y))"


def _crd(group: str, tags: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"costs.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "costs", "singular": "cost", "kind": "Cost"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"tags": tags}}
                            },
                        }
                    },
                }
            ],
        },
    }


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
RULE_PATH = (
    "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[tags]"
    ".x-kubernetes-validations[0].rule"
)


def test_a_rule_over_an_unbounded_list_is_refused_at_crd_creation(api: Api) -> None:
    group = f"{unique('g')}.example.com"
    unbounded = {
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-validations": [{"rule": NESTED_ALL}],
    }
    response = api.request("POST", CRDS, json=_crd(group, unbounded))
    assert response.status_code == 422, response.text
    [cause] = response.json()["details"]["causes"]
    assert cause["field"] == RULE_PATH
    assert "estimated rule cost exceeds budget by factor of" in cause["message"]
    assert "maxItems" in cause["message"]
    assert api.get(f"{CRDS}/costs.{group}").status_code == 404
    # With maxItems and maxLength, the same rule fits the budget.
    bounded = {**unbounded, "maxItems": 10, "items": {"type": "string", "maxLength": 8}}
    api.create(CRDS, _crd(group, bounded))
    api.delete(f"{CRDS}/costs.{group}")


def test_a_costly_rule_is_cut_off_at_run_time_and_the_store_keeps_answering(api: Api) -> None:
    """Under the estimate (300 items, ~360,000), but some millions of steps for cel-python:
    the evaluation is stopped at its budget, and /livez answers meanwhile."""
    group = f"{unique('g')}.example.com"
    tags = {
        "type": "array",
        "maxItems": 300,
        "items": {"type": "string", "maxLength": 8},
        "x-kubernetes-validations": [{"rule": NESTED_ALL}],
    }
    api.create(CRDS, _crd(group, tags))
    namespace = api.namespace(unique("ns"))
    path = f"/apis/{group}/v1/namespaces/{namespace}/costs"
    deadline = time.monotonic() + 30
    while api.get(path).status_code != 200:  # served once the CRD is established
        assert time.monotonic() < deadline
        time.sleep(0.1)
    body = {
        "apiVersion": f"{group}/v1",
        "kind": "Cost",
        "metadata": {"name": "heavy"},
        "spec": {"tags": ["a"] * 300},
    }
    result: dict[str, httpx.Response] = {}

    def heavy() -> None:
        result["response"] = api.request("POST", path, json=body)

    thread = threading.Thread(target=heavy)
    thread.start()
    try:
        time.sleep(0.05)
        with httpx.Client(verify=api.store.ssl_context(), timeout=5) as other:
            assert other.get(api.store.url + "/livez").status_code == 200
    finally:
        thread.join(timeout=120)
    response = result["response"]
    assert response.status_code == 422, response.text
    [cause] = response.json()["details"]["causes"]
    assert cause["field"] == "spec.tags"
    assert "call cost exceeds limit for rule" in cause["message"]
    assert api.get(f"{path}/heavy").status_code == 404
    # A small list is validated as before.
    small = {**body, "metadata": {"name": "small"}, "spec": {"tags": ["a", "a"]}}
    assert api.request("POST", path, json=small).status_code == 201
    api.delete(f"{CRDS}/costs.{group}")
