"""What the Podman provider holds: every object that carries WWS labels, found in one
listing per kind (labels select WWS's objects), and the agents' folders left behind."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from providers import base
from providers.podman import naming, observing
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


def list_workspaces(api: PodmanApi) -> dict[str, base.Observed]:
    """Every workspace here by UID, from one listing of the containers and one of the
    volumes (see :meth:`providers.base.Provider.list`)."""
    label_filter = api_json({"label": [naming.LABEL_UID]})
    found: dict[str, base.Observed] = {}
    containers = api.call(
        "get", "/containers/json", params={"all": "true", "filters": label_filter}
    )
    for item in containers.json() if containers is not None else []:
        labels = item.get("Labels") or {}
        uid = labels.get(naming.LABEL_UID)
        if uid:
            found[str(uid)] = listed(item)
    volumes = api.call("get", "/volumes/json", params={"filters": label_filter})
    for item in volumes.json() if volumes is not None else []:
        uid = (item.get("Labels") or {}).get(naming.LABEL_UID)
        if uid and uid not in found:
            found[str(uid)] = base.Observed(state=base.State.ABSENT, home_exists=True)
    return found


def listed(item: Mapping[str, Any]) -> base.Observed:
    """A container as the list shows it (coarser than an inspect: no error message, times
    to the second), enough to tell whether it is as the status says."""
    labels = item.get("Labels") or {}
    exit_code = int(item.get("ExitCode") or 0)
    state, message = observing.state_of(
        {"Status": str(item.get("State") or ""), "ExitCode": exit_code}
    )
    ports = tuple(
        base.PublishedPort(
            name=f"{port.get('container_port')}/{port.get('protocol') or 'tcp'}",
            container_port=int(port.get("container_port") or 0),
            host_ip=str(port.get("host_ip") or ""),
            host_port=int(port.get("host_port") or 0),
            protocol=str(port.get("protocol") or "tcp"),
        )
        for port in item.get("Ports") or []
    )
    started = item.get("StartedAt")
    return base.Observed(
        state=state,
        ports=ports,
        started_at=(
            datetime.datetime.fromtimestamp(started, datetime.UTC)
            if isinstance(started, int) and started > 0
            else None
        ),
        message=message,
        config_hash=labels.get(naming.LABEL_CONFIG_HASH, ""),
        image=str(item.get("Image") or ""),
        exit_code=exit_code,
        home_exists=True,
        runtime_id=str(item.get("Id") or ""),
    )
