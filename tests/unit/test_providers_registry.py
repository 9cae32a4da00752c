"""Providers are found through the ``wws.providers`` entry-point group."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from providers import base, registry
from providers.podman import PodmanProvider


class ThirdPartyProvider(base.Provider):
    name = "third"

    async def ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        return base.Observed(state=base.State.RUNNING)

    async def stop(self, ref: base.WorkspaceRef) -> None:
        return None

    async def delete(self, ref: base.WorkspaceRef) -> None:
        return None

    async def observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return base.Observed(state=base.State.ABSENT)

    async def list_managed(self) -> list[base.ManagedObject]:
        return []

    async def read_report(self, ref: base.WorkspaceRef) -> dict[str, Any] | None:
        return None


def test_podman_is_registered() -> None:
    assert "podman" in registry.available()
    assert registry.load("podman") is PodmanProvider


def test_create_builds_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WWS_PODMAN_SOCKET", raising=False)
    provider = registry.create("podman", base.ProviderSettings(data_dir=tmp_path))
    assert isinstance(provider, PodmanProvider)
    assert provider.socket_path == tmp_path / "podman" / "podman.sock"
    custom = registry.create(
        "podman",
        base.ProviderSettings(
            data_dir=tmp_path,
            options={"socket": "/run/x.sock", "start_service": "false", "publish_ip": "0.0.0.0"},
        ),
    )
    assert isinstance(custom, PodmanProvider)
    assert custom.socket_path == Path("/run/x.sock")
    assert not custom.start_service and custom.publish_ip == "0.0.0.0"


def test_socket_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WWS_PODMAN_SOCKET", "/run/podman/podman.sock")
    provider = registry.create("podman", base.ProviderSettings(data_dir=tmp_path))
    assert isinstance(provider, PodmanProvider)
    assert provider.socket_path == Path("/run/podman/podman.sock")


def test_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(registry.UnknownProvider, match="podman"):
        registry.load("no-such-provider")


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *extra: metadata.EntryPoint) -> None:
    real = metadata.entry_points

    def entry_points(**params: str) -> Any:
        found = real(**params)
        if params.get("group") == registry.GROUP:
            return metadata.EntryPoints([*found, *extra])
        return found

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def test_third_party_provider_plugs_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _with_entry_points(
        monkeypatch,
        metadata.EntryPoint(
            name="third", value=f"{__name__}:ThirdPartyProvider", group=registry.GROUP
        ),
    )
    assert registry.available() == sorted({"podman", "third"} | set(registry.available()))
    provider = registry.create("third", base.ProviderSettings(data_dir=tmp_path))
    assert isinstance(provider, ThirdPartyProvider)


def test_entry_point_must_be_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_entry_points(
        monkeypatch,
        metadata.EntryPoint(name="bogus", value="pathlib:Path", group=registry.GROUP),
    )
    with pytest.raises(TypeError, match=r"not a providers\.base\.Provider"):
        registry.load("bogus")
