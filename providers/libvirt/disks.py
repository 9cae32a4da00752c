"""The disks of a workspace VM: the image's base disk, the root overlay and the home.

- *Base disk* ``<data-dir>/kvm/images/<image-id>.qcow2``: the workspace image's root file
  system (``podman image mount``, read in place) written into an ext4 file system by
  ``mkfs.ext4 -d`` and compacted by ``qemu-img convert``. Made once per image digest and
  shared read-only by every VM of that image.
- *Root overlay* ``workspaces/<uid>/root.qcow2``: copy-on-write on the base disk. Re-made
  when the workspace is re-created: the root is disposable, as a container's is. The root
  file system is :data:`ROOT_FS_BYTES` (sparse: only what is written takes room);
  ``spec.resources.disk`` is not enforced, as with Podman (the image has no
  ``resize2fs`` to grow a file system to a larger overlay).
- *Home* ``homes/wws-home-<uid>.img``: a sparse raw ext4 image of ``spec.home.size``,
  made once and kept until the workspace is deleted; grown (never shrunk) when the size
  goes up. Raw, so the host can mount it (``mount -o loop``) to move it to another provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from providers import base, homes
from providers.libvirt import naming
from providers.libvirt.bootfiles import file_lock
from providers.podman import service as podman_service
from wws import logconfig

log = logconfig.get(__name__)

IMAGE_HINT = "run `wws image build` (or `make up`, which builds it) and the workspace starts"
DEFAULT_HOME_BYTES = 10 * 1024**3
#: The root file system's size (sparse; at least the image's size plus room to work).
ROOT_FS_BYTES = 16 * 1024**3


def _run(args: list[str], *, timeout: float = 600, what: str = "") -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise base.ProviderError(f"{what or args[0]}: {error}") from error
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-500:]
        raise base.ProviderError(f"{what or args[0]} failed: {detail}")
    return result.stdout


def _podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=podman_service.podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def image_info(image: str) -> tuple[str, int]:
    """The image's id (its digest, without ``sha256:``) and size in bytes; raises
    :class:`base.ImageNotFound` when the image is not in the host's Podman storage."""
    try:
        result = _podman("image", "inspect", "--format", "{{json .}}", image)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise base.ProviderUnavailable(f"podman image inspect: {error}") from error
    if result.returncode != 0:
        raise base.ImageNotFound(image, IMAGE_HINT if image.startswith("localhost/wws/") else "")
    info = json.loads(result.stdout)
    if isinstance(info, list):
        info = info[0]
    return str(info["Id"]).removeprefix("sha256:"), int(info.get("Size") or 0)


def ensure_base_disk(layout: naming.Layout, image: str) -> tuple[Path, str]:
    """The base disk of ``image`` (path, image id), made when missing."""
    digest, size = image_info(image)
    target = layout.base_disk(digest)
    if target.is_file():
        return target, digest
    layout.images.mkdir(parents=True, exist_ok=True)
    with file_lock(layout.images / ".lock"):
        if target.is_file():
            return target, digest
        started = time.monotonic()
        mounted = _podman("image", "mount", image, timeout=300)
        if mounted.returncode != 0:
            raise base.ProviderError(f"podman image mount {image}: {mounted.stderr.strip()}")
        rootfs = mounted.stdout.strip()
        raw = target.with_suffix(".raw.partial")
        partial = target.with_suffix(".partial")
        try:
            fs_bytes = max(ROOT_FS_BYTES, (int(size * 1.5) + 1024**3) // 1024**2 * 1024**2)
            raw.unlink(missing_ok=True)
            with raw.open("wb") as handle:
                handle.truncate(fs_bytes)
            _run(
                ["mkfs.ext4", "-q", "-F", "-L", "wws-root", "-m", "0", "-d", rootfs, str(raw)],
                what="mkfs.ext4 -d (the image's root)",
            )
            _run(
                ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(partial)],
                what="qemu-img convert",
            )
            os.replace(partial, target)
        finally:
            raw.unlink(missing_ok=True)
            partial.unlink(missing_ok=True)
            _podman("image", "unmount", image)
        log.info(
            "VM base disk built",
            image=image,
            digest=digest[:12],
            seconds=round(time.monotonic() - started, 1),
            bytes=target.stat().st_size,
        )
    return target, digest


def virtual_size(path: Path) -> int:
    info = json.loads(_run(["qemu-img", "info", "--output=json", "-U", str(path)]))
    return int(info["virtual-size"])


def make_root_overlay(target: Path, base_disk: Path) -> None:
    """A fresh copy-on-write root for a VM (any previous one is replaced)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    _run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            str(base_disk),
            str(partial),
        ],
        what="qemu-img create (root overlay)",
    )
    os.replace(partial, target)


#: Extended attributes of a home disk file: its Workspace, for the orphan sweep.
_XATTR = "user.wws."


def write_labels(path: Path, ref: base.WorkspaceRef) -> None:
    for key, value in (
        ("namespace", ref.namespace),
        ("name", ref.name),
        ("organization", ref.organization),
    ):
        with contextlib.suppress(OSError):  # a file system without user xattrs
            os.setxattr(path, _XATTR + key, value.encode())


def read_labels(path: Path) -> dict[str, str]:
    labels = {}
    for key in ("namespace", "name", "organization"):
        with contextlib.suppress(OSError):
            labels[key] = os.getxattr(path, _XATTR + key).decode()
    return labels


def ensure_home(
    path: Path, size_bytes: int, *, ref: base.WorkspaceRef | None = None, in_use: bool = False
) -> bool:
    """Make the home disk when missing (True). When ``size_bytes`` grew and the disk is not
    in use, grow the file and its file system (``resize2fs`` on the host). Never shrinks,
    never reformats."""
    size = size_bytes or DEFAULT_HOME_BYTES
    if path.is_file():
        if path.stat().st_size < size and not in_use:
            with path.open("r+b") as handle:
                handle.truncate(size)
            _run(["e2fsck", "-f", "-p", str(path)], what="e2fsck (home)")
            _run(["resize2fs", "-f", str(path)], what="resize2fs (home)")
            log.info("home disk grown", path=str(path), bytes=size)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        handle.truncate(size)
    try:
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "wws-home",
                "-m",
                "0",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0",
                str(partial),
            ],
            what="mkfs.ext4 (home)",
        )
        if ref is not None:
            write_labels(partial, ref)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return True


def export_home(path: Path, dest: Path) -> None:
    """Copy the files of the home disk ``path`` into ``dest`` (a read-only loop mount)."""
    if not path.is_file():
        raise homes.HomeMoveFailed(f"no home disk {path.name}")
    with tempfile.TemporaryDirectory(prefix="wws-home-") as mnt:
        _run(["mount", "-o", "loop,ro,noload", str(path), mnt], what="mount (home disk)")
        try:
            homes.copy_tree(Path(mnt), dest)
        finally:
            _run(["umount", mnt], what="umount (home disk)")


def import_home(
    path: Path, source: Path, size_bytes: int, *, ref: base.WorkspaceRef | None = None
) -> None:
    """Make the home disk ``path`` anew from the files of ``source``: an empty ext4 file
    system, loop-mounted, filled with :func:`providers.homes.copy_tree` (``mkfs.ext4 -d``
    would not keep the files' times), at least ``size_bytes`` and room for the files."""
    used = sum(
        (Path(folder) / name).lstat().st_blocks * 512
        for folder, _, files in os.walk(source)
        for name in files
    )
    size = max(size_bytes or DEFAULT_HOME_BYTES, int(used * 1.5) + 256 * 1024**2)
    partial = path.with_suffix(".import")
    partial.unlink(missing_ok=True)
    try:
        ensure_home(partial, size, ref=ref)
        with tempfile.TemporaryDirectory(prefix="wws-home-") as mnt:
            _run(["mount", "-o", "loop", str(partial), mnt], what="mount (new home disk)")
            try:
                homes.copy_tree(source, Path(mnt))
            finally:
                _run(["umount", mnt], what="umount (new home disk)")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def allocated_bytes(path: Path) -> int:
    """Bytes a (sparse) file really takes on the host."""
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0
