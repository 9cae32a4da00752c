"""Watch semantics over raw HTTPS: bookmarks, timeouts, in-stream 410, filtered watches,
resume, and the watch-list protocol (``sendInitialEvents``).

The module's store sends bookmarks every 0.3 s (WWS_STORE_BOOKMARK_INTERVAL) instead of 20 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import CRDS
from tests.support.kubeapi import Api, WatchLines, assert_status, widget, widgets
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

BOOKMARK_INTERVAL = 0.3


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    process = StoreProcess(
        tmp_path_factory.mktemp("store"),
        crds_dir=CRDS,
        env={"WWS_STORE_BOOKMARK_INTERVAL": str(BOOKMARK_INTERVAL)},
    ).start()
    try:
        yield process
    finally:
        process.stop()


def next_change(stream: WatchLines) -> dict[str, Any]:
    """The next event that is not a BOOKMARK."""
    while True:
        event = stream.next()
        assert event is not None, "the stream ended"
        if event["type"] != "BOOKMARK":
            return event


def summary(event: dict[str, Any]) -> tuple[str, str]:
    return event["type"], event["object"]["metadata"]["name"]


def list_rv(api: Api, namespace: str) -> str:
    return str(api.get_json(widgets(namespace))["metadata"]["resourceVersion"])


def test_bookmarks_arrive_and_carry_the_latest_revision(api: Api, namespace: str) -> None:
    other = api.namespace(unique("ns"))
    rv = list_rv(api, namespace)
    params = {"allowWatchBookmarks": "true", "resourceVersion": rv, "timeoutSeconds": "20"}
    with api.watch(widgets(namespace), params) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"] == "application/json"
        started = time.monotonic()
        bookmark = stream.next()
        assert bookmark is not None
        assert time.monotonic() - started < BOOKMARK_INTERVAL * 10
        assert bookmark["type"] == "BOOKMARK"
        assert bookmark["object"]["kind"] == "Widget"
        assert bookmark["object"]["apiVersion"] == "test.wws.dev/v1"
        assert set(bookmark["object"]["metadata"]) == {"resourceVersion"}
        assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(rv)

        created = api.create(widgets(namespace), widget("b1"))
        assert summary(next_change(stream)) == ("ADDED", "b1")
        # A write the watch does not select still moves its bookmarks on: a client resuming
        # from a bookmark must not be sent anything it already skipped.
        elsewhere = api.create(widgets(other), widget("b2"))
        newest = int(elsewhere["metadata"]["resourceVersion"])
        assert newest > int(created["metadata"]["resourceVersion"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            event = stream.next()
            assert event is not None and event["type"] == "BOOKMARK", event
            if int(event["object"]["metadata"]["resourceVersion"]) >= newest:
                break
        else:
            pytest.fail("no bookmark reached the newest revision")


def test_no_bookmarks_unless_asked_and_timeout_seconds_ends_the_stream(
    api: Api, namespace: str
) -> None:
    rv = list_rv(api, namespace)
    started = time.monotonic()
    with api.watch(widgets(namespace), {"resourceVersion": rv, "timeoutSeconds": "1"}) as stream:
        assert stream.response.status_code == 200
        events = stream.rest()
    elapsed = time.monotonic() - started
    assert events == []  # 1 s is more than three bookmark intervals
    assert 0.9 <= elapsed < 5, elapsed

    started = time.monotonic()
    params = {"resourceVersion": rv, "timeoutSeconds": "1", "allowWatchBookmarks": "true"}
    with api.watch(widgets(namespace), params) as stream:
        events = stream.rest()
    assert 0.9 <= time.monotonic() - started < 5
    assert events and {event["type"] for event in events} == {"BOOKMARK"}


def test_resume_gets_exactly_the_missed_events_in_order(api: Api, namespace: str) -> None:
    other = api.namespace(unique("ns"))
    first = api.create(widgets(namespace), widget("r1"))
    start = first["metadata"]["resourceVersion"]
    expected = []
    expected.append(("ADDED", api.create(widgets(namespace), widget("r2"))))
    api.create(widgets(other), widget("not-mine"))
    expected.append(("MODIFIED", api.patch_ok(widgets(namespace, "r1"), {"spec": {"size": 5}})))
    expected.append(
        (
            "MODIFIED",
            api.patch_ok(widgets(namespace, "r1", "status"), {"status": {"phase": "Done"}}),
        )
    )
    api.patch_ok(widgets(other, "not-mine"), {"spec": {"size": 5}})
    response = api.delete(widgets(namespace, "r2"))
    assert response.status_code == 200
    deleted = api.get_json(widgets(namespace))["metadata"]["resourceVersion"]

    with api.watch(widgets(namespace), {"resourceVersion": start, "timeoutSeconds": "1"}) as stream:
        events = stream.rest()
    got = [
        (e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
        for e in events
    ]
    want = [
        (kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for kind, obj in expected
    ]
    want.append(("DELETED", "r2", str(deleted)))
    assert got == want
    assert events[2]["object"]["status"] == {"phase": "Done"}

    # resourceVersion=0: the current state as synthetic ADDED events, then live changes.
    with api.watch(widgets(namespace), {"resourceVersion": "0", "timeoutSeconds": "5"}) as stream:
        assert summary(next_change(stream)) == ("ADDED", "r1")
        api.patch_ok(widgets(namespace, "r1"), {"spec": {"size": 6}})
        event = next_change(stream)
        assert summary(event) == ("MODIFIED", "r1")
        assert event["object"]["spec"]["size"] == 6


def test_label_filtered_watch_sees_objects_enter_and_leave(api: Api, namespace: str) -> None:
    rv = list_rv(api, namespace)
    params = {"labelSelector": "tier=gold", "resourceVersion": rv, "timeoutSeconds": "20"}
    with api.watch(widgets(namespace), params) as stream:
        api.create(widgets(namespace), labelled("a", "silver"))
        api.patch_ok(widgets(namespace, "a"), {"metadata": {"labels": {"tier": "gold"}}})
        api.patch_ok(widgets(namespace, "a"), {"spec": {"size": 9}})
        api.patch_ok(widgets(namespace, "a"), {"metadata": {"labels": {"tier": "silver"}}})
        api.patch_ok(widgets(namespace, "a"), {"spec": {"size": 10}})
        api.create(widgets(namespace), labelled("b", "gold"))
        assert api.delete(widgets(namespace, "b")).status_code == 200
        assert api.delete(widgets(namespace, "a")).status_code == 200
        api.create(widgets(namespace), labelled("end", "gold"))
        events: list[dict[str, Any]] = []
        while not events or summary(events[-1]) != ("ADDED", "end"):
            events.append(next_change(stream))
    assert [summary(e) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
        ("ADDED", "b"),
        ("DELETED", "b"),
        ("ADDED", "end"),
    ]
    assert events[1]["object"]["spec"]["size"] == 9
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)

    # A field-selected watch, resumed from the same point, sees only its object.
    params = {"fieldSelector": "metadata.name=b", "resourceVersion": rv, "timeoutSeconds": "1"}
    with api.watch(widgets(namespace), params) as stream:
        assert [summary(e) for e in stream.rest()] == [("ADDED", "b"), ("DELETED", "b")]


def test_send_initial_events_ends_with_an_annotated_bookmark(api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("i1"))
    last = api.create(widgets(namespace), widget("i2"))
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "20",
    }
    with api.watch(widgets(namespace), params) as stream:
        assert stream.response.status_code == 200
        initial = [stream.next(), stream.next()]
        assert [summary(e) for e in initial if e] == [("ADDED", "i1"), ("ADDED", "i2")]
        end = stream.next()
        assert end is not None and end["type"] == "BOOKMARK", end
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(end["object"]["metadata"]["resourceVersion"]) >= int(
            last["metadata"]["resourceVersion"]
        )
        api.patch_ok(widgets(namespace, "i1"), {"spec": {"size": 7}})
        assert summary(next_change(stream)) == ("MODIFIED", "i1")

    response = api.get(widgets(namespace), params={"watch": "true", "sendInitialEvents": "true"})
    assert_status(response, 422, "Invalid", field="resourceVersionMatch")


def labelled(name: str, tier: str) -> dict[str, Any]:
    obj = widget(name)
    obj["metadata"]["labels"] = {"tier": tier}
    return obj


def test_compaction_410_in_stream_and_filtered_resume_from_disk(tmp_path: Path) -> None:
    """With a history window of 10 revisions: a resume from before it is 410 Expired inside
    the stream (also after a restart), and a label-filtered watch resumed from disk (the
    in-memory event cache is empty after a restart) still sees objects leave and enter."""
    window = 10
    store = StoreProcess(
        tmp_path / "store", crds_dir=CRDS, env={"WWS_STORE_HISTORY_WINDOW": str(window)}
    ).start()
    api = Api(store)
    try:
        namespace = api.namespace("expiry")
        old = api.create(widgets(namespace), widget("w0"))["metadata"]["resourceVersion"]
        api.create(widgets(namespace), labelled("a", "gold"))
        api.create(widgets(namespace), labelled("c", "silver"))
        for size in range(1, 41):
            before = api.patch_ok(widgets(namespace, "w0"), {"spec": {"size": size}})
        newest = api.patch_ok(widgets(namespace, "w0"), {"spec": {"size": 99}})

        def assert_expired(client: Api) -> None:
            with client.watch(widgets(namespace), {"resourceVersion": old}) as stream:
                assert stream.response.status_code == 200  # the error is *in* the stream
                event = stream.next()
                assert event is not None and event["type"] == "ERROR", event
                status = event["object"]
                assert status["kind"] == "Status"
                assert status["code"] == 410
                assert status["reason"] == "Expired"
                assert f"too old resource version: {old}" in status["message"]
                assert stream.next() is None  # and then the stream ends

        assert_expired(api)
        # A recent revision still resumes.
        params = {"resourceVersion": before["metadata"]["resourceVersion"], "timeoutSeconds": "1"}
        with api.watch(widgets(namespace), params) as stream:
            events = stream.rest()
        assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [
            ("MODIFIED", newest["metadata"]["resourceVersion"])
        ]

        resume = list_rv(api, namespace)
        api.patch_ok(widgets(namespace, "a"), {"metadata": {"labels": {"tier": "silver"}}})
        api.patch_ok(widgets(namespace, "c"), {"metadata": {"labels": {"tier": "gold"}}})
        api.create(widgets(namespace), labelled("b", "gold"))
        # Exactly one more compaction runs within these writes, and never past `resume`.
        for size in range(window - 3):
            api.patch_ok(widgets(namespace, "w0"), {"spec": {"size": size + 1}})

        api.close()
        store.stop()
        store.start()
        api = Api(store)
        assert_expired(api)
        assert api.get_json(widgets(namespace, "w0"))["spec"]["size"] == window - 3
        params = {"labelSelector": "tier=gold", "resourceVersion": resume, "timeoutSeconds": "1"}
        with api.watch(widgets(namespace), params) as stream:
            seen = [summary(e) for e in stream.rest()]
        assert seen == [("DELETED", "a"), ("ADDED", "c"), ("ADDED", "b")]
        with api.watch(
            widgets(namespace), {"resourceVersion": resume, "timeoutSeconds": "1"}
        ) as stream:
            seen = [summary(e) for e in stream.rest()]
        assert seen == [("MODIFIED", "a"), ("MODIFIED", "c"), ("ADDED", "b")] + [
            ("MODIFIED", "w0")
        ] * (window - 3)
    finally:
        api.close()
        store.stop()


def test_resource_version_from_the_future_is_410_inside_the_stream(
    api: Api, namespace: str
) -> None:
    """A revision the store never reached (say, remembered from a store whose data folder was
    since wiped) must not silently swallow every event up to it: the client is told to relist."""
    future = str(api.revision() + 1000)
    with api.watch(widgets(namespace), {"resourceVersion": future}) as stream:
        assert stream.response.status_code == 200
        event = stream.next()
        assert event is not None and event["type"] == "ERROR", event
        assert event["object"]["code"] == 410
        assert event["object"]["reason"] == "Expired"
        assert future in event["object"]["message"]
        assert stream.next() is None
