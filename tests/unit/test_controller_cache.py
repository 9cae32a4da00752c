"""The controller's copy of each Workspace (controller.cache): what the model needs is kept,
kopf's diff base and managedFields are not; the shared Context is never copied per object."""

from __future__ import annotations

import copy

from controller import cache, context
from tests.unit.test_reconcile_workspace import make


def test_an_entry_keeps_the_workspace_but_not_kopfs_copy_of_its_spec() -> None:
    body = make().to_dict()
    body["metadata"]["annotations"] = {
        "kopf.wws.dev/last-handled-configuration": '{"spec": {"image": "x"}}',
        "wws.dev/note": "kept",
    }
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    entry = cache.entry(body)
    assert b"last-handled-configuration" not in entry.raw and b"managedFields" not in entry.raw
    ws = entry.model()
    assert ws.metadata.annotations == {"wws.dev/note": "kept"}
    assert ws.spec == make().spec and ws.metadata.uid == make().metadata.uid
    assert body["metadata"]["annotations"]["kopf.wws.dev/last-handled-configuration"]


def test_kopfs_per_object_memo_is_the_shared_context() -> None:
    ctx = context.Context.__new__(context.Context)
    assert copy.copy(ctx) is ctx
