"""WWS's own CRDs in the embedded store: what users get wrong is refused with the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kubeapi import Api, assert_status
from tests.support.storeproc import StoreProcess

WORKSPACES = "/apis/wws.dev/v1alpha1/namespaces/acme/workspaces"


@pytest.fixture
def api(store: StoreProcess) -> Iterator[Api]:
    client = Api(store)
    client.namespace("acme")
    try:
        yield client
    finally:
        client.close()


def workspace(name: str, languages: list[dict[str, str]]) -> dict[str, object]:
    return {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {"owner": "alice", "languages": languages},
    }


def test_an_unknown_language_or_version_is_refused_with_the_known_ones(api: Api) -> None:
    response = api.request("POST", WORKSPACES, json=workspace("a", [{"name": "ruby"}]))
    status = assert_status(response, 422, "Invalid", "spec.languages[0].name")
    assert '"python"' in status["message"] and '"rust"' in status["message"]

    response = api.request(
        "POST", WORKSPACES, json=workspace("b", [{"name": "python", "version": "2.7"}])
    )
    status = assert_status(response, 422, "Invalid", "spec.languages[0]")
    assert "known: " in status["message"] and "python (3.11)" in status["message"]

    created = api.request(
        "POST", WORKSPACES, json=workspace("c", [{"name": "python", "version": "3.11"}])
    )
    assert created.status_code == 201, created.text
    assert [item["metadata"]["name"] for item in api.get_json(WORKSPACES)["items"]] == ["c"]
