"""Ports published on a chosen address and host port (``spec.ssh.publishAddress``/``hostPort``),
and secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

from providers import base
from providers.podman import provider

REF = base.WorkspaceRef(namespace="acme", name="alice-api", uid="1234-abcd", organization="acme")


def test_a_port_can_name_its_host_address_and_port() -> None:
    prov = provider.PodmanProvider(socket_path=Path("/nonexistent.sock"))
    ports = (base.PortSpec("code-server", 8080), base.PortSpec("ssh", 22, "tcp", "0.0.0.0", 2222))
    spec = prov._container_spec(base.DesiredWorkspace(ref=REF, image="i", ports=ports), "h")
    assert spec["portmappings"] == [
        {"container_port": 8080, "host_ip": "127.0.0.1", "host_port": 0, "protocol": "tcp"},
        {"container_port": 22, "host_ip": "0.0.0.0", "host_port": 2222, "protocol": "tcp"},
    ]


def test_host_address_and_port_shape_the_container_but_defaults_keep_old_hashes() -> None:
    plain = base.DesiredWorkspace(ref=REF, image="i")
    same = base.DesiredWorkspace(ref=REF, image="i", ports=base.DEFAULT_PORTS)
    assert plain.effective_config_hash() == same.effective_config_hash()
    fixed = (base.PortSpec("code-server", 8080), base.PortSpec("ssh", 22, host_port=2222))
    other = base.DesiredWorkspace(ref=REF, image="i", ports=fixed)
    assert other.effective_config_hash() != plain.effective_config_hash()
    public = (base.PortSpec("code-server", 8080), base.PortSpec("ssh", 22, host_ip="0.0.0.0"))
    assert (
        base.DesiredWorkspace(ref=REF, image="i", ports=public).effective_config_hash()
        != plain.effective_config_hash()
    )


def test_config_files_never_show_in_a_repr() -> None:
    desired = base.DesiredWorkspace(
        ref=REF, image="i", config_files={"secrets/github-token": b"ghp_secret"}
    )
    assert "ghp_secret" not in repr(desired)
