"""Fixtures of the Podman provider tests: a provider on the session's Podman service, and
workspaces that are deleted after each test. The session fixtures (data dir, service,
image) come from tests/support/podman.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers import base
from providers.podman import PodmanProvider, service
from tests.support.podman import Factory


@pytest.fixture
async def provider(
    podman_service: service.Service, data_dir: Path
) -> AsyncIterator[PodmanProvider]:
    prov = PodmanProvider(
        socket_path=podman_service.socket_path, start_service=False, data_dir=data_dir
    )
    await prov.open()
    yield prov
    await prov.close()


@pytest.fixture
async def make_workspace(provider: PodmanProvider, workspace_image: str) -> AsyncIterator[Factory]:
    """``make_workspace(name=..., org=..., **fields)`` → a DesiredWorkspace with a fresh UID;
    every workspace made here is deleted (container, home, network) after the test."""
    made: list[base.WorkspaceRef] = []
    default_org = f"t{uuid.uuid4().hex[:8]}"

    def make(
        name: str = "ws", *, org: str | None = None, **fields: object
    ) -> base.DesiredWorkspace:
        organization = org or default_org
        ref = base.WorkspaceRef(
            namespace=organization, name=name, uid=str(uuid.uuid4()), organization=organization
        )
        made.append(ref)
        fields.setdefault("image", workspace_image)
        return base.DesiredWorkspace(ref=ref, **fields)  # type: ignore[arg-type]

    yield make
    for ref in made:
        await provider.delete(ref)
