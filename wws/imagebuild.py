"""``wws image build``: the default workspace image from Debian packages, no registry needed.

The recipe is the folder ``images/workspace/``: ``packages.txt`` (Debian packages on top of
debootstrap's ``minbase``), ``init/`` (the provider-independent init, installed as
``/usr/local/sbin/wws-init``), an optional ``rootfs/`` overlay copied into the root as it
is, and optional ``build.d/`` scripts run inside the root (chroot) in name order. The
SHA-256 of that tree is the *recipe hash*; the image carries it as the label
``wws.dev/recipe-hash`` and is rebuilt only when the hash changes or the image is missing.

Steps, each announced on stderr:

1. the package tarball ``<data-dir>/images/cache/debootstrap-<suite>-<key>.tar``
   (``debootstrap --make-tarball``; kept, keyed by suite, mirror, architecture and
   packages, so a recipe change that only touches scripts downloads nothing);
2. ``debootstrap --unpack-tarball`` into ``<data-dir>/images/build/<hash>/rootfs``;
3. the recipe's files and scripts go in, apt's caches come out;
4. ``tar | podman import --change CMD=... --change LABEL=...`` to
   ``localhost/wws/workspace:bookworm``; the build folder is removed.

Packages come from the Debian mirror that this machine's apt uses (``/etc/apt``), no other
host. ``WWS_DEBIAN_MIRROR`` overrides it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from providers.podman import service as podman_service
from wws import logconfig

log = logconfig.get(__name__)

IMAGE = "localhost/wws/workspace:bookworm"
SUITE = "bookworm"
VARIANT = "minbase"
RECIPE_DIR = Path(__file__).resolve().parents[1] / "images" / "workspace"
RECIPE_LABEL = "wws.dev/recipe-hash"
INIT_PATH = "/usr/local/sbin/wws-init"
#: Bumped when this module changes what it puts into the image, so old images are rebuilt.
BUILD_FORMAT = "1"

Progress = Callable[[str], None]
_HEARTBEAT_SECONDS = 5.0


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class ImageResult:
    image: str
    recipe_hash: str
    built: bool  # False: the cached image was already up to date
    seconds: float


def stderr_progress(message: str) -> None:
    """Default progress sink: one line per step on stderr."""
    print(f"wws image: {message}", file=sys.stderr, flush=True)


# --- the recipe -----------------------------------------------------------------------------


def _recipe_files(recipe_dir: Path) -> Iterator[Path]:
    for path in sorted(recipe_dir.rglob("*")):
        if "__pycache__" in path.parts or path.name.endswith((".pyc", "~", ".swp")):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def recipe_hash(recipe_dir: Path = RECIPE_DIR) -> str:
    """SHA-256 over the recipe tree: relative paths, the executable bit, and contents."""
    digest = hashlib.sha256(f"wws-image-build/{BUILD_FORMAT}\n".encode())
    for path in _recipe_files(recipe_dir):
        rel = path.relative_to(recipe_dir).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} -> {os.readlink(path)}\n".encode())
            continue
        mode = "x" if path.stat().st_mode & stat.S_IXUSR else "-"
        data = path.read_bytes()
        digest.update(f"F {rel} {mode} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def read_packages(recipe_dir: Path = RECIPE_DIR) -> list[str]:
    """The package names of ``packages.txt`` (comments and blank lines skipped), sorted."""
    names: set[str] = set()
    for raw in (recipe_dir / "packages.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", line):
            raise ImageBuildError(f"packages.txt: {line!r} is not a Debian package name")
        names.add(line)
    return sorted(names)


# --- the mirror ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _parse_one_line_list(text: str) -> Iterator[AptSource]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^]]*\]", " ", line[4:])  # drop [arch=... signed-by=...]
        fields = line.split()
        if len(fields) >= 2:
            yield AptSource(fields[0], (fields[1],), tuple(fields[2:]))


def _parse_deb822(text: str) -> Iterator[AptSource]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, _, value = raw.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            yield AptSource(uri, suites, components)


def apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """The ``deb`` sources apt reads on this machine, in apt's order."""
    sources: list[AptSource] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        sources.extend(_parse_one_line_list(main_list.read_text()))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                sources.extend(_parse_one_line_list(path.read_text()))
            elif path.suffix == ".sources":
                sources.extend(_parse_deb822(path.read_text()))
    return sources


def _suite_sources(sources: list[AptSource], suite: str) -> list[AptSource]:
    """Sources of ``suite`` and its companions (``-updates``, ``-security``) with ``main``."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    found = []
    for source in sources:
        suites = tuple(s for s in source.suites if s in wanted)
        if suites and "main" in source.components:
            found.append(AptSource(source.uri.rstrip("/"), suites, ("main",)))
    return found


def debian_mirror(*, suite: str = SUITE, apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror that serves ``suite`` to this machine's apt (``$WWS_DEBIAN_MIRROR`` wins)."""
    override = os.environ.get("WWS_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    candidates = [s for s in _suite_sources(apt_sources(apt_dir), suite) if suite in s.suites]
    if not candidates:
        raise ImageBuildError(
            f"no apt source for Debian {suite} (main) in {apt_dir}/sources.list*; "
            "set WWS_DEBIAN_MIRROR to a Debian mirror URL"
        )
    # NB: prefer a Debian archive over a third-party repository that reuses the suite name.
    candidates.sort(key=lambda s: 0 if "debian" in s.uri else 1)
    return candidates[0].uri


def _image_sources_list(*, suite: str, mirror: str, apt_dir: Path) -> str:
    lines = ["# Written by `wws image build` from the build machine's apt sources."]
    seen: set[tuple[str, str]] = set()
    entries = [(mirror, suite)]
    for source in _suite_sources(apt_sources(apt_dir), suite):
        entries.extend((source.uri, s) for s in source.suites)
    for uri, s in entries:
        if (uri, s) not in seen:
            seen.add((uri, s))
            lines.append(f"deb {uri} {s} main")
    return "\n".join(lines) + "\n"


# --- running things -----------------------------------------------------------------------


def _run(
    argv: list[str],
    *,
    step: str,
    log_path: Path,
    progress: Progress,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
) -> None:
    """Run a build step; debootstrap's ``I:`` lines are condensed into one progress line per
    phase (Retrieving, Extracting, Installing, Configuring, ...); everything goes to the log."""
    with log_path.open("a") as log_file:
        log_file.write(f"$ {' '.join(argv)}\n")
        log_file.flush()
        process = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        seen: set[str] = set()
        last = time.monotonic()
        tail: list[str] = []
        for line in process.stdout:
            log_file.write(line)
            line = line.rstrip()
            tail = [*tail[-19:], line]
            words = line[2:].split()
            verb = words[0] if line.startswith("I:") and words else ""
            # NB: first line of each phase, errors, and a heartbeat every few seconds.
            if (
                line.startswith(("W:", "E:"))
                or (verb and verb not in seen)
                or time.monotonic() - last > _HEARTBEAT_SECONDS
            ):
                seen.add(verb)
                last = time.monotonic()
                progress(f"{step}: {line.removeprefix('I: ')}")
        code = process.wait()
    if code != 0:
        detail = "\n".join(tail[-8:])
        raise ImageBuildError(f"{step} failed (exit {code}); log: {log_path}\n{detail}")


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    podman = shutil.which("podman")
    if podman is None:
        raise ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    return subprocess.run(
        [podman, *args],
        env=podman_service.podman_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def image_recipe_hash(image: str = IMAGE) -> str | None:
    """The recipe hash label of ``image`` ("" when unlabelled); ``None`` when missing."""
    result = _podman("image", "inspect", image)
    if result.returncode != 0:
        return None
    info = json.loads(result.stdout or "[]")
    if not info:
        return None
    labels = (info[0].get("Config") or {}).get("Labels") or info[0].get("Labels") or {}
    return str(labels.get(RECIPE_LABEL, ""))


def _image_id(image: str) -> str | None:
    result = _podman("image", "inspect", "--format", "{{.Id}}", image)
    return result.stdout.strip() if result.returncode == 0 else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time per data dir (``wws up`` and a test run may race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the build ----------------------------------------------------------------------------


def _package_tarball(
    *, cache_dir: Path, mirror: str, packages: list[str], log_path: Path, progress: Progress
) -> Path:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    key = hashlib.sha256(json.dumps([SUITE, VARIANT, arch, mirror, packages]).encode()).hexdigest()[
        :16
    ]
    tarball = cache_dir / f"debootstrap-{SUITE}-{arch}-{key}.tar"
    if tarball.is_file():
        progress(f"packages: cached {tarball.name}")
        return tarball
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / f".make-{key}"
    shutil.rmtree(work, ignore_errors=True)
    partial = tarball.with_suffix(".tar.partial")
    progress(f"packages: downloading {SUITE} {VARIANT} + {len(packages)} packages from {mirror}")
    _run(
        [
            "debootstrap",
            f"--variant={VARIANT}",
            f"--arch={arch}",
            f"--include={','.join(packages)}",
            f"--make-tarball={partial}",
            SUITE,
            str(work),
            mirror,
        ],
        step="packages",
        log_path=log_path,
        progress=progress,
    )
    shutil.rmtree(work, ignore_errors=True)
    partial.rename(tarball)
    return tarball


def _install_recipe(rootfs: Path, *, recipe_dir: Path, sources_list: str, digest: str) -> None:
    init_dir = recipe_dir / "init"
    lib_dir = rootfs / "usr/local/lib/wws"
    if init_dir.is_dir():
        shutil.copytree(init_dir, lib_dir / "init", dirs_exist_ok=True)
    (lib_dir / "boot.d").mkdir(parents=True, exist_ok=True)
    init = rootfs / INIT_PATH.lstrip("/")
    init.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(recipe_dir / "init" / "wws-init", init)
    init.chmod(0o755)
    overlay = recipe_dir / "rootfs"
    if overlay.is_dir():
        shutil.copytree(overlay, rootfs, symlinks=True, dirs_exist_ok=True)
    (rootfs / "etc/apt/sources.list").write_text(sources_list)
    (rootfs / "etc/wws").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/wws/image").write_text(f"image={IMAGE}\nrecipe_hash={digest}\n")


def _run_build_scripts(
    rootfs: Path, *, recipe_dir: Path, log_path: Path, progress: Progress
) -> None:
    scripts_dir = recipe_dir / "build.d"
    if not scripts_dir.is_dir():
        return
    for script in sorted(p for p in scripts_dir.iterdir() if p.is_file()):
        target = Path("/tmp") / f"wws-build-{script.name}"
        shutil.copy2(script, rootfs / target.relative_to("/"))
        (rootfs / target.relative_to("/")).chmod(0o755)
        progress(f"build script {script.name}")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env |= {"DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "HOME": "/root"}
        try:
            _run(
                ["chroot", str(rootfs), str(target)],
                step=f"build.d/{script.name}",
                log_path=log_path,
                progress=progress,
                env=env,
            )
        finally:
            (rootfs / target.relative_to("/")).unlink(missing_ok=True)


def _slim(rootfs: Path) -> None:
    """Leave out what a container gets from its runtime or never needs."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()
    for leftover in ("var/log/bootstrap.log", "etc/hostname", "etc/resolv.conf"):
        (rootfs / leftover).unlink(missing_ok=True)
    # NB: machine-id must be empty (not absent) so a VM's systemd generates one at first boot.
    (rootfs / "etc/machine-id").write_text("")


def _import(rootfs: Path, *, image: str, digest: str, log_path: Path, progress: Progress) -> None:
    podman = shutil.which("podman")
    if podman is None:
        raise ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    previous = _image_id(image)
    progress(f"import: podman import → {image}")
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", "-", "."],
        stdout=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        _run(
            [
                podman,
                "import",
                "--change",
                f'CMD ["{INIT_PATH}"]',
                "--change",
                "STOPSIGNAL SIGTERM",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                f"LABEL {RECIPE_LABEL}={digest}",
                "--change",
                "LABEL wws.dev/image=workspace",
                "--message",
                f"wws image build {digest[:12]}",
                "-",
                image,
            ],
            step="import",
            log_path=log_path,
            progress=progress,
            env=podman_service.podman_env(),
            stdin=tar.stdout.fileno(),
        )
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise ImageBuildError(f"tar of {rootfs} failed (exit {tar.returncode})")
    current = _image_id(image)
    if previous and previous != current:
        # The old build is now untagged; it stays only while containers still use it.
        _podman("rmi", previous)


def ensure_image(
    data_dir: Path,
    *,
    force: bool = False,
    progress: Progress = stderr_progress,
    image: str = IMAGE,
    recipe_dir: Path = RECIPE_DIR,
) -> ImageResult:
    """Build ``image`` unless it exists with the current recipe hash (or ``force``).

    Safe to call concurrently (a lock file under ``<data-dir>/images``). Raises
    :class:`ImageBuildError` with the failing step and the log's path.
    """
    started = time.monotonic()
    data_dir = data_dir.resolve()
    digest = recipe_hash(recipe_dir)
    images_dir = data_dir / "images"
    with _locked(images_dir / "build.lock"):
        current = image_recipe_hash(image)
        if not force and current == digest:
            progress(f"{image} is up to date (recipe {digest[:12]})")
            return ImageResult(image, digest, built=False, seconds=time.monotonic() - started)
        if current is None:
            progress(f"building {image} (recipe {digest[:12]}): image missing")
        elif current != digest:
            progress(f"building {image} (recipe {digest[:12]}): recipe changed")
        else:
            progress(f"building {image} (recipe {digest[:12]}): forced")
        for tool in ("debootstrap", "chroot", "tar"):
            if shutil.which(tool) is None:
                raise ImageBuildError(f"{tool} is not installed (run `bash deploy/host-setup.sh`)")
        apt_dir = Path("/etc/apt")
        mirror = debian_mirror(apt_dir=apt_dir)
        packages = read_packages(recipe_dir)
        build_dir = images_dir / "build" / digest[:16]
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        log_path = images_dir / "build.log"
        log_path.write_text(f"# wws image build {image} recipe {digest}\n")
        tarball = _package_tarball(
            cache_dir=images_dir / "cache",
            mirror=mirror,
            packages=packages,
            log_path=log_path,
            progress=progress,
        )
        rootfs = build_dir / "rootfs"
        progress(f"rootfs: debootstrap {SUITE} into {rootfs}")
        try:
            _run(
                [
                    "debootstrap",
                    f"--variant={VARIANT}",
                    f"--include={','.join(packages)}",
                    f"--unpack-tarball={tarball}",
                    SUITE,
                    str(rootfs),
                    mirror,
                ],
                step="rootfs",
                log_path=log_path,
                progress=progress,
            )
            progress("recipe: init, overlay and build scripts")
            _install_recipe(
                rootfs,
                recipe_dir=recipe_dir,
                sources_list=_image_sources_list(suite=SUITE, mirror=mirror, apt_dir=apt_dir),
                digest=digest,
            )
            _run_build_scripts(rootfs, recipe_dir=recipe_dir, log_path=log_path, progress=progress)
            _slim(rootfs)
            _import(rootfs, image=image, digest=digest, log_path=log_path, progress=progress)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
    seconds = time.monotonic() - started
    progress(f"built {image} in {seconds:.1f}s")
    log.info("image built", image=image, recipe_hash=digest, seconds=round(seconds, 1))
    return ImageResult(image, digest, built=True, seconds=seconds)


def main(data_dir: Path, force: bool) -> int:
    """``wws image build [--data-dir DIR] [--force]``."""
    try:
        ensure_image(data_dir, force=force)
    except ImageBuildError as error:
        print(f"wws image: error: {error}", file=sys.stderr)
        return 1
    return 0
