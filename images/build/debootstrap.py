"""Debian roots with debootstrap: the package tarball (downloaded once, kept under the
data dir and keyed by suite, mirror, architecture and packages) and a root unpacked from it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from images.build import recipe, runner


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def package_tarball(
    *,
    cache_dir: Path,
    mirror: str,
    packages: list[str],
    log_path: Path,
    progress: runner.Progress,
    step: str = "packages",
) -> Path:
    arch = architecture()
    key = hashlib.sha256(
        json.dumps([recipe.SUITE, recipe.VARIANT, arch, mirror, packages]).encode()
    ).hexdigest()[:16]
    tarball = cache_dir / f"debootstrap-{recipe.SUITE}-{arch}-{key}.tar"
    if tarball.is_file():
        progress(f"{step}: cached {tarball.name}")
        return tarball
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / f".make-{key}"
    shutil.rmtree(work, ignore_errors=True)
    partial = tarball.with_suffix(".tar.partial")
    what = f"{recipe.SUITE} {recipe.VARIANT} + {len(packages)} packages"
    progress(f"{step}: downloading {what} from {mirror}")
    runner.run(
        [
            "debootstrap",
            f"--variant={recipe.VARIANT}",
            f"--arch={arch}",
            f"--include={','.join(packages)}",
            f"--make-tarball={partial}",
            recipe.SUITE,
            str(work),
            mirror,
        ],
        step=step,
        log_path=log_path,
        progress=progress,
    )
    shutil.rmtree(work, ignore_errors=True)
    partial.rename(tarball)
    return tarball


def unpack(
    root: Path,
    *,
    tarball: Path,
    packages: list[str],
    mirror: str,
    step: str,
    log_path: Path,
    progress: runner.Progress,
) -> None:
    """``debootstrap --unpack-tarball``: a root from the package tarball, no download."""
    runner.run(
        [
            "debootstrap",
            f"--variant={recipe.VARIANT}",
            f"--include={','.join(packages)}",
            f"--unpack-tarball={tarball}",
            recipe.SUITE,
            str(root),
            mirror,
        ],
        step=step,
        log_path=log_path,
        progress=progress,
    )
