"""What the Podman provider holds: every object that carries WWS labels, found in one
listing per kind (labels select WWS's objects), and the agents' folders left behind."""

from __future__ import annotations

from providers import base
from providers.podman import naming
from providers.podman.calls import PodmanApi, api_json
from providers.podman.folders import AgentFolders


def list_managed(api: PodmanApi) -> list[base.ManagedObject]:
    """Containers, home volumes and networks with WWS labels."""
    label_filter = api_json({"label": [naming.LABEL_UID]})
    objects: list[base.ManagedObject] = []
    containers = api.call(
        "get", "/containers/json", params={"all": "true", "filters": label_filter}
    )
    for item in containers.json() if containers is not None else []:
        name = (item.get("Names") or [item.get("Id", "")])[0]
        objects.append(naming.managed_object("container", name, item.get("Labels")))
    volumes = api.call("get", "/volumes/json", params={"filters": label_filter})
    for item in volumes.json() if volumes is not None else []:
        objects.append(naming.managed_object("volume", item["Name"], item.get("Labels")))
    networks = api.call(
        "get",
        "/networks/json",
        params={"filters": api_json({"label": [f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY}"]})},
    )
    for item in networks.json() if networks is not None else []:
        name = item.get("name") or item.get("Name", "")
        objects.append(
            naming.managed_object("network", name, item.get("labels") or item.get("Labels"))
        )
    return objects


def list_leftovers(
    folders: AgentFolders, managed: list[base.ManagedObject]
) -> list[base.ManagedObject]:
    """The agents' folders of UIDs that have no labelled object in ``managed`` (a folder
    left behind by a crash; the folder of a workspace that has them goes with them), with
    the Workspace their ``workspace.json`` names."""
    held = {obj.uid for obj in managed if obj.uid}
    objects: list[base.ManagedObject] = []
    for uid in folders.uids():
        if uid in held:
            continue
        namespace, name = folders.owner(uid)
        objects.append(
            base.ManagedObject(
                kind="folder",
                name=uid,
                uid=uid,
                namespace=namespace,
                workspace=name,
                organization=namespace,
            )
        )
    return objects
