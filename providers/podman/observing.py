"""What Podman says of a container, as an :class:`~providers.base.Observed`: its state
(with a message people can act on), its published ports by name, its start time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api import times
from providers import base
from providers.podman import naming


def observed(info: Mapping[str, Any]) -> base.Observed:
    """The :class:`~providers.base.Observed` of an inspected container."""
    state_info = info.get("State") or {}
    config = info.get("Config") or {}
    labels = config.get("Labels") or {}
    state, message = state_of(state_info)
    exit_code = state_info.get("ExitCode")
    return base.Observed(
        state=state,
        ports=ports_of(info, labels),
        started_at=times.parse_time(state_info.get("StartedAt")),
        message=message,
        config_hash=labels.get(naming.LABEL_CONFIG_HASH, ""),
        image=str(info.get("ImageName") or config.get("Image") or ""),
        exit_code=int(exit_code) if exit_code is not None else None,
        # NB: the container mounts the home volume, so while it exists the home does.
        home_exists=True,
        runtime_id=str(info.get("Id", "")),
    )


def ports_of(info: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[base.PublishedPort, ...]:
    names = naming.decode_ports(labels.get(naming.LABEL_PORTS, ""))
    bindings = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if not bindings:
        bindings = (info.get("HostConfig") or {}).get("PortBindings") or {}
    published = []
    for key, hosts in sorted(bindings.items()):
        number, _, protocol = key.partition("/")
        for host in hosts or []:
            host_port = int(host.get("HostPort") or 0)
            if not number.isdigit() or host_port == 0:
                continue
            port = int(number)
            published.append(
                base.PublishedPort(
                    name=names.get((port, protocol or "tcp"), f"{port}/{protocol}"),
                    container_port=port,
                    host_ip=str(host.get("HostIp") or ""),
                    host_port=host_port,
                    protocol=protocol or "tcp",
                )
            )
    order = {name: index for index, name in enumerate(names.values())}
    published.sort(key=lambda p: (order.get(p.name, len(order)), p.container_port))
    return tuple(published)


def state_of(state: Mapping[str, Any]) -> tuple[base.State, str]:
    status = str(state.get("Status", "")).lower()
    error = str(state.get("Error") or "")
    exit_code = int(state.get("ExitCode") or 0)
    if status in {"running", "stopping"}:
        return base.State.RUNNING, ""
    if status == "paused":
        return base.State.STOPPED, "paused"
    if status in {"created", "configured", "initialized"}:
        if error:
            return base.State.FAILED, error
        return base.State.CREATED, ""
    if status in {"exited", "stopped"}:
        if state.get("OOMKilled"):
            return base.State.FAILED, "killed: out of memory (raise spec.resources.memory)"
        if error:
            return base.State.FAILED, error
        if exit_code == 0:
            return base.State.STOPPED, ""
        return base.State.EXITED, f"exited with code {exit_code}"
    return base.State.FAILED, error or f"container is {status or 'in an unknown state'}"
