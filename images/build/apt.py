"""The Debian mirror: the one this machine's apt uses (``/etc/apt``, one-line and deb822
sources), so an image build asks no other host; ``WWS_DEBIAN_MIRROR`` overrides it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from images.build import errors, recipe


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


def debian_mirror(*, suite: str = recipe.SUITE, apt_dir: Path = Path("/etc/apt")) -> str:
    """The mirror that serves ``suite`` to this machine's apt (``$WWS_DEBIAN_MIRROR`` wins)."""
    override = os.environ.get("WWS_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    candidates = [s for s in _suite_sources(apt_sources(apt_dir), suite) if suite in s.suites]
    if not candidates:
        raise errors.ImageBuildError(
            f"no apt source for Debian {suite} (main) in {apt_dir}/sources.list*; "
            "set WWS_DEBIAN_MIRROR to a Debian mirror URL"
        )
    # NB: prefer a Debian archive over a third-party repository that reuses the suite name.
    candidates.sort(key=lambda s: 0 if "debian" in s.uri else 1)
    return candidates[0].uri


def image_sources_list(*, suite: str, mirror: str, apt_dir: Path) -> str:
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
