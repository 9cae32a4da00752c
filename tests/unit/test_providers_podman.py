"""The Podman provider's pure parts: names, labels, the container spec, state mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from api import times
from providers import base
from providers.podman import naming, observing, provider

REF = base.WorkspaceRef(namespace="acme", name="alice-api", uid="1234-abcd", organization="acme")


def test_names_come_from_uid_and_organization() -> None:
    assert naming.container_name(REF.uid) == "wws-1234-abcd"
    assert naming.home_volume_name(REF.uid) == "wws-home-1234-abcd"
    assert naming.network_name("acme") == "wws-org-acme"
    labels = naming.workspace_labels(REF)
    assert labels["wws.dev/namespace"] == "acme"
    assert labels["wws.dev/name"] == "alice-api"
    assert labels["wws.dev/uid"] == "1234-abcd"
    assert labels["wws.dev/organization"] == "acme"


def test_port_names_round_trip() -> None:
    encoded = naming.encode_ports(base.DEFAULT_PORTS)
    assert encoded == "code-server=8080/tcp,ssh=22/tcp"
    assert naming.decode_ports(encoded) == {(8080, "tcp"): "code-server", (22, "tcp"): "ssh"}
    assert naming.decode_ports("") == {}


def test_container_spec() -> None:
    prov = provider.PodmanProvider(socket_path=Path("/nonexistent.sock"))
    desired = base.DesiredWorkspace(
        ref=REF, image="localhost/wws/workspace:bookworm", cpu=0.5, memory_bytes=2 << 30,
        env={"EDITOR": "vim"},
    )  # fmt: skip
    spec = prov._container_spec(desired, "hash1")
    assert spec["name"] == "wws-1234-abcd"
    assert spec["labels"]["wws.dev/config-hash"] == "hash1"
    assert spec["restart_policy"] == "no"
    assert spec["resource_limits"] == {
        "cpu": {"period": 100_000, "quota": 50_000},
        "memory": {"limit": 2 << 30, "swap": 2 << 30},
    }
    assert spec["portmappings"] == [
        {"container_port": 8080, "host_ip": "127.0.0.1", "host_port": 0, "protocol": "tcp"},
        {"container_port": 22, "host_ip": "127.0.0.1", "host_port": 0, "protocol": "tcp"},
    ]
    assert spec["volumes"] == [{"Name": "wws-home-1234-abcd", "Dest": "/home", "Options": []}]
    assert list(spec["Networks"]) == ["wws-org-acme"]
    assert spec["env"]["EDITOR"] == "vim" and spec["env"]["WWS_UID"] == "1234-abcd"
    unlimited = prov._container_spec(base.DesiredWorkspace(ref=REF, image="i"), "h")
    assert "resource_limits" not in unlimited


def test_state_mapping() -> None:
    state = observing.state_of
    assert state({"Status": "running"}) == (base.State.RUNNING, "")
    assert state({"Status": "created"}) == (base.State.CREATED, "")
    assert state({"Status": "exited", "ExitCode": 0}) == (base.State.STOPPED, "")
    assert state({"Status": "exited", "ExitCode": 137}) == (
        base.State.EXITED,
        "exited with code 137",
    )
    assert state({"Status": "exited", "ExitCode": 137, "OOMKilled": True})[0] is base.State.FAILED
    assert state({"Status": "created", "Error": "runc create failed"}) == (
        base.State.FAILED,
        "runc create failed",
    )
    assert state({"Status": "dead"})[0] is base.State.FAILED
    assert state({"Status": "paused"}) == (base.State.STOPPED, "paused")


def test_podman_times() -> None:
    parse = times.parse_time
    assert parse("0001-01-01T00:00:00Z") is None
    assert parse("") is None
    assert parse("2026-11-26T02:29:58.588607123Z") == datetime(
        2026, 11, 26, 2, 29, 58, 588607, tzinfo=UTC
    )
    assert parse("2026-11-26T02:29:58.5+00:00") == datetime(
        2026, 11, 26, 2, 29, 58, 500000, tzinfo=UTC
    )
    assert parse("2026-11-26T02:29:58Z") == datetime(2026, 11, 26, 2, 29, 58, tzinfo=UTC)
