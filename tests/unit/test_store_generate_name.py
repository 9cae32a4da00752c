"""generateName: a drawn name that is taken is drawn again, as kube-apiserver does (issue 8).

The random suffix cannot be steered over HTTP, so this drives the real Store in-process with
the name generator replaced by one that repeats itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from statestore import objects, resources
from statestore.errors import StatusError
from statestore.store import GENERATE_NAME_ATTEMPTS, Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


def _names(*names: str) -> Iterator[str]:
    yield from names
    while True:
        yield names[-1]


def configmap() -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cm-"}}


async def test_taken_generated_name_is_drawn_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _names("cm-aaaaa", "cm-aaaaa", "cm-aaaaa", "cm-bbbbb")
    monkeypatch.setattr(objects, "generated_name", lambda prefix: next(drawn))
    info = resources.CONFIGMAPS
    first = await store.create(info, "v1", "default", configmap())
    second = await store.create(info, "v1", "default", configmap())
    assert first.obj["metadata"]["name"] == "cm-aaaaa"
    assert second.obj["metadata"]["name"] == "cm-bbbbb"


async def test_generated_name_gives_up_with_409(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def same(prefix: str) -> str:
        calls.append(prefix)
        return "cm-aaaaa"

    monkeypatch.setattr(objects, "generated_name", same)
    info = resources.CONFIGMAPS
    await store.create(info, "v1", "default", configmap())
    calls.clear()
    with pytest.raises(StatusError) as raised:
        await store.create(info, "v1", "default", configmap())
    assert raised.value.code == 409
    assert len(calls) == 1 + GENERATE_NAME_ATTEMPTS


async def test_named_create_is_never_renamed(store: Store) -> None:
    info = resources.CONFIGMAPS
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "generateName": "g-"},
    }
    await store.create(info, "v1", "default", body)
    with pytest.raises(StatusError) as raised:
        await store.create(info, "v1", "default", body)
    assert raised.value.code == 409
