"""Moving a home between providers: copy a tree exactly, and prove the copy is exact.

A provider exports its home into a folder on the host and imports a home from one
(:meth:`providers.base.Provider.export_home`, :meth:`~providers.base.Provider.import_home`).
Both copy with ``cp -a`` (owners, modes, symbolic links, hard links, timestamps, extended
attributes, sparse files); :func:`manifest` describes a tree (every entry's type, mode,
owner, size, modification time, link target and SHA-256 of its content) so that the
switch can compare the home it now has with the one it came from before it removes the old.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

Progress = Callable[[str], Awaitable[None]]


class HomeMoveFailed(base.ProviderError):
    """A home could not be copied or the copy differs; the old home is untouched."""

    reason = "HomeMoveFailed"


@dataclass(frozen=True)
class Entry:
    kind: str  # "file" | "dir" | "symlink" | "other"
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int  # 0 for symbolic links (their own times are not kept by every copier)
    target: str  # a symbolic link's target
    sha256: str  # a file's content


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(root: Path, *, skip: frozenset[str] = frozenset({"lost+found"})) -> dict[str, Entry]:
    """Every entry under ``root`` by relative path (``root`` itself is ``.``). ``skip``:
    top-level names that belong to a file system, not to the home (ext4's lost+found)."""
    entries: dict[str, Entry] = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in skip]
        for name in [".", *dirs, *files] if rel_folder == "." else [*dirs, *files]:
            path = Path(folder) / name if name != "." else Path(folder)
            rel = os.path.normpath(os.path.join(rel_folder, name))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                kind, target, sha, mtime = "symlink", os.readlink(path), "", 0
            elif stat.S_ISDIR(st.st_mode):
                kind, target, sha, mtime = "dir", "", "", st.st_mtime_ns
            elif stat.S_ISREG(st.st_mode):
                kind, target, sha, mtime = "file", "", _digest(path), st.st_mtime_ns
            else:
                kind, target, sha, mtime = "other", "", "", st.st_mtime_ns
            entries[rel] = Entry(
                kind=kind,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=st.st_size if kind == "file" else 0,
                mtime_ns=mtime,
                target=target,
                sha256=sha,
            )
    # NB: the root's own times change with what the copier does inside it; its mode and
    # owner are what matter.
    if "." in entries:
        entries["."] = Entry(**{**entries["."].__dict__, "mtime_ns": 0})
    return entries


def differences(expected: dict[str, Entry], actual: dict[str, Entry], limit: int = 5) -> list[str]:
    """What differs between two manifests, for people (at most ``limit`` lines)."""
    found: list[str] = []
    for rel in sorted(expected.keys() - actual.keys()):
        found.append(f"{rel}: missing")
    for rel in sorted(actual.keys() - expected.keys()):
        found.append(f"{rel}: unexpected")
    for rel in sorted(expected.keys() & actual.keys()):
        a, b = expected[rel], actual[rel]
        if a != b:
            fields = [k for k in a.__dict__ if getattr(a, k) != getattr(b, k)]
            found.append(f"{rel}: {', '.join(fields)} differ")
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def copy_tree(
    source: Path, dest: Path, *, skip: frozenset[str] = frozenset({"lost+found"})
) -> None:
    """Copy the contents of ``source`` into the folder ``dest`` exactly (``cp -a``),
    without the top-level names in ``skip`` (ext4's lost+found is the file system's)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(name for name in os.listdir(source) if name not in skip)
    try:
        result = (
            subprocess.run(
                [
                    "cp",
                    "-a",
                    "--sparse=always",
                    *(str(source / name) for name in names),
                    f"{dest}/",
                ],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if names
            else subprocess.CompletedProcess([], 0, "", "")
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HomeMoveFailed(f"copying the home: {error}") from error
    if result.returncode != 0:
        raise HomeMoveFailed(f"copying the home: {result.stderr.strip()[-400:]}")
    # the root folder's own owner and mode (cp -a of "source/." keeps dest's)
    st = source.stat()
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))


async def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        await progress(message)


async def move_home(
    old: base.Provider,
    new: base.Provider,
    ref: base.WorkspaceRef,
    *,
    work: Path,
    size_bytes: int = 0,
    progress: Progress | None = None,
) -> int:
    """Move the workspace's home from ``old`` to ``new``: stop the old workspace, export its
    home into ``work``, import it into ``new``, export it back out of ``new`` and compare
    both trees entry by entry (:func:`manifest`); only then remove the old workspace and
    its home. Returns the number of entries moved. On any failure the new provider's
    objects are removed, the old home is untouched, and :class:`HomeMoveFailed` says why.
    ``progress`` is told each step (for the condition that shows it)."""
    bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
    started = time.monotonic()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    exported, check = work / "home", work / "check"
    try:
        await _say(progress, f"stopping the {old.name} workspace")
        await old.stop(ref)
        await _say(progress, f"copying the home out of {old.name}")
        await old.export_home(ref, exported)
        expected = manifest(exported)
        await _say(progress, f"copying {len(expected)} entries into {new.name}")
        await new.import_home(ref, exported, size_bytes=size_bytes)
        await _say(progress, f"verifying {len(expected)} entries in {new.name}")
        await new.export_home(ref, check)
        found = differences(expected, manifest(check))
        if found:
            raise HomeMoveFailed(f"the copy in {new.name} differs: {'; '.join(found)}")
    except Exception as error:
        bound.warning("home not moved", old=old.name, new=new.name, error=str(error))
        try:
            await new.delete(ref)
        except Exception as cleanup:  # the next attempt replaces it anyway
            bound.warning("partial home not removed", provider=new.name, error=str(cleanup))
        if isinstance(error, HomeMoveFailed):
            raise
        raise HomeMoveFailed(
            f"moving the home from {old.name} to {new.name} failed (the {old.name} home is "
            f"untouched): {error}"
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    await _say(progress, f"removing the {old.name} workspace")
    await old.delete(ref)
    bound.info(
        "home moved",
        old=old.name,
        new=new.name,
        entries=len(expected),
        seconds=round(time.monotonic() - started, 1),
    )
    return len(expected)
