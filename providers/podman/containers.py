"""The workspace's container as Podman is asked to make it."""

from __future__ import annotations

from typing import Any

from providers import base
from providers.podman import naming
from providers.podman.folders import AgentFolders

IMAGE_HINT = "run `wws image build` (or `make up`, which builds it) and the workspace starts"


def image_hint(image: str) -> str:
    """What to do about a missing image (the default image is built, others pulled)."""
    if image.startswith("localhost/wws/"):
        return IMAGE_HINT
    return f"build or pull it on the Podman host (`podman pull {image}`), or use the default image"


def container_spec(
    desired: base.DesiredWorkspace,
    wanted_hash: str,
    *,
    folders: AgentFolders,
    publish_ip: str = "127.0.0.1",
    home_mount: str = naming.HOME_MOUNT,
    stop_timeout: int = 10,
) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for ``desired`` (see the package's
    docstring for what a workspace's container is)."""
    ref = desired.ref
    labels = naming.workspace_labels(ref)
    labels[naming.LABEL_CONFIG_HASH] = wanted_hash
    labels[naming.LABEL_PORTS] = naming.encode_ports(desired.ports)
    env = {
        "WWS_NAMESPACE": ref.namespace,
        "WWS_NAME": ref.name,
        "WWS_UID": ref.uid,
        "WWS_ORGANIZATION": ref.organization,
        **desired.env,
    }
    spec: dict[str, Any] = {
        "name": naming.container_name(ref.uid),
        "image": desired.image,
        "hostname": ref.name,
        "labels": labels,
        "env": env,
        "netns": {"nsmode": "bridge"},
        "Networks": {naming.network_of(ref.organization, desired.network_group): {}},
        "portmappings": [
            {
                "container_port": port.container_port,
                "host_ip": port.host_ip or publish_ip,
                # 0: Podman picks a free port; it stays across restarts
                "host_port": port.host_port,
                "protocol": port.protocol,
            }
            for port in desired.ports
        ],
        "volumes": [{"Name": naming.home_volume_name(ref.uid), "Dest": home_mount, "Options": []}],
        "mounts": [
            {
                "destination": base.AGENT_CONFIG_DIR,
                "type": "bind",
                "source": str(folders.config_dir(ref.uid)),
                "options": ["rbind", "ro"],
            },
            {
                "destination": base.AGENT_STATUS_DIR,
                "type": "bind",
                "source": str(folders.status_dir(ref.uid)),
                "options": ["rbind", "rw"],
            },
        ],
        "restart_policy": "no",
        "stop_timeout": stop_timeout,
    }
    limits: dict[str, Any] = {}
    if desired.cpu > 0:
        period = 100_000
        limits["cpu"] = {"period": period, "quota": max(1_000, round(desired.cpu * period))}
    if desired.memory_bytes > 0:
        # NB: swap limit == memory limit: a workspace does not swap past its memory.
        limits["memory"] = {"limit": desired.memory_bytes, "swap": desired.memory_bytes}
    if limits:
        spec["resource_limits"] = limits
    return spec
