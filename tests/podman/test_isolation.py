"""Network isolation between workspaces on Podman (issue 14), with real connections: a
workspace reaches the internet (a stand-in: a server in a network namespace the host routes
to) but no other workspace, of its organization or another, in either direction, and no
service of the host (a server on all the host's addresses, the ports other workspaces
publish on the host); the host still reaches the workspaces."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from providers import base, bridgeports, hostfirewall
from providers.podman import PodmanProvider, naming
from tests.support.podman import Factory, podman
from tests.support.waiting import eventually

pytestmark = pytest.mark.podman

#: TEST-NET-2 (RFC 5737): never a real host, so the stand-in cannot clash with one.
INTERNET = ("198.51.100.1", "198.51.100.2")


def connect(container: str, ip: str, port: int) -> int:
    """errno of a TCP connect from inside ``container`` (0: connected; 11/110: no answer;
    111: refused; 113: rejected by a firewall)."""
    code = (
        "import socket; s = socket.socket(); s.settimeout(2); "
        f"print(s.connect_ex(('{ip}', {port})))"
    )
    out = podman("exec", container, "python3", "-c", code, check=False)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def serve_in(container: str, port: int) -> None:
    podman("exec", "-d", container, "python3", "-m", "http.server", str(port))
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 5)"
    for _ in range(50):
        if podman("exec", container, "python3", "-c", probe, check=False).returncode == 0:
            return
    raise AssertionError(f"nothing listens on {container}:{port}")


def ip_of(desired: base.DesiredWorkspace) -> str:
    info = json.loads(podman("inspect", naming.container_name(desired.ref.uid)).stdout)[0]
    network = info["NetworkSettings"]["Networks"][naming.network_name(desired.ref.organization)]
    return str(network["IPAddress"])


def gateway_of(desired: base.DesiredWorkspace) -> str:
    listed = podman("network", "inspect", naming.network_name(desired.ref.organization)).stdout
    return str(json.loads(listed)[0]["subnets"][0]["gateway"])


@contextlib.contextmanager
def host_service() -> Iterator[int]:
    """A TCP server on every address of the host (as a careless service would bind)."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                server.accept()[0].close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


#: A TCP server that accepts and closes (NB: not http.server, whose reverse lookup of its
#: address hangs where there is no DNS).
ACCEPTOR = """
import socket, sys
server = socket.create_server((sys.argv[1], 80))
while True:
    server.accept()[0].close()
"""


def _answers(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def internet_stand_in() -> Iterator[str]:
    """A web server in a network namespace behind a veth pair: reached from a workspace
    only through the host's routing and masquerading, as the internet is."""
    tag = uuid.uuid4().hex[:6]
    netns, outer, inner = f"wwstest-{tag}", f"tneti{tag}", "eth0"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("netns", "add", netns)
    server = None
    try:
        ip("link", "add", outer, "type", "veth", "peer", "name", f"tnetj{tag}")
        ip("link", "set", f"tnetj{tag}", "netns", netns)
        ip("-n", netns, "link", "set", f"tnetj{tag}", "name", inner)
        ip("addr", "add", f"{INTERNET[0]}/30", "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", netns, "addr", "add", f"{INTERNET[1]}/30", "dev", inner)
        ip("-n", netns, "link", "set", inner, "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", INTERNET[0])
        server = subprocess.Popen(
            ["ip", "netns", "exec", netns, "python3", "-c", ACCEPTOR, INTERNET[1]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        eventually(lambda: _answers(INTERNET[1], 80), "the stand-in serves", timeout=10)
        yield INTERNET[1]
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


async def test_workspaces_reach_the_internet_but_not_each_other_nor_the_host(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    org_a, org_b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    a1, a2, b1 = (
        make_workspace("a1", org=org_a),
        make_workspace("a2", org=org_a),
        make_workspace("b1", org=org_b),
    )
    for desired in (a1, a2, b1):
        assert (await provider.ensure(desired)).state is base.State.RUNNING
    c_a1, c_a2, c_b1 = (naming.container_name(d.ref.uid) for d in (a1, a2, b1))
    for container in (c_a1, c_a2, c_b1):
        serve_in(container, 8000)
    bridge = naming.bridge_name(org_a)
    assert podman("network", "inspect", naming.network_name(org_a)).stdout.count(bridge)
    assert list(bridgeports.ports(bridge).values()) == [True, True]

    # The host reaches every workspace (the web UI's proxy, published ports).
    for desired in (a1, a2, b1):
        with socket.create_connection((ip_of(desired), 8000), timeout=5):
            pass

    with host_service() as port, internet_stand_in() as internet:
        # The internet (forwarded, masqueraded) is reached ...
        assert connect(c_a1, internet, 80) == 0
        assert connect(c_b1, internet, 80) == 0
        # ... no other workspace, in its organization or another, either way ...
        assert connect(c_a1, ip_of(a2), 8000) != 0
        assert connect(c_a2, ip_of(a1), 8000) != 0
        assert connect(c_a1, ip_of(b1), 8000) != 0
        assert connect(c_b1, ip_of(a1), 8000) != 0
        # ... and nothing of the host: a service on all its addresses (the host itself
        # reaches it on the same address), the ports other workspaces publish.
        gateway = gateway_of(a1)
        with socket.create_connection((gateway, port), timeout=5):
            pass
        assert connect(c_a1, gateway, port) == 113
        published = (await provider.observe(a2.ref)).host_port("ssh")
        assert published is not None
        assert connect(c_a1, gateway, published) == 113

    # A new boot is a new bridge port: isolated again before the image's processes run.
    await provider.stop(a1.ref)
    assert (await provider.ensure(a1)).state is base.State.RUNNING
    assert list(bridgeports.ports(bridge).values()) == [True, True]
    serve_in(c_a1, 8000)
    assert connect(c_a2, ip_of(a1), 8000) != 0


def test_the_host_firewall_table_is_written() -> None:
    hostfirewall.ensure()
    listed = subprocess.run(
        ["nft", "list", "table", "inet", hostfirewall.TABLE], capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert '"wwsp*"' in listed.stdout and "reject" in listed.stdout
