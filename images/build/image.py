"""``wws image build``: the workspace image, built only when its recipe changed.

``ensure_image`` is the whole job: the recipe hash against the image's label, one build
at a time per data dir, the base layer (Debian packages, artifacts, overlay, build scripts;
one ``podman import``) when its part of the recipe changed, then the top layer.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from images.build import apt, artifacts, debootstrap, errors, podman, recipe, rootfs, runner
from wws import logconfig

log = logconfig.get(__name__)

IMAGE = "localhost/wws/workspace:bookworm"


@dataclass(frozen=True)
class ImageResult:
    image: str
    recipe_hash: str
    built: bool  # False: the cached image was already up to date
    seconds: float


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One build at a time per data dir (``wws up`` and a test run may race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_base(
    *,
    base_image: str,
    base_hash: str,
    build_dir: Path,
    images_dir: Path,
    recipe_dir: Path,
    log_path: Path,
    progress: runner.Progress,
) -> None:
    """The base layer: Debian packages, artifacts, overlay, build scripts; one import."""
    for tool in ("debootstrap", "chroot", "tar", "mount"):
        if shutil.which(tool) is None:
            raise errors.ImageBuildError(
                f"{tool} is not installed (run `bash deploy/host-setup.sh`)"
            )
    started = time.monotonic()
    progress(f"base: building {base_image}")
    apt_dir = Path("/etc/apt")
    mirror = apt.debian_mirror(apt_dir=apt_dir)
    packages = recipe.read_packages(recipe_dir)
    tarball = debootstrap.package_tarball(
        cache_dir=images_dir / "cache",
        mirror=mirror,
        packages=packages,
        log_path=log_path,
        progress=progress,
    )
    artifact_tars = [
        artifacts.build_artifact(
            artifact,
            cache_dir=images_dir / "cache",
            build_dir=build_dir,
            mirror=mirror,
            log_path=log_path,
            progress=progress,
        )
        for artifact in artifacts.artifacts(recipe_dir)
    ]
    root = build_dir / "rootfs"
    progress(f"rootfs: debootstrap {recipe.SUITE} into {root}")
    debootstrap.unpack(
        root,
        tarball=tarball,
        packages=packages,
        mirror=mirror,
        step="rootfs",
        log_path=log_path,
        progress=progress,
    )
    for tar_path in artifact_tars:
        progress(f"rootfs: {tar_path.name}")
        artifacts.unpack_artifact(root, tar_path, log_path=log_path, progress=progress)
    progress("recipe: overlay and build scripts")
    rootfs.install_base_recipe(
        root,
        recipe_dir=recipe_dir,
        sources_list=apt.image_sources_list(suite=recipe.SUITE, mirror=mirror, apt_dir=apt_dir),
    )
    rootfs.run_build_scripts(root, recipe_dir=recipe_dir, log_path=log_path, progress=progress)
    rootfs.slim(root)
    podman.import_base(
        root, image=base_image, base_hash=base_hash, log_path=log_path, progress=progress
    )
    rootfs.remove_tree(root)
    progress(f"base: built in {time.monotonic() - started:.0f}s")


def ensure_image(
    data_dir: Path,
    *,
    force: bool = False,
    progress: runner.Progress = runner.stderr_progress,
    image: str = IMAGE,
    recipe_dir: Path = recipe.RECIPE_DIR,
) -> ImageResult:
    """Build ``image`` unless it exists with the current recipe hash (or ``force``).

    Safe to call concurrently (a lock file under ``<data-dir>/images``). Raises
    :class:`errors.ImageBuildError` with the failing step and the log's path.
    """
    started = time.monotonic()
    data_dir = data_dir.resolve()
    digest = recipe.recipe_hash(recipe_dir)
    images_dir = data_dir / "images"
    with locked(images_dir / "build.lock"):
        current = podman.image_recipe_hash(image)
        if not force and current == digest:
            progress(f"{image} is up to date (recipe {digest[:12]})")
            return ImageResult(image, digest, built=False, seconds=time.monotonic() - started)
        if current is None:
            progress(f"building {image} (recipe {digest[:12]}): image missing")
        elif current != digest:
            progress(f"building {image} (recipe {digest[:12]}): recipe changed")
        else:
            progress(f"building {image} (recipe {digest[:12]}): forced")
        images_dir.mkdir(parents=True, exist_ok=True)
        log_path = images_dir / "build.log"
        log_path.write_text(f"# wws image build {image} recipe {digest}\n")
        base_hash = recipe.base_recipe_hash(recipe_dir)
        base_image = podman.base_image_name(image, base_hash)
        build_dir = images_dir / "build" / digest[:16]
        rootfs.remove_tree(build_dir)
        build_dir.mkdir(parents=True)
        try:
            if force or podman.image_base_hash(base_image) != base_hash:
                build_base(
                    base_image=base_image,
                    base_hash=base_hash,
                    build_dir=build_dir,
                    images_dir=images_dir,
                    recipe_dir=recipe_dir,
                    log_path=log_path,
                    progress=progress,
                )
            else:
                progress(f"base: {base_image} is up to date")
            podman.build_top(
                base_image=base_image,
                image=image,
                digest=digest,
                build_dir=build_dir,
                recipe_dir=recipe_dir,
                log_path=log_path,
                progress=progress,
            )
            podman.remove_old_bases(base_image)
        finally:
            rootfs.remove_tree(build_dir)
    seconds = time.monotonic() - started
    progress(f"built {image} in {seconds:.1f}s")
    log.info("image built", image=image, recipe_hash=digest, seconds=round(seconds, 1))
    return ImageResult(image, digest, built=True, seconds=seconds)


def main(data_dir: Path, force: bool) -> int:
    """``wws image build [--data-dir DIR] [--force]``."""
    try:
        ensure_image(data_dir, force=force)
    except errors.ImageBuildError as error:
        print(f"wws image: error: {error}", file=sys.stderr)
        return 1
    return 0
