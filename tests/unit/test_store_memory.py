"""The store's in-memory buffers are bounded by bytes, not only by counts (issue 8)."""

from __future__ import annotations

from pathlib import Path

from statestore import resources
from statestore.limits import Limits
from statestore.store import Store


async def test_replay_buffer_is_bounded_by_bytes_and_history_still_complete(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path, limits=Limits(replay_buffer_bytes=100_000))
    await store.start()
    try:
        start = store.revision
        for number in range(50):
            await store.create(
                resources.CONFIGMAPS,
                "v1",
                "default",
                {"metadata": {"name": f"cm{number}"}, "data": {"v": "x" * 10_000}},
            )
        assert 0 < store._recent_bytes <= 100_000
        assert sum(len(e.data) for e in store._recent) == store._recent_bytes
        # A watch resuming from before the buffer still gets every event (from the disk).
        events = await store.history(start, resources.CONFIGMAPS.key_prefix("default"))
        assert events is not None
        assert [e.obj["metadata"]["name"] for e in events] == [f"cm{n}" for n in range(50)]
    finally:
        await store.stop()


async def test_a_watcher_inbox_overflows_instead_of_growing(tmp_path: Path) -> None:
    store = Store(tmp_path, limits=Limits(watch_queue_events=5, watch_queue_bytes=1 << 20))
    await store.start()
    try:
        watcher = store.subscribe(resources.CONFIGMAPS.key_prefix("default"))
        told: list[bool] = []
        watcher.on_overflow = lambda: told.append(True)
        for number in range(20):
            await store.create(
                resources.CONFIGMAPS, "v1", "default", {"metadata": {"name": f"cm{number}"}}
            )
        assert watcher.overflowed
        assert told == [True]
        assert watcher.queue.qsize() == 5
    finally:
        await store.stop()
