"""``wws image build``: the default workspace image from Debian and npm packages, no
container registry needed.

The recipe is the folder ``images/workspace/``:

- ``packages.txt``: Debian packages on top of debootstrap's ``minbase``;
- ``init/``: the provider-independent init, installed as ``/usr/local/sbin/wws-init``;
- ``agent/``, ``languages/``, ``boot.d/``: the in-workspace agent, its language installers
  and the init's boot hooks, installed under ``/usr/local/lib/wws/``
  (docs/workspace-agent.md);
- ``artifacts/<name>/``: things built in a throwaway root of their own and unpacked into
  the image, e.g. code-server: ``build-packages.txt`` (Debian packages of that root),
  ``npm-pack.txt`` (npm packages fetched on this machine with ``npm pack``), ``build.sh``
  (run in that root) and ``outputs`` (the folders that go into the image);
- ``rootfs/``: an overlay copied into the root as it is;
- ``build.d/``: scripts run inside the root (chroot) in name order.

The SHA-256 of that tree (plus the build machine's own CA certificates, which the image
trusts too) is the *recipe hash*; the image carries it as the label ``wws.dev/recipe-hash``
and is rebuilt only when the hash changes or the image is missing.

The image has two layers. The *base* (``<repository>-base:<base-hash>``, e.g.
``localhost/wws/workspace-base:1a2b...``) holds everything but ``init/``, ``agent/``,
``languages/`` and ``boot.d/`` and is rebuilt only when its part of the recipe changes; the
*top* layer copies those four onto it with ``podman build`` (no container runs), in seconds.

Steps of a base build, each announced on stderr (and logged in full to
``<data-dir>/images/build.log``):

1. the package tarball ``<data-dir>/images/cache/debootstrap-<suite>-<key>.tar``
   (``debootstrap --make-tarball``; kept, keyed by suite, mirror, architecture and
   packages, so a recipe change that only touches scripts downloads nothing);
2. each artifact, unless ``<data-dir>/images/cache/artifact-<name>-<key>.tar`` is there
   (keyed by the artifact's folder): its own package tarball, root and ``build.sh``, with
   npm's cache kept in ``<data-dir>/images/cache/npm``;
3. ``debootstrap --unpack-tarball`` into ``<data-dir>/images/build/<hash>/rootfs``;
4. the artifacts, the overlay and the build scripts go in, apt's caches come out;
5. ``tar | podman import --change CMD=... --change LABEL=...`` to the base image; the
   build folder is removed.

Packages come from the Debian mirror that this machine's apt uses (``/etc/apt``), no other
host (``WWS_DEBIAN_MIRROR`` overrides it), and from the npm registry that this machine's
``npm`` uses.
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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.podman import service as podman_service
from wws import logconfig

log = logconfig.get(__name__)

IMAGE = "localhost/wws/workspace:bookworm"
SUITE = "bookworm"
VARIANT = "minbase"
RECIPE_DIR = Path(__file__).resolve().parents[1] / "images" / "workspace"
RECIPE_LABEL = "wws.dev/recipe-hash"
INIT_PATH = "/usr/local/sbin/wws-init"
LIB_PATH = "/usr/local/lib/wws"
#: Folders of the recipe installed under LIB_PATH as they are.
LIB_FOLDERS = ("agent", "languages", "boot.d")
#: The recipe folders of the image's small top layer (``podman build`` on the base image):
#: changing only these rebuilds the image in seconds.
TOP_FOLDERS = ("init", *LIB_FOLDERS)
BASE_LABEL = "wws.dev/base-hash"
#: The build machine's own CA certificates (an operator's, a proxy's): the image trusts them.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
LOCALE = "en_US.UTF-8"
#: Bumped when this module changes what it puts into the image, so old images are rebuilt.
BUILD_FORMAT = "2"

Progress = Callable[[str], None]
_HEARTBEAT_SECONDS = 10.0


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


def _tree_digest(
    digest: Any, folder: Path, prefix: str = "", only: Callable[[str], bool] | None = None
) -> None:
    for path in _recipe_files(folder):
        rel = prefix + path.relative_to(folder).as_posix()
        if only is not None and not only(rel):
            continue
        if path.is_symlink():
            digest.update(f"L {rel} -> {os.readlink(path)}\n".encode())
            continue
        mode = "x" if path.stat().st_mode & stat.S_IXUSR else "-"
        data = path.read_bytes()
        digest.update(f"F {rel} {mode} {len(data)}\n".encode())
        digest.update(data)


def local_ca_files(ca_dir: Path = LOCAL_CA_DIR) -> list[Path]:
    """The build machine's own CA certificates (``*.crt`` of ``ca_dir``), sorted."""
    if not ca_dir.is_dir():
        return []
    return sorted(p for p in ca_dir.rglob("*.crt") if p.is_file())


def _is_top(rel: str) -> bool:
    """Recipe files of the image's top layer (the rest make its base)."""
    return rel.split("/", 1)[0] in TOP_FOLDERS


def recipe_hash(recipe_dir: Path = RECIPE_DIR, *, ca_dir: Path = LOCAL_CA_DIR) -> str:
    """SHA-256 over the recipe tree (relative paths, the executable bit, and contents) and
    the build machine's CA certificates that go into the image."""
    digest = hashlib.sha256(f"wws-image-build/{BUILD_FORMAT}\n".encode())
    _tree_digest(digest, recipe_dir)
    _ca_digest(digest, ca_dir)
    return digest.hexdigest()


def base_recipe_hash(recipe_dir: Path = RECIPE_DIR, *, ca_dir: Path = LOCAL_CA_DIR) -> str:
    """The part of :func:`recipe_hash` that the base layer is built from: everything but
    the init, the agent, the language installers and the boot hooks."""
    digest = hashlib.sha256(f"wws-image-base/{BUILD_FORMAT}\n".encode())
    _tree_digest(digest, recipe_dir, only=lambda rel: not _is_top(rel))
    _ca_digest(digest, ca_dir)
    return digest.hexdigest()


def base_image_name(image: str, base_hash: str) -> str:
    """``localhost/wws/workspace:bookworm`` → ``localhost/wws/workspace-base:<hash>``."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}-base:{base_hash[:16]}"


def _ca_digest(digest: Any, ca_dir: Path) -> None:
    for path in local_ca_files(ca_dir):
        data = path.read_bytes()
        digest.update(f"CA {path.relative_to(ca_dir).as_posix()} {len(data)}\n".encode())
        digest.update(data)


def read_packages(recipe_dir: Path = RECIPE_DIR, name: str = "packages.txt") -> list[str]:
    """The package names of ``packages.txt`` (comments and blank lines skipped), sorted."""
    names: set[str] = set()
    for raw in (recipe_dir / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", line):
            raise ImageBuildError(f"{name}: {line!r} is not a Debian package name")
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
    phase (Retrieving, Extracting, Installing, Configuring, ...), build scripts' ``--- ``
    lines are shown, and a quiet step says it is still running every few seconds; everything
    goes to the log."""
    started = time.monotonic()
    state: dict[str, Any] = {"last_shown": started, "line": ""}
    lock = threading.Lock()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(_HEARTBEAT_SECONDS):
            with lock:
                if time.monotonic() - state["last_shown"] >= _HEARTBEAT_SECONDS:
                    state["last_shown"] = time.monotonic()
                    elapsed = time.monotonic() - started
                    progress(f"{step}: still running ({elapsed:.0f}s) {state['line']}".rstrip())

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
        ticker = threading.Thread(target=heartbeat, daemon=True)
        ticker.start()
        seen: set[str] = set()
        tail: list[str] = []
        try:
            for line in process.stdout:
                log_file.write(line)
                line = line.rstrip()
                tail = [*tail[-19:], line]
                words = line[2:].split()
                verb = words[0] if line.startswith("I:") and words else ""
                with lock:
                    state["line"] = f"— {line[:100]}" if line else state["line"]
                    # NB: first line of each phase, errors, and step markers.
                    if line.startswith(("W:", "E:", "--- ")) or (verb and verb not in seen):
                        seen.add(verb)
                        state["last_shown"] = time.monotonic()
                        progress(f"{step}: {line.removeprefix('I: ')}")
            code = process.wait()
        finally:
            done.set()
            ticker.join()
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


def _architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _package_tarball(
    *,
    cache_dir: Path,
    mirror: str,
    packages: list[str],
    log_path: Path,
    progress: Progress,
    step: str = "packages",
) -> Path:
    arch = _architecture()
    key = hashlib.sha256(json.dumps([SUITE, VARIANT, arch, mirror, packages]).encode()).hexdigest()[
        :16
    ]
    tarball = cache_dir / f"debootstrap-{SUITE}-{arch}-{key}.tar"
    if tarball.is_file():
        progress(f"{step}: cached {tarball.name}")
        return tarball
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = cache_dir / f".make-{key}"
    shutil.rmtree(work, ignore_errors=True)
    partial = tarball.with_suffix(".tar.partial")
    progress(f"{step}: downloading {SUITE} {VARIANT} + {len(packages)} packages from {mirror}")
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
        step=step,
        log_path=log_path,
        progress=progress,
    )
    shutil.rmtree(work, ignore_errors=True)
    partial.rename(tarball)
    return tarball


def _install_base_recipe(rootfs: Path, *, recipe_dir: Path, sources_list: str) -> None:
    """The base layer's part of the recipe: the overlay, apt sources and CA certificates
    (the init, agent, languages and boot hooks come in the top layer)."""
    (rootfs / LIB_PATH.lstrip("/") / "boot.d").mkdir(parents=True, exist_ok=True)
    overlay = recipe_dir / "rootfs"
    if overlay.is_dir():
        shutil.copytree(overlay, rootfs, symlinks=True, dirs_exist_ok=True)
    (rootfs / "etc/apt/sources.list").write_text(sources_list)
    _add_local_cas(rootfs)
    (rootfs / "etc/wws").mkdir(parents=True, exist_ok=True)


def _top_context(context: Path, *, recipe_dir: Path, image: str, digest: str) -> None:
    """The build context of the top layer: the init, ``lib/`` (agent, languages, boot
    hooks) and the image's identity file."""
    lib = context / "lib"
    lib.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*~", "*.swp")
    for folder in TOP_FOLDERS:
        if (recipe_dir / folder).is_dir():
            shutil.copytree(recipe_dir / folder, lib / folder, ignore=ignore)
    (lib / "boot.d").mkdir(exist_ok=True)
    shutil.copy2(recipe_dir / "init" / "wws-init", context / "wws-init")
    (context / "wws-init").chmod(0o755)
    (context / "image").write_text(f"image={image}\nrecipe_hash={digest}\n")


def _add_local_cas(rootfs: Path, ca_dir: Path = LOCAL_CA_DIR) -> None:
    """The build machine's CA certificates, for ``update-ca-certificates`` in the root."""
    for path in local_ca_files(ca_dir):
        target = rootfs / "usr/local/share/ca-certificates" / path.relative_to(ca_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


# --- chroots and artifacts -----------------------------------------------------------------


def _mounts_under(path: Path) -> list[Path]:
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


def _unmount_under(path: Path) -> None:
    for point in _mounts_under(path):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _remove_tree(path: Path) -> None:
    """``rm -rf`` that never follows a mount point left inside a build root."""
    _unmount_under(path)
    if _mounts_under(path):
        raise ImageBuildError(f"cannot unmount everything under {path}; remove it by hand")
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside a chroot for the duration of a build step (Node.js needs it)."""
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, capture_output=True)
    try:
        yield
    finally:
        _unmount_under(proc)


def _chroot_env(**extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env |= {"DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "HOME": "/root"}
    return env | extra


@dataclass(frozen=True)
class Artifact:
    """``artifacts/<name>/`` of the recipe (see the module's documentation)."""

    name: str
    folder: Path

    def key(self, arch: str) -> str:
        digest = hashlib.sha256(f"wws-artifact/{BUILD_FORMAT}/{SUITE}/{arch}\n".encode())
        _tree_digest(digest, self.folder)
        return digest.hexdigest()[:16]

    def outputs(self) -> list[str]:
        paths = []
        for raw in (self.folder / "outputs").read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                if not line.startswith("/") or ".." in line.split("/"):
                    raise ImageBuildError(f"artifact {self.name}: bad output path {line!r}")
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
                    raise ImageBuildError(
                        f"artifact {self.name}: npm-pack.txt wants exact versions, not {line!r}"
                    )
                specs.append(line)
        return specs


def artifacts(recipe_dir: Path = RECIPE_DIR) -> list[Artifact]:
    folder = recipe_dir / "artifacts"
    if not folder.is_dir():
        return []
    return [Artifact(p.name, p) for p in sorted(folder.iterdir()) if (p / "build.sh").is_file()]


def _npm_pack(spec: str, *, cache_dir: Path, log_path: Path, progress: Progress) -> Path:
    """``npm pack SPEC`` on this machine, once: the tarball is kept under the data dir."""
    folder = cache_dir / "npm-pack" / hashlib.sha256(spec.encode()).hexdigest()[:16]
    found = sorted(folder.glob("*.tgz")) if folder.is_dir() else []
    if found:
        return found[0]
    npm = shutil.which("npm")
    if npm is None:
        raise ImageBuildError(
            "npm is not installed on this machine; it fetches code-server's Node.js from the "
            "npm registry (apt-get install npm)"
        )
    progress(f"npm: pack {spec}")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _run(
        [npm, "pack", "--silent", "--cache", str(cache_dir / "npm"), "--pack-destination",
         str(partial), spec],
        step=f"npm pack {spec}",
        log_path=log_path,
        progress=progress,
    )  # fmt: skip
    if not list(partial.glob("*.tgz")):
        raise ImageBuildError(f"npm pack {spec} left no tarball; log: {log_path}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return sorted(folder.glob("*.tgz"))[0]


def _build_artifact(
    artifact: Artifact,
    *,
    cache_dir: Path,
    build_dir: Path,
    mirror: str,
    log_path: Path,
    progress: Progress,
) -> Path:
    """The artifact's tarball from the cache, or built now (in its own throwaway root)."""
    arch = _architecture()
    tar_path = cache_dir / f"artifact-{artifact.name}-{arch}-{artifact.key(arch)}.tar"
    step = f"artifact {artifact.name}"
    if tar_path.is_file():
        progress(f"{step}: cached {tar_path.name}")
        return tar_path
    started = time.monotonic()
    packages = read_packages(artifact.folder, "build-packages.txt")
    tarballs = [
        _npm_pack(spec, cache_dir=cache_dir, log_path=log_path, progress=progress)
        for spec in artifact.npm_specs()
    ]
    package_tar = _package_tarball(
        cache_dir=cache_dir,
        mirror=mirror,
        packages=packages,
        log_path=log_path,
        progress=progress,
        step=f"{step} build packages",
    )
    root = build_dir / f"artifact-{artifact.name}"
    _remove_tree(root)
    progress(f"{step}: build root")
    npm_cache = cache_dir / "npm"
    npm_cache.mkdir(parents=True, exist_ok=True)
    inner_cache = root / "var/cache/wws-npm"
    try:
        _run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join(packages)}",
                f"--unpack-tarball={package_tar}",
                SUITE,
                str(root),
                mirror,
            ],
            step=f"{step} root",
            log_path=log_path,
            progress=progress,
        )
        work = root / "tmp/wws-artifact"
        shutil.copytree(artifact.folder, work / "recipe")
        (work / "npm").mkdir(parents=True)
        for tarball in tarballs:
            shutil.copy2(tarball, work / "npm" / tarball.name)
        _add_local_cas(root)
        for name in ("resolv.conf", "hosts"):
            with contextlib.suppress(OSError):
                shutil.copy2(Path("/etc") / name, root / "etc" / name)
        # NB: npm's cache moves into the root and back (one file system: a rename), so it
        # outlives the build without a bind mount inside a folder that gets deleted.
        inner_cache.parent.mkdir(parents=True, exist_ok=True)
        npm_cache.rename(inner_cache)
        env = _chroot_env(
            WWS_NPM_TARBALLS="/tmp/wws-artifact/npm",
            npm_config_cache="/var/cache/wws-npm",
            JOBS=str(os.cpu_count() or 2),
            MAKEFLAGS=f"-j{os.cpu_count() or 2}",
        )
        with _proc_mounted(root):
            _run(
                ["chroot", str(root), "update-ca-certificates"],
                step=f"{step} certificates",
                log_path=log_path,
                progress=progress,
                env=env,
            )
            _run(
                ["chroot", str(root), "/tmp/wws-artifact/recipe/build.sh"],
                step=step,
                log_path=log_path,
                progress=progress,
                env=env,
            )
        partial = tar_path.with_suffix(".tar.partial")
        progress(f"{step}: saving {tar_path.name}")
        _run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), *artifact.outputs()],
            step=f"{step} tar",
            log_path=log_path,
            progress=progress,
        )
        partial.rename(tar_path)
    finally:
        if inner_cache.is_dir() and not npm_cache.exists():
            inner_cache.rename(npm_cache)
        _remove_tree(root)
    progress(f"{step}: built in {time.monotonic() - started:.0f}s")
    return tar_path


def _unpack_artifact(rootfs: Path, tar_path: Path, *, log_path: Path, progress: Progress) -> None:
    _run(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-xf", str(tar_path)],
        step=f"unpack {tar_path.name}",
        log_path=log_path,
        progress=progress,
    )


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
        env = _chroot_env()
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


def _import(
    rootfs: Path, *, image: str, base_hash: str, log_path: Path, progress: Progress
) -> None:
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
                f"ENV LANG={LOCALE}",
                "--change",
                f"LABEL {BASE_LABEL}={base_hash}",
                "--change",
                "LABEL wws.dev/image=workspace-base",
                "--message",
                f"wws image build: base {base_hash[:12]}",
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


def _build_top(
    *, base_image: str, image: str, digest: str, build_dir: Path, recipe_dir: Path,
    log_path: Path, progress: Progress,
) -> None:  # fmt: skip
    """``podman build`` of the top layer on ``base_image`` (no container runs: COPY only)."""
    podman = shutil.which("podman")
    if podman is None:
        raise ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    context = build_dir / "top"
    _remove_tree(context)
    _top_context(context, recipe_dir=recipe_dir, image=image, digest=digest)
    (context / "Containerfile").write_text(
        f"FROM {base_image}\n"
        f"COPY wws-init {INIT_PATH}\n"
        f"COPY lib/ {LIB_PATH}/\n"
        "COPY image /etc/wws/image\n"
        f'LABEL {RECIPE_LABEL}="{digest}" wws.dev/image="workspace" '
        f'wws.dev/base-image="{base_image}"\n'
    )
    previous = _image_id(image)
    progress(f"top layer: init, agent, languages, boot hooks → {image}")
    _run(
        [podman, "build", "--pull=never", "--quiet", "--layers=false", "-t", image,
         "-f", str(context / "Containerfile"), str(context)],
        step="top layer",
        log_path=log_path,
        progress=progress,
        env=podman_service.podman_env(),
    )  # fmt: skip
    current = _image_id(image)
    if previous and previous != current:
        _podman("rmi", previous)  # untagged now; kept only while containers use it


def _remove_old_bases(base_image: str) -> None:
    """Other bases of the same repository that no image or container uses any more."""
    repository = base_image.rsplit(":", 1)[0]
    listed = _podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    for name in listed.stdout.split():
        if name != base_image and name.startswith(repository + ":"):
            _podman("rmi", name)  # refused (and kept) while something still uses it


def image_base_hash(image: str) -> str | None:
    """The base hash label of a base image; ``None`` when missing."""
    result = _podman("image", "inspect", "--format", "{{json .Labels}}", image)
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout or "null") or {}
    return str(labels.get(BASE_LABEL, ""))


def _build_base(
    *,
    base_image: str,
    base_hash: str,
    build_dir: Path,
    images_dir: Path,
    recipe_dir: Path,
    log_path: Path,
    progress: Progress,
) -> None:
    """The base layer: Debian packages, artifacts, overlay, build scripts; one import."""
    for tool in ("debootstrap", "chroot", "tar", "mount"):
        if shutil.which(tool) is None:
            raise ImageBuildError(f"{tool} is not installed (run `bash deploy/host-setup.sh`)")
    started = time.monotonic()
    progress(f"base: building {base_image}")
    apt_dir = Path("/etc/apt")
    mirror = debian_mirror(apt_dir=apt_dir)
    packages = read_packages(recipe_dir)
    tarball = _package_tarball(
        cache_dir=images_dir / "cache",
        mirror=mirror,
        packages=packages,
        log_path=log_path,
        progress=progress,
    )
    artifact_tars = [
        _build_artifact(
            artifact,
            cache_dir=images_dir / "cache",
            build_dir=build_dir,
            mirror=mirror,
            log_path=log_path,
            progress=progress,
        )
        for artifact in artifacts(recipe_dir)
    ]
    rootfs = build_dir / "rootfs"
    progress(f"rootfs: debootstrap {SUITE} into {rootfs}")
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
    for tar_path in artifact_tars:
        progress(f"rootfs: {tar_path.name}")
        _unpack_artifact(rootfs, tar_path, log_path=log_path, progress=progress)
    progress("recipe: overlay and build scripts")
    _install_base_recipe(
        rootfs,
        recipe_dir=recipe_dir,
        sources_list=_image_sources_list(suite=SUITE, mirror=mirror, apt_dir=apt_dir),
    )
    _run_build_scripts(rootfs, recipe_dir=recipe_dir, log_path=log_path, progress=progress)
    _slim(rootfs)
    _import(rootfs, image=base_image, base_hash=base_hash, log_path=log_path, progress=progress)
    _remove_tree(rootfs)
    progress(f"base: built in {time.monotonic() - started:.0f}s")


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
        images_dir.mkdir(parents=True, exist_ok=True)
        log_path = images_dir / "build.log"
        log_path.write_text(f"# wws image build {image} recipe {digest}\n")
        base_hash = base_recipe_hash(recipe_dir)
        base_image = base_image_name(image, base_hash)
        build_dir = images_dir / "build" / digest[:16]
        _remove_tree(build_dir)
        build_dir.mkdir(parents=True)
        try:
            if force or image_base_hash(base_image) != base_hash:
                _build_base(
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
            _build_top(
                base_image=base_image,
                image=image,
                digest=digest,
                build_dir=build_dir,
                recipe_dir=recipe_dir,
                log_path=log_path,
                progress=progress,
            )
            _remove_old_bases(base_image)
        finally:
            _remove_tree(build_dir)
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
