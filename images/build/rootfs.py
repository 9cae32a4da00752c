"""The root being built: mounts inside it (never followed when it is removed), commands
run in it with chroot, the recipe's overlay and build scripts, and what is left out."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from images.build import errors, recipe, runner


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path`` (deepest first), from /proc/self/mountinfo."""
    found = []
    resolved = path.resolve()
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4:
                point = Path(fields[4].replace("\\040", " "))
                if point == resolved or resolved in point.parents:
                    found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    for point in mounts_under(path):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def remove_tree(path: Path) -> None:
    """``rm -rf`` that never follows a mount point left inside a build root."""
    unmount_under(path)
    if mounts_under(path):
        raise errors.ImageBuildError(f"cannot unmount everything under {path}; remove it by hand")
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside a chroot for the duration of a build step (Node.js needs it)."""
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, capture_output=True)
    try:
        yield
    finally:
        unmount_under(proc)


def chroot_env(**extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env |= {"DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "HOME": "/root"}
    return env | extra


def install_base_recipe(rootfs: Path, *, recipe_dir: Path, sources_list: str) -> None:
    """The base layer's part of the recipe: the overlay, apt sources and CA certificates
    (the init, agent, languages and boot hooks come in the top layer)."""
    (rootfs / recipe.LIB_PATH.lstrip("/") / "boot.d").mkdir(parents=True, exist_ok=True)
    overlay = recipe_dir / "rootfs"
    if overlay.is_dir():
        shutil.copytree(overlay, rootfs, symlinks=True, dirs_exist_ok=True)
    (rootfs / "etc/apt/sources.list").write_text(sources_list)
    add_local_cas(rootfs)
    (rootfs / "etc/wws").mkdir(parents=True, exist_ok=True)


def add_local_cas(rootfs: Path, ca_dir: Path = recipe.LOCAL_CA_DIR) -> None:
    """The build machine's CA certificates, for ``update-ca-certificates`` in the root."""
    for path in recipe.local_ca_files(ca_dir):
        target = rootfs / "usr/local/share/ca-certificates" / path.relative_to(ca_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def run_build_scripts(
    rootfs: Path, *, recipe_dir: Path, log_path: Path, progress: runner.Progress
) -> None:
    scripts_dir = recipe_dir / "build.d"
    if not scripts_dir.is_dir():
        return
    for script in sorted(p for p in scripts_dir.iterdir() if p.is_file()):
        target = Path("/tmp") / f"wws-build-{script.name}"
        shutil.copy2(script, rootfs / target.relative_to("/"))
        (rootfs / target.relative_to("/")).chmod(0o755)
        progress(f"build script {script.name}")
        env = chroot_env()
        try:
            runner.run(
                ["chroot", str(rootfs), str(target)],
                step=f"build.d/{script.name}",
                log_path=log_path,
                progress=progress,
                env=env,
            )
        finally:
            (rootfs / target.relative_to("/")).unlink(missing_ok=True)


def slim(rootfs: Path) -> None:
    """Leave out what a container gets from its runtime or never needs."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()
    for leftover in ("var/log/bootstrap.log", "etc/hostname", "etc/resolv.conf"):
        (rootfs / leftover).unlink(missing_ok=True)
    # NB: machine-id must be empty (not absent) so a VM's systemd generates one at first boot.
    (rootfs / "etc/machine-id").write_text("")
