"""Names and labels of the Podman objects of a workspace.

Every object is named from the Workspace UID (so a rename loses nothing) and labelled back
to its Workspace, so the provider can find it again after a crash and spot orphans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from providers import base

LABEL_NAMESPACE = "wws.dev/namespace"
LABEL_NAME = "wws.dev/name"
LABEL_UID = "wws.dev/uid"
LABEL_ORGANIZATION = "wws.dev/organization"
LABEL_CONFIG_HASH = "wws.dev/config-hash"
LABEL_PORTS = "wws.dev/ports"  # "code-server=8080/tcp,ssh=22/tcp": names the published ports
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NETWORK_GROUP = "wws.dev/team"  # on a team's network: the team
MANAGED_BY = "wws"

HOME_MOUNT = "/home"


def container_name(uid: str) -> str:
    return f"wws-{uid}"


def home_volume_name(uid: str) -> str:
    return f"wws-home-{uid}"


def network_name(organization: str) -> str:
    return f"wws-org-{organization}"


def team_network_name(organization: str, group: str) -> str:
    """The network of a team whose workspaces may reach each other (``network_group``)."""
    return f"wws-team-{organization}-{group}"


def network_of(organization: str, group: str = "") -> str:
    """The network of a workspace: its team's (``group``) or else its organization's."""
    return team_network_name(organization, group) if group else network_name(organization)


def bridge_of(organization: str, group: str = "") -> str:
    """The bridge of :func:`network_of`: ``wwst`` + a hash for a team's network (ports
    not isolated), :func:`bridge_name` for the organization's."""
    if group:
        return "wwst" + hashlib.sha256(f"{organization}/{group}".encode()).hexdigest()[:10]
    return bridge_name(organization)


def bridge_name(organization: str) -> str:
    """The bridge of the organization's network: ``wwsp`` + a hash (15 characters at most,
    a Linux interface name; the prefix is what :mod:`providers.hostfirewall` matches)."""
    return "wwsp" + hashlib.sha256(organization.encode()).hexdigest()[:10]


def workspace_labels(ref: base.WorkspaceRef) -> dict[str, str]:
    return {
        LABEL_NAMESPACE: ref.namespace,
        LABEL_NAME: ref.name,
        LABEL_UID: ref.uid,
        LABEL_ORGANIZATION: ref.organization,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def network_labels(organization: str, group: str = "") -> dict[str, str]:
    labels = {LABEL_ORGANIZATION: organization, LABEL_MANAGED_BY: MANAGED_BY}
    if group:
        labels[LABEL_NETWORK_GROUP] = group
    return labels


def encode_ports(ports: tuple[base.PortSpec, ...]) -> str:
    return ",".join(f"{p.name}={p.container_port}/{p.protocol}" for p in ports)


def decode_ports(value: str) -> dict[tuple[int, str], str]:
    """``(container_port, protocol) -> name`` from the :data:`LABEL_PORTS` label."""
    names: dict[tuple[int, str], str] = {}
    for item in filter(None, value.split(",")):
        name, _, port = item.partition("=")
        number, _, protocol = port.partition("/")
        if number.isdigit():
            names[(int(number), protocol or "tcp")] = name
    return names


def managed_object(kind: str, name: str, labels: Mapping[str, str] | None) -> base.ManagedObject:
    labels = labels or {}
    return base.ManagedObject(
        kind=kind,
        name=name,
        uid=labels.get(LABEL_UID, ""),
        namespace=labels.get(LABEL_NAMESPACE, ""),
        workspace=labels.get(LABEL_NAME, ""),
        organization=labels.get(LABEL_ORGANIZATION, ""),
    )
