"""Chunked lists (issue 8): ``limit``/``continue``, consistent pages, tokens that expire.

This module runs its own store with a tiny history window, so that compaction (which makes
continue tokens and old ``Exact`` reads expire) happens after a few writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.store.conftest import CRDS
from tests.support import kubectl as kubectl_support
from tests.support.kubeapi import Api, assert_status, widget, widgets
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

WINDOW = 30


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    process = StoreProcess(
        tmp_path_factory.mktemp("paging"),
        crds_dir=CRDS,
        env={"WWS_STORE_HISTORY_WINDOW": str(WINDOW)},
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(store: StoreProcess) -> Iterator[Api]:
    client_ = Api(store)
    try:
        yield client_
    finally:
        client_.close()


@pytest.fixture
def namespace(api: Api) -> str:
    return api.namespace(unique("ns"))


def fill(api: Api, namespace: str, count: int) -> list[str]:
    names = [f"w{i:02d}" for i in range(count)]
    for name in names:
        api.create(widgets(namespace), widget(name))
    return names


def names_of(page: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in page["items"]]


def churn(api: Api, namespace: str, writes: int) -> None:
    """Enough writes elsewhere for compaction to pass every revision seen so far."""
    api.create(widgets(namespace), widget("churn"))
    for size in range(writes):
        api.patch_ok(widgets(namespace, "churn"), {"spec": {"size": 1 + size % 90}})


def test_pages_with_continue_and_remaining_count(api: Api, namespace: str) -> None:
    names = fill(api, namespace, 7)
    first = api.get_json(widgets(namespace), params={"limit": "3"})
    assert names_of(first) == names[:3]
    assert first["metadata"]["remainingItemCount"] == 4
    token = first["metadata"]["continue"]
    # The pages are one snapshot: what changes after the first page does not show.
    api.create(widgets(namespace), widget("w99"))
    assert api.delete(widgets(namespace, "w05")).status_code == 200
    second = api.get_json(widgets(namespace), params={"limit": "3", "continue": token})
    assert names_of(second) == names[3:6]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    third = api.get_json(
        widgets(namespace), params={"limit": "3", "continue": second["metadata"]["continue"]}
    )
    assert names_of(third) == names[6:]
    assert "continue" not in third["metadata"]
    # A new list sees the changes.
    assert names_of(api.get_json(widgets(namespace))) == [*names[:5], names[6], "w99"]


def test_filtered_pages_have_no_remaining_count(api: Api, namespace: str) -> None:
    for i in range(5):
        body = widget(f"l{i}")
        body["metadata"]["labels"] = {"even": str(i % 2 == 0).lower()}
        api.create(widgets(namespace), body)
    page = api.get_json(widgets(namespace), params={"limit": "2", "labelSelector": "even=true"})
    assert names_of(page) == ["l0", "l2"]
    assert "remainingItemCount" not in page["metadata"]
    rest = api.get_json(
        widgets(namespace),
        params={
            "limit": "2",
            "labelSelector": "even=true",
            "continue": page["metadata"]["continue"],
        },
    )
    assert names_of(rest) == ["l4"]


def test_expired_continue_token_is_410_with_a_hint(api: Api, namespace: str) -> None:
    fill(api, namespace, 4)
    first = api.get_json(widgets(namespace), params={"limit": "2"})
    churn(api, namespace, 2 * WINDOW)
    response = api.get(
        widgets(namespace), params={"limit": "2", "continue": first["metadata"]["continue"]}
    )
    status = assert_status(response, 410, "Expired")
    assert "start a new list" in status["message"], status


def test_bad_continue_token_is_400(api: Api, namespace: str) -> None:
    response = api.get(widgets(namespace), params={"limit": "2", "continue": "not-a-token"})
    assert_status(response, 400, "BadRequest", "continue")


def test_exact_reads_an_older_revision_until_it_is_compacted(api: Api, namespace: str) -> None:
    fill(api, namespace, 2)
    before = api.get_json(widgets(namespace))
    revision = before["metadata"]["resourceVersion"]
    api.create(widgets(namespace), widget("later"))
    api.patch_ok(widgets(namespace, "w00"), {"spec": {"size": 50}})
    old = api.get_json(
        widgets(namespace), params={"resourceVersion": revision, "resourceVersionMatch": "Exact"}
    )
    assert names_of(old) == ["w00", "w01"]
    assert old["items"][0]["spec"]["size"] == 3
    assert old["metadata"]["resourceVersion"] == revision
    churn(api, namespace, 2 * WINDOW)
    response = api.get(
        widgets(namespace), params={"resourceVersion": revision, "resourceVersionMatch": "Exact"}
    )
    assert_status(response, 410, "Expired")


def test_python_client_pages_through_everything(
    api: Api, namespace: str, store: StoreProcess
) -> None:
    names = fill(api, namespace, 5)
    api_client = config.new_client_from_config(config_file=str(store.kubeconfig))
    seen: list[str] = []
    pages = 0
    try:
        custom = client.CustomObjectsApi(api_client)
        token = None
        while True:
            kwargs: dict[str, Any] = {"limit": 2}
            if token:
                kwargs["_continue"] = token
            page: Any = custom.list_namespaced_custom_object(
                "test.wws.dev", "v1", namespace, "widgets", **kwargs
            )
            assert len(page["items"]) <= 2
            pages += 1
            seen.extend(item["metadata"]["name"] for item in page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
    finally:
        api_client.close()
    assert seen == names
    assert pages == 3


@pytest.mark.parametrize("version", ["1.37", "1.32"])
def test_kubectl_chunking(
    api: Api, namespace: str, store: StoreProcess, tmp_path: Path, version: str
) -> None:
    binary = kubectl_support.find(version)
    if binary is None:
        pytest.skip(f"no kubectl {version} on this machine")
    kubectl = Kubectl(binary, store.kubeconfig, tmp_path / "cache", version)
    names = fill(api, namespace, 5)
    result = kubectl.run("get", "widgets", "-n", namespace, "--chunk-size=2", "-o", "name", "-v=6")
    assert result.stdout.split() == [f"widget.test.wws.dev/{name}" for name in names]
    # Three requests: the first page, then two with the continue token of the one before.
    assert result.stderr.count("continue=") == 2, result.stderr
    table = kubectl.out("get", "widgets", "-n", namespace, "--chunk-size=2", "--no-headers")
    assert [line.split()[0] for line in table.splitlines()] == names
