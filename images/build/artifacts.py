"""Artifacts: things built in a throwaway root of their own and unpacked into the image
(``artifacts/<name>/`` of the recipe, e.g. code-server), cached as tarballs under the data
dir keyed by their folder's hash."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from images.build import debootstrap, errors, recipe, rootfs, runner


@dataclass(frozen=True)
class Artifact:
    """``artifacts/<name>/`` of the recipe (see the module's documentation)."""

    name: str
    folder: Path

    def key(self, arch: str) -> str:
        digest = hashlib.sha256(
            f"wws-artifact/{recipe.BUILD_FORMAT}/{recipe.SUITE}/{arch}\n".encode()
        )
        recipe.tree_digest(digest, self.folder)
        return digest.hexdigest()[:16]

    def outputs(self) -> list[str]:
        paths = []
        for raw in (self.folder / "outputs").read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                if not line.startswith("/") or ".." in line.split("/"):
                    raise errors.ImageBuildError(f"artifact {self.name}: bad output path {line!r}")
                paths.append(line.lstrip("/"))
        return paths

    def npm_specs(self) -> list[str]:
        path = self.folder / "npm-pack.txt"
        if not path.is_file():
            return []
        specs = []
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                if not re.fullmatch(r"(@[a-z0-9._-]+/)?[a-z0-9._-]+@[0-9][0-9A-Za-z.+-]*", line):
                    raise errors.ImageBuildError(
                        f"artifact {self.name}: npm-pack.txt wants exact versions, not {line!r}"
                    )
                specs.append(line)
        return specs


def artifacts(recipe_dir: Path = recipe.RECIPE_DIR) -> list[Artifact]:
    folder = recipe_dir / "artifacts"
    if not folder.is_dir():
        return []
    return [Artifact(p.name, p) for p in sorted(folder.iterdir()) if (p / "build.sh").is_file()]


def npm_pack(spec: str, *, cache_dir: Path, log_path: Path, progress: runner.Progress) -> Path:
    """``npm pack SPEC`` on this machine, once: the tarball is kept under the data dir."""
    folder = cache_dir / "npm-pack" / hashlib.sha256(spec.encode()).hexdigest()[:16]
    found = sorted(folder.glob("*.tgz")) if folder.is_dir() else []
    if found:
        return found[0]
    npm = shutil.which("npm")
    if npm is None:
        raise errors.ImageBuildError(
            "npm is not installed on this machine; it fetches code-server's Node.js from the "
            "npm registry (apt-get install npm)"
        )
    progress(f"npm: pack {spec}")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    runner.run(
        [npm, "pack", "--silent", "--cache", str(cache_dir / "npm"), "--pack-destination",
         str(partial), spec],
        step=f"npm pack {spec}",
        log_path=log_path,
        progress=progress,
    )  # fmt: skip
    if not list(partial.glob("*.tgz")):
        raise errors.ImageBuildError(f"npm pack {spec} left no tarball; log: {log_path}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return sorted(folder.glob("*.tgz"))[0]


def build_artifact(
    artifact: Artifact,
    *,
    cache_dir: Path,
    build_dir: Path,
    mirror: str,
    log_path: Path,
    progress: runner.Progress,
) -> Path:
    """The artifact's tarball from the cache, or built now (in its own throwaway root)."""
    arch = debootstrap.architecture()
    tar_path = cache_dir / f"artifact-{artifact.name}-{arch}-{artifact.key(arch)}.tar"
    step = f"artifact {artifact.name}"
    if tar_path.is_file():
        progress(f"{step}: cached {tar_path.name}")
        return tar_path
    started = time.monotonic()
    packages = recipe.read_packages(artifact.folder, "build-packages.txt")
    tarballs = [
        npm_pack(spec, cache_dir=cache_dir, log_path=log_path, progress=progress)
        for spec in artifact.npm_specs()
    ]
    package_tar = debootstrap.package_tarball(
        cache_dir=cache_dir,
        mirror=mirror,
        packages=packages,
        log_path=log_path,
        progress=progress,
        step=f"{step} build packages",
    )
    root = build_dir / f"artifact-{artifact.name}"
    rootfs.remove_tree(root)
    progress(f"{step}: build root")
    npm_cache = cache_dir / "npm"
    npm_cache.mkdir(parents=True, exist_ok=True)
    inner_cache = root / "var/cache/wws-npm"
    try:
        debootstrap.unpack(
            root,
            tarball=package_tar,
            packages=packages,
            mirror=mirror,
            step=f"{step} root",
            log_path=log_path,
            progress=progress,
        )
        work = root / "tmp/wws-artifact"
        shutil.copytree(artifact.folder, work / "recipe")
        (work / "npm").mkdir(parents=True)
        for tarball in tarballs:
            shutil.copy2(tarball, work / "npm" / tarball.name)
        rootfs.add_local_cas(root)
        for name in ("resolv.conf", "hosts"):
            with contextlib.suppress(OSError):
                shutil.copy2(Path("/etc") / name, root / "etc" / name)
        # NB: npm's cache moves into the root and back (one file system: a rename), so it
        # outlives the build without a bind mount inside a folder that gets deleted.
        inner_cache.parent.mkdir(parents=True, exist_ok=True)
        npm_cache.rename(inner_cache)
        env = rootfs.chroot_env(
            WWS_NPM_TARBALLS="/tmp/wws-artifact/npm",
            npm_config_cache="/var/cache/wws-npm",
            JOBS=str(os.cpu_count() or 2),
            MAKEFLAGS=f"-j{os.cpu_count() or 2}",
        )
        with rootfs.proc_mounted(root):
            runner.run(
                ["chroot", str(root), "update-ca-certificates"],
                step=f"{step} certificates",
                log_path=log_path,
                progress=progress,
                env=env,
            )
            runner.run(
                ["chroot", str(root), "/tmp/wws-artifact/recipe/build.sh"],
                step=step,
                log_path=log_path,
                progress=progress,
                env=env,
            )
        partial = tar_path.with_suffix(".tar.partial")
        progress(f"{step}: saving {tar_path.name}")
        runner.run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), *artifact.outputs()],
            step=f"{step} tar",
            log_path=log_path,
            progress=progress,
        )
        partial.rename(tar_path)
    finally:
        if inner_cache.is_dir() and not npm_cache.exists():
            inner_cache.rename(npm_cache)
        rootfs.remove_tree(root)
    progress(f"{step}: built in {time.monotonic() - started:.0f}s")
    return tar_path


def unpack_artifact(
    rootfs: Path, tar_path: Path, *, log_path: Path, progress: runner.Progress
) -> None:
    runner.run(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-xf", str(tar_path)],
        step=f"unpack {tar_path.name}",
        log_path=log_path,
        progress=progress,
    )
