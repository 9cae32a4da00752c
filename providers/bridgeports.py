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

import os
import threading
from pathlib import Path

from providers import base

#: Where the kernel shows a bridge's ports and their flags (read and written directly: no
#: ``ip``/``bridge`` process, so a start costs the same with 10 or 1,000 ports beside it).
SYSFS = Path("/sys/class/net")


def ports(bridge: str) -> dict[str, bool]:
    """The ports of ``bridge``: interface name → isolated."""
    found: dict[str, bool] = {}
    try:
        entries = list((SYSFS / bridge / "brif").iterdir())
    except OSError as error:
        raise base.ProviderError(f"bridge {bridge}: {error}") from error
    for entry in entries:
        try:
            found[entry.name] = (entry / "isolated").read_text().strip() == "1"
        except OSError:  # NB: the port went away meanwhile (another workspace stopped)
            continue
    return found


#: Ports seen isolated, per bridge, as (name, sysfs inode): only the others are read again.
#: A port keeps the flag while it exists; a new boot is a new port, and the inode tells a
#: new port from an old one of the same name (kernfs numbers its nodes cyclically).
_seen: dict[str, set[tuple[str, int]]] = {}
_seen_guard = threading.Lock()


def isolate_all(bridge: str) -> list[str]:
    """Mark every port of ``bridge`` that is not yet isolated; the ports it marked. (All of
    them, not one container's: concurrent starts on one bridge all end isolated, and no
    port of a WWS organization network should ever be otherwise.) Ports it has seen
    isolated before are not read again, so a start costs one directory listing plus the
    new port, however many workspaces share the bridge."""
    try:
        with os.scandir(SYSFS / bridge / "brif") as listing:
            names = {(entry.name, entry.inode()) for entry in listing}
    except OSError as error:
        raise base.ProviderError(f"bridge {bridge}: {error}") from error
    with _seen_guard:
        seen = _seen.setdefault(bridge, set())
        seen &= names  # NB: forget the ports that are gone
        fresh = names - seen
    marked: list[str] = []
    isolated: list[tuple[str, int]] = []
    for name, inode in sorted(fresh):
        flag = SYSFS / bridge / "brif" / name / "isolated"
        try:
            if flag.read_text().strip() != "1":
                flag.write_text("1")
                marked.append(name)
        except FileNotFoundError:  # gone meanwhile (another workspace stopped)
            continue
        except OSError as error:
            raise base.ProviderError(f"bridge {bridge}: isolating port {name}: {error}") from error
        isolated.append((name, inode))
    with _seen_guard:
        _seen.setdefault(bridge, set()).update(isolated)
    return marked
