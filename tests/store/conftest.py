"""Fixtures of the store conformance suite: one real store process per module, unique names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kubeapi import Api
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

CRDS = Path(__file__).parent / "crds"


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """One store for a whole module, with the test CRDs; tests keep to their own namespace."""
    process = StoreProcess(tmp_path_factory.mktemp("store"), crds_dir=CRDS).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(shared_store: StoreProcess) -> Iterator[Api]:
    client = Api(shared_store)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def namespace(api: Api) -> str:
    """A fresh namespace of the shared store, so tests of one module never see each other."""
    return api.namespace(unique("ns"))
