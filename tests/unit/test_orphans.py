"""The one orphan rule (``providers.base.orphans``) and ``Provider.remove_orphans``, which
the controller's start sweep calls: leftover host folders go by the same rule."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path

from providers import base
from providers.podman import PodmanProvider


def obj(kind: str, uid: str, namespace: str = "acme") -> base.ManagedObject:
    return base.ManagedObject(kind, f"{kind}-{uid}", uid, namespace, f"ws-{uid}", namespace)


def test_unknown_uids_in_known_namespaces_are_orphans() -> None:
    objects = [
        obj("container", "kept"),
        obj("volume", "kept"),
        obj("container", "gone"),
        obj("volume", "gone"),
        obj("folder", "left"),
        obj("container", "theirs", namespace="another-store"),
        base.ManagedObject("network", "wws-org-acme", organization="acme"),
    ]
    found = base.orphans(objects, known_uids={"kept"}, namespaces={"acme"})
    assert {uid: [o.kind for o in objs] for uid, objs in found.items()} == {
        "gone": ["container", "volume"],
        "left": ["folder"],
    }
    # Without namespaces (a caller that knows every UID there is), only the UIDs count.
    assert set(base.orphans(objects, known_uids={"kept"})) == {"gone", "left", "theirs"}


class Recording(base.Provider):
    """A provider holding fixed objects that records what it is asked to delete."""

    name = "recording"

    def __init__(self, objects: list[base.ManagedObject], leftovers: list[base.ManagedObject]):
        self.objects, self.leftovers = objects, leftovers
        self.deleted: list[base.WorkspaceRef] = []

    async def ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        raise NotImplementedError

    async def stop(self, ref: base.WorkspaceRef) -> None:
        raise NotImplementedError

    async def delete(self, ref: base.WorkspaceRef) -> None:
        self.deleted.append(ref)

    async def observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return base.Observed(state=base.State.ABSENT)

    async def list_managed(self) -> list[base.ManagedObject]:
        return list(self.objects)

    async def list_leftovers(
        self, managed: Collection[base.ManagedObject]
    ) -> list[base.ManagedObject]:
        return list(self.leftovers)

    async def read_report(self, ref: base.WorkspaceRef) -> None:
        return None


def test_remove_orphans_deletes_each_orphan_workspace_once_folders_included() -> None:
    provider = Recording(
        [obj("container", "gone"), obj("volume", "gone"), obj("volume", "kept")],
        [obj("folder", "left")],
    )
    removed = asyncio.run(provider.remove_orphans({"kept"}, namespaces={"acme"}))
    assert sorted((o.kind, o.uid) for o in removed) == [
        ("container", "gone"),
        ("folder", "left"),
        ("volume", "gone"),
    ]
    assert sorted(ref.uid for ref in provider.deleted) == ["gone", "left"]
    assert {ref.namespace for ref in provider.deleted} == {"acme"}


def test_a_podman_folder_names_its_workspace_from_workspace_json(tmp_path: Path) -> None:
    provider = PodmanProvider(socket_path=tmp_path / "podman" / "podman.sock")
    provider.folders.sync_config(
        "u-left", {"workspace.json": b'{"workspace": {"namespace": "acme", "name": "api"}}'}
    )
    provider.folders.sync_config("u-held", {"workspace.json": b"{}"})
    (tmp_path / "workspaces" / "u-bare").mkdir()
    held = [obj("volume", "u-held")]
    leftovers = asyncio.run(provider.list_leftovers(held))
    assert {(o.kind, o.uid, o.namespace, o.workspace) for o in leftovers} == {
        ("folder", "u-left", "acme", "api"),
        ("folder", "u-bare", "", ""),
    }
