"""The provider interface's data types."""

from __future__ import annotations

import dataclasses

from providers import base

REF = base.WorkspaceRef(namespace="acme", name="alice-api", uid="u-1", organization="acme")


def test_config_hash_follows_the_container_shaping_fields() -> None:
    desired = base.DesiredWorkspace(ref=REF, image="img", cpu=2, memory_bytes=4 << 30)
    same = base.DesiredWorkspace(ref=REF, image="img", cpu=2.0, memory_bytes=4 << 30)
    assert desired.effective_config_hash() == same.effective_config_hash()
    # Starting and stopping is not a new container.
    stopped = dataclasses.replace(desired, running=False)
    assert stopped.effective_config_hash() == desired.effective_config_hash()
    for change in (
        {"image": "other"},
        {"cpu": 1.0},
        {"memory_bytes": 1 << 30},
        {"env": {"A": "1"}},
        {"ports": (base.PortSpec("ssh", 22),)},
    ):
        changed = dataclasses.replace(desired, **change)  # type: ignore[arg-type]
        assert changed.effective_config_hash() != desired.effective_config_hash(), change
    explicit = dataclasses.replace(desired, config_hash="from-the-controller")
    assert explicit.effective_config_hash() == "from-the-controller"


def test_env_order_does_not_matter() -> None:
    one = base.DesiredWorkspace(ref=REF, image="i", env={"A": "1", "B": "2"})
    two = base.DesiredWorkspace(ref=REF, image="i", env={"B": "2", "A": "1"})
    assert one.effective_config_hash() == two.effective_config_hash()


def test_observed_names_its_ports() -> None:
    observed = base.Observed(
        state=base.State.RUNNING,
        ports=(
            base.PublishedPort("code-server", 8080, "127.0.0.1", 40001),
            base.PublishedPort("ssh", 22, "127.0.0.1", 40002),
        ),
    )
    assert observed.host_port("ssh") == 40002
    assert observed.host_port("code-server") == 40001
    assert observed.host_port("vnc") is None


def test_errors_carry_reasons_and_hints() -> None:
    error = base.ImageNotFound("localhost/wws/workspace:bookworm", "run `wws image build`")
    assert isinstance(error, base.ProviderError)
    assert error.reason == "ImageNotFound"
    assert str(error) == "image localhost/wws/workspace:bookworm not found: run `wws image build`"
    assert base.ProviderUnavailable("down").reason == "ProviderUnavailable"
    assert issubclass(base.ProviderUnavailable, base.ProviderError)


def test_default_ports_are_code_server_and_ssh() -> None:
    assert [(p.name, p.container_port) for p in base.DEFAULT_PORTS] == [
        ("code-server", 8080),
        ("ssh", 22),
    ]
