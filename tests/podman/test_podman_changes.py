"""The Podman provider's batched listing and its stream of changes, against a real Podman:
what the controller at scale follows instead of one inspect per workspace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers import base
from providers.podman import PodmanProvider, naming, service
from tests.support.podman import Factory, podman

pytestmark = pytest.mark.podman


async def next_change(
    changes: AsyncIterator[base.Change], wanted: base.ChangeKind, uid: str = "", timeout: float = 10
) -> base.Change:
    """The next change of kind ``wanted`` (and ``uid``), skipping others."""

    async def find() -> base.Change:
        async for change in changes:
            if change.kind is wanted and (not uid or change.uid == uid):
                return change
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), timeout)


async def test_one_listing_sees_every_workspace_as_observe_does(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    running, stopped = make_workspace("running"), make_workspace("stopped", running=False)
    made = await provider.ensure(running)
    await provider.ensure(stopped)
    listed = await provider.list()
    assert listed[running.ref.uid].state is base.State.RUNNING
    assert listed[running.ref.uid].config_hash == made.config_hash
    assert listed[running.ref.uid].runtime_id == made.runtime_id
    assert {p.host_port for p in listed[running.ref.uid].ports} == {p.host_port for p in made.ports}
    # A stopped workspace that never ran has its home and no container.
    assert listed[stopped.ref.uid].state is base.State.ABSENT
    assert listed[stopped.ref.uid].home_exists
    podman("kill", naming.container_name(running.ref.uid))
    assert (await provider.list())[running.ref.uid].state is base.State.EXITED


async def test_a_killed_container_and_a_new_report_are_reported(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    await provider.ensure(desired)
    changes = provider.subscribe()
    try:
        await next_change(changes, base.ChangeKind.CONNECTED)
        podman("kill", naming.container_name(desired.ref.uid))
        died = await next_change(changes, base.ChangeKind.WORKSPACE, desired.ref.uid)
        assert died.action == "died"
        # The agent writes its report through a temporary file and a rename.
        status = provider.folders.status_dir(desired.ref.uid)
        (status / "report.tmp").write_text(json.dumps({"generation": 1}))
        (status / "report.tmp").rename(status / base.AGENT_REPORT_FILE)
        report = await next_change(changes, base.ChangeKind.REPORT, desired.ref.uid)
        assert report.uid == desired.ref.uid
    finally:
        await changes.aclose()  # type: ignore[attr-defined]


async def test_a_lost_event_stream_ends_the_subscription(
    podman_service: service.Service, workspace_image: str, tmp_path: Path
) -> None:
    """The caller then subscribes again (and re-lists): see the controller's tests."""
    own = service.ensure_service(socket_path=tmp_path / "podman.sock")
    assert own.process is not None
    provider = PodmanProvider(socket_path=own.socket_path, start_service=False, data_dir=tmp_path)
    await provider.open()
    changes = provider.subscribe()
    try:
        await next_change(changes, base.ChangeKind.CONNECTED)
        own.process.send_signal(signal.SIGKILL)
        own.process.wait(timeout=10)

        async def drain() -> None:
            """Until the stream ends (or raises ProviderUnavailable: the same to callers)."""
            async for change in changes:
                assert change.kind is not base.ChangeKind.CONNECTED

        with contextlib.suppress(base.ProviderUnavailable):
            await asyncio.wait_for(drain(), 10)
    finally:
        await changes.aclose()  # type: ignore[attr-defined]
        await provider.close()
        own.stop()
