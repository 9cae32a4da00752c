"""``wws image build``: the recipe hash, the mirror, the cache and a real rebuild."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from images.build import apt, errors
from images.build import image as imagebuild
from images.build import podman as image_podman
from images.build import recipe as image_recipe
from tests.support.podman import podman


def test_recipe_hash_follows_the_recipe_tree(tmp_path: Path) -> None:
    recipe = tmp_path / "workspace"
    shutil.copytree(image_recipe.RECIPE_DIR, recipe)
    first = image_recipe.recipe_hash(recipe)
    assert first == image_recipe.recipe_hash(recipe)
    assert first == image_recipe.recipe_hash(image_recipe.RECIPE_DIR)

    (recipe / "packages.txt").write_text((recipe / "packages.txt").read_text() + "tmux\n")
    second = image_recipe.recipe_hash(recipe)
    assert second != first
    (recipe / "init" / "wws-init").chmod(0o644)  # the executable bit is part of the recipe
    assert image_recipe.recipe_hash(recipe) != second


def test_packages_are_read_and_checked(tmp_path: Path) -> None:
    assert {"zsh", "git", "sudo", "ca-certificates"} <= set(image_recipe.read_packages())
    (tmp_path / "packages.txt").write_text("# comment\nzsh  # the shell\n\ngit\nzsh\n")
    assert image_recipe.read_packages(tmp_path) == ["git", "zsh"]
    (tmp_path / "packages.txt").write_text("zsh; rm -rf /\n")
    with pytest.raises(errors.ImageBuildError):
        image_recipe.read_packages(tmp_path)


def test_mirror_comes_from_the_machines_apt_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WWS_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "vendor.list").write_text(
        "deb [signed-by=/k.gpg] https://vendor.example/apt bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main contrib\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text(
        "deb http://ignored.example/debian bookworm main\n"
    )
    assert apt.debian_mirror(apt_dir=tmp_path) == "http://mirror.example/debian"
    image_sources = apt.image_sources_list(
        suite="bookworm", mirror="http://mirror.example/debian", apt_dir=tmp_path
    )
    assert "deb http://mirror.example/debian bookworm-updates main" in image_sources
    assert "deb http://mirror.example/debian-security bookworm-security main" in image_sources
    assert "src.example" not in image_sources and "ignored" not in image_sources

    monkeypatch.setenv("WWS_DEBIAN_MIRROR", "http://override.example/debian/")
    assert apt.debian_mirror(apt_dir=tmp_path) == "http://override.example/debian"
    monkeypatch.delenv("WWS_DEBIAN_MIRROR")
    with pytest.raises(errors.ImageBuildError, match="WWS_DEBIAN_MIRROR"):
        apt.debian_mirror(apt_dir=tmp_path / "nothing")


def test_this_machines_mirror_is_found() -> None:
    assert apt.debian_mirror().startswith(("http://", "https://"))


@pytest.mark.podman
def test_built_image_is_cached_by_recipe_hash(workspace_image: str, data_dir: Path) -> None:
    assert image_podman.image_recipe_hash(workspace_image) == image_recipe.recipe_hash()
    lines: list[str] = []
    started = time.monotonic()
    result = imagebuild.ensure_image(data_dir, image=workspace_image, progress=lines.append)
    assert not result.built
    assert time.monotonic() - started < 5
    assert lines == [f"{workspace_image} is up to date (recipe {result.recipe_hash[:12]})"]


@pytest.mark.podman
@pytest.mark.slow
def test_changed_recipe_rebuilds(workspace_image: str, data_dir: Path, tmp_path: Path) -> None:
    """A recipe change rebuilds, keeping the downloaded packages; then it is cached.

    NB: whether the packages were already cached depends on what built the session's image
    (a CI clone may find it in Podman's storage, built by another checkout), so the first
    build may download; the cache must exist after it either way.
    """
    recipe = tmp_path / "workspace"
    shutil.copytree(image_recipe.RECIPE_DIR, recipe)
    (recipe / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    (recipe / "rootfs" / "etc" / "wws-test-marker").write_text("from the overlay\n")
    (recipe / "build.d").mkdir(exist_ok=True)
    (recipe / "build.d" / "10-marker").write_text("#!/bin/sh\necho built > /etc/wws-build-ran\n")
    image = f"localhost/wws/test-workspace:{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    try:
        result = imagebuild.ensure_image(
            data_dir, image=image, recipe_dir=recipe, progress=lines.append
        )
        assert result.built
        assert any(line.startswith("packages: ") for line in lines), lines
        assert any((data_dir / "images" / "cache").glob("debootstrap-bookworm-*.tar"))
        assert any("build script 10-marker" in line for line in lines), lines
        assert image_podman.image_recipe_hash(image) == image_recipe.recipe_hash(recipe)
        out = podman(
            "run", "--rm", image, "cat", "/etc/wws-test-marker", "/etc/wws-build-ran"
        ).stdout  # fmt: skip
        assert out == "from the overlay\nbuilt\n"
        again = imagebuild.ensure_image(data_dir, image=image, recipe_dir=recipe, progress=print)
        assert not again.built
        assert not list((data_dir / "images" / "build").iterdir())  # build folders are removed
    finally:
        podman("rmi", "-f", image, check=False)
        base = image_podman.base_image_name(image, image_recipe.base_recipe_hash(recipe))
        podman("rmi", "-f", base, check=False)
