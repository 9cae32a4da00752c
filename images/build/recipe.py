"""The recipe: the folder ``images/workspace/`` (shipped as package data), where its parts
go in the image, and its hashes (which decide when the image is rebuilt)."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from images.build import errors


def _package_folder(package: str, name: str) -> Path:
    """A folder shipped as package data. NB: wws is installed as files (never zipped), so
    importlib.resources hands out real paths that debootstrap, tar and podman can read."""
    found = importlib.resources.files(package) / name
    if not isinstance(found, Path):
        raise errors.ImageBuildError(f"{package}/{name} is not a folder on disk ({found!r})")
    return found


RECIPE_DIR = _package_folder("images", "workspace")
SUITE = "bookworm"
VARIANT = "minbase"
INIT_PATH = "/usr/local/sbin/wws-init"
LIB_PATH = "/usr/local/lib/wws"
#: Folders of the recipe installed under LIB_PATH as they are.
LIB_FOLDERS = ("agent", "languages", "boot.d")
#: The recipe folders of the image's small top layer (``podman build`` on the base image):
#: changing only these rebuilds the image in seconds.
TOP_FOLDERS = ("init", *LIB_FOLDERS)
#: The build machine's own CA certificates (an operator's, a proxy's): the image trusts them.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
LOCALE = "en_US.UTF-8"
#: Bumped when the builder changes what it puts into the image, so old images are rebuilt.
BUILD_FORMAT = "2"


def recipe_files(recipe_dir: Path) -> Iterator[Path]:
    for path in sorted(recipe_dir.rglob("*")):
        if "__pycache__" in path.parts or path.name.endswith((".pyc", "~", ".swp")):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def tree_digest(
    digest: Any, folder: Path, prefix: str = "", only: Callable[[str], bool] | None = None
) -> None:
    for path in recipe_files(folder):
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


def is_top(rel: str) -> bool:
    """Recipe files of the image's top layer (the rest make its base)."""
    return rel.split("/", 1)[0] in TOP_FOLDERS


def recipe_hash(recipe_dir: Path = RECIPE_DIR, *, ca_dir: Path = LOCAL_CA_DIR) -> str:
    """SHA-256 over the recipe tree (relative paths, the executable bit, and contents) and
    the build machine's CA certificates that go into the image."""
    digest = hashlib.sha256(f"wws-image-build/{BUILD_FORMAT}\n".encode())
    tree_digest(digest, recipe_dir)
    ca_digest(digest, ca_dir)
    return digest.hexdigest()


def base_recipe_hash(recipe_dir: Path = RECIPE_DIR, *, ca_dir: Path = LOCAL_CA_DIR) -> str:
    """The part of :func:`recipe_hash` that the base layer is built from: everything but
    the init, the agent, the language installers and the boot hooks."""
    digest = hashlib.sha256(f"wws-image-base/{BUILD_FORMAT}\n".encode())
    tree_digest(digest, recipe_dir, only=lambda rel: not is_top(rel))
    ca_digest(digest, ca_dir)
    return digest.hexdigest()


def ca_digest(digest: Any, ca_dir: Path) -> None:
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
            raise errors.ImageBuildError(f"{name}: {line!r} is not a Debian package name")
        names.add(line)
    return sorted(names)
