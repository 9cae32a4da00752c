"""The VM layer: a kernel and an initramfs that boot any WWS workspace image.

The workspace image (``wws image build``) is a container root: no kernel, no udev, no
service manager. A virtual machine boots it directly (``<kernel>``/``<initrd>``, no boot
loader) with:

- the kernel of Debian's ``linux-image-cloud-amd64`` (fetched with ``apt-get download``
  from this host's Debian mirror, unpacked under ``<data-dir>/kvm/cache/kernel/``);
- an initramfs made here: busybox (``busybox-static``, fetched the same way), the kernel
  modules a workspace needs (virtio disk, network, virtiofs, rng, the ACPI power button),
  ``guest/init`` (mounts, network, then ``switch_root``) and ``guest/vm_init.py`` (the
  VM's PID 1, which starts the image's own ``wws-init``).

Both are cached and independent of the image: one kernel and initramfs serve every image.
The initramfs is rebuilt only when ``guest/``, the module list or the kernel changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
GUEST_DIR = Path(__file__).resolve().parent / "guest"
#: Modules loaded by the initramfs, in this order (their dependencies first).
MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtiofs",
    "virtio_rng",
    "button",
    "evdev",
    "pvpanic_mmio",
)
#: Bumped when the initramfs's layout changes.
INITRAMFS_FORMAT = "1"


class KernelNotFound(base.ProviderError):
    """No kernel (or busybox) for the VMs could be found or fetched."""

    reason = "KernelNotFound"


@dataclass(frozen=True)
class BootFiles:
    kernel: Path
    initrd: Path
    release: str  # the kernel's release, e.g. "6.1.0-56-cloud-amd64"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (the controller, tests, benchmarks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _hint(package: str) -> str:
    return (
        f"the VMs' kernel comes from the Debian package {package}: `apt-get download {package}` "
        "must work on this host (run `apt-get update`; a Debian mirror in /etc/apt), "
        "or set the kvm provider's option kernel_package"
    )


def _apt_download(package: str, dest: Path) -> Path:
    """``apt-get download package`` into ``dest``; the .deb's path."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KernelNotFound(f"cannot fetch {package}: {error}; {_hint(package)}") from error
    debs = sorted(dest.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no .deb"]
        raise KernelNotFound(f"cannot fetch {package}: {detail[0]}; {_hint(package)}")
    return debs[-1]


def _resolve_kernel_package(meta: str) -> str:
    """The versioned package (``linux-image-6.1.0-56-cloud-amd64``) a meta package names."""
    if re.search(r"\d+\.\d+", meta):
        return meta
    try:
        result = subprocess.run(
            ["apt-cache", "depends", meta], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KernelNotFound(f"cannot resolve {meta}: {error}; {_hint(meta)}") from error
    for line in result.stdout.splitlines():
        match = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if match:
            return match.group(1)
    raise KernelNotFound(f"package {meta} is unknown to apt here; {_hint(meta)}")


def _unpack(deb: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True, timeout=300)
    partial.rename(target)


def ensure_kernel(cache: Path, package: str = KERNEL_PACKAGE) -> tuple[Path, str]:
    """The unpacked kernel package (folder, release), fetched once."""
    root = cache / "kernel"
    found = sorted(root.glob("linux-image-*/boot/vmlinuz-*")) if root.is_dir() else []
    wanted = [p for p in found if package == KERNEL_PACKAGE or p.parents[1].name == package]
    if not wanted:
        versioned = _resolve_kernel_package(package)
        log.info("fetching the VM kernel", package=versioned)
        with tempfile.TemporaryDirectory(dir=cache) as temp:
            deb = _apt_download(versioned, Path(temp))
            _unpack(deb, root / versioned)
        wanted = sorted((root / versioned).glob("boot/vmlinuz-*"))
        if not wanted:
            raise KernelNotFound(f"{versioned} has no /boot/vmlinuz-*; {_hint(package)}")
    vmlinuz = wanted[-1]
    return vmlinuz.parents[1], vmlinuz.name.removeprefix("vmlinuz-")


def ensure_busybox(cache: Path) -> Path:
    target = cache / "busybox" / "busybox"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as temp:
        deb = _apt_download(BUSYBOX_PACKAGE, Path(temp))
        _unpack(deb, Path(temp) / "x")
        source = Path(temp) / "x" / "bin" / "busybox"
        if not source.is_file():
            raise KernelNotFound(f"{BUSYBOX_PACKAGE} has no bin/busybox")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target.with_suffix(".partial"))
        target.with_suffix(".partial").rename(target)
    return target


# --- modules --------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    return path.name.removesuffix(".ko").replace("-", "_")


def _depends(path: Path) -> list[str]:
    """The ``depends=`` of a module's ``.modinfo`` section."""
    data = path.read_bytes()
    match = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    if not match or not match.group(1):
        return []
    return [name.decode().replace("-", "_") for name in match.group(1).split(b",")]


def module_order(modules_dir: Path, wanted: tuple[str, ...] = MODULES) -> list[Path]:
    """The ``.ko`` files of ``wanted`` and everything they depend on, dependencies first."""
    index = {_module_name(p): p for p in modules_dir.rglob("*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path = index.get(name)
        if path is None:  # built into the kernel
            return
        for dep in _depends(path):
            visit(dep)
        order.append(path)

    for name in wanted:
        visit(name)
    return order


# --- the initramfs --------------------------------------------------------------------------


class _Cpio:
    """A ``newc`` cpio archive (what the kernel unpacks as an initramfs)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        encoded = name.encode() + b"\x00"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
        self.ino += 1
        header = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
        self.parts.append(header + encoded + b"\x00" * (-(len(header) + len(encoded)) % 4))
        self.parts.append(data + b"\x00" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def _initramfs_key(kernel_dir: Path, busybox: Path, modules: list[Path]) -> str:
    digest = hashlib.sha256(f"{INITRAMFS_FORMAT}\n{kernel_dir.name}\n".encode())
    digest.update(hashlib.sha256(busybox.read_bytes()).digest())
    for path in sorted(GUEST_DIR.iterdir()):
        if path.is_file() and not path.name.endswith(".pyc"):
            digest.update(f"{path.name}\n".encode())
            digest.update(path.read_bytes())
    for module in modules:
        digest.update(f"{module.name}\n".encode())
    return digest.hexdigest()[:16]


def build_initramfs(busybox: Path, modules: list[Path]) -> bytes:
    archive = _Cpio()
    for folder in ("bin", "dev", "etc", "lib", "lib/modules", "newroot", "proc", "sys"):
        archive.directory(folder)
    archive.char_device("dev/console", 5, 1)
    archive.char_device("dev/null", 1, 3)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    archive.file("init", (GUEST_DIR / "init").read_bytes(), 0o755)
    archive.file("udhcpc.sh", (GUEST_DIR / "udhcpc.sh").read_bytes(), 0o755)
    archive.file("vm_init.py", (GUEST_DIR / "vm_init.py").read_bytes(), 0o644)
    for module in modules:
        archive.file(f"lib/modules/{module.name.removesuffix('.ko')}.ko", module.read_bytes())
    names = "\n".join(module.name.removesuffix(".ko") for module in modules) + "\n"
    archive.file("etc/wws-modules", names.encode())
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


def ensure_boot_files(cache: Path, *, package: str = KERNEL_PACKAGE) -> BootFiles:
    """The kernel and initramfs for the VMs, made once (and again when ``guest/`` changes).
    Raises :class:`KernelNotFound` with a hint when they cannot be had."""
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / ".lock"):
        kernel_dir, release = ensure_kernel(cache, package)
        busybox = ensure_busybox(cache)
        modules_dir = kernel_dir / "lib" / "modules" / release
        modules = module_order(modules_dir)
        key = _initramfs_key(kernel_dir, busybox, modules)
        initrd = cache / f"initrd-{release}-{key}.img"
        if not initrd.is_file():
            partial = initrd.with_suffix(".partial")
            partial.write_bytes(build_initramfs(busybox, modules))
            os.replace(partial, initrd)
            # NB: older ones stay: a defined domain may still name one (a few MB each).
            log.info("VM initramfs built", path=str(initrd), modules=len(modules))
        return BootFiles(
            kernel=kernel_dir / "boot" / f"vmlinuz-{release}", initrd=initrd, release=release
        )
