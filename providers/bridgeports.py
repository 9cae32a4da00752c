"""Bridge port isolation: the workspaces on one network never talk to each other.

A Linux bridge port marked ``isolated`` forwards only to ports that are not (the bridge
itself, i.e. the gateway and through it the internet): two isolated ports never exchange a
frame, whatever the protocol (IPv4, IPv6 link-local, ARP answers). Podman 4.3's CNI bridge
plugin cannot set the flag, so the Podman provider sets it on its containers' ports
between ``init`` (the network is attached, no process of the image runs yet) and
``start``: there is no moment at which a workspace's process runs on a port that is not
isolated. (libvirt sets it itself: ``<port isolated='yes'/>`` in the network's XML.)
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from providers import base


def _run(*args: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise base.ProviderError(f"{args[0]}: {error}") from error
    if result.returncode != 0:
        raise base.ProviderError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def ports(bridge: str) -> dict[str, bool]:
    """The ports of ``bridge``: interface name → isolated."""
    listed: list[dict[str, Any]] = json.loads(
        _run("ip", "-d", "-j", "link", "show", "master", bridge) or "[]"
    )
    return {
        str(item["ifname"]): bool(
            ((item.get("linkinfo") or {}).get("info_slave_data") or {}).get("isolated")
        )
        for item in listed
    }


def isolate_all(bridge: str) -> list[str]:
    """Mark every port of ``bridge`` that is not yet isolated; the ports it marked. (All of
    them, not one container's: concurrent starts on one bridge all end isolated, and no
    port of a WWS network should ever be otherwise.)"""
    marked = []
    for name, isolated in ports(bridge).items():
        if not isolated:
            _run("bridge", "link", "set", "dev", name, "isolated", "on")
            marked.append(name)
    return marked
