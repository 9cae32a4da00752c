"""The languages a workspace can ask for (``spec.languages``): a registry, one module per language.

Each module in this package (its name not starting with ``_``) defines ``DEFINITION``, a
:class:`Definition` with the language's name, what it installs and the versions WWS knows.
To add a language, an operator adds one module file here (and the installer of the same name
beside the image recipes under ``images/``), then runs ``wws crds generate`` so that the API
server accepts the new name: nothing else changes.

Validation uses the registry twice: the CRD lists the known names as an ``enum`` (so the API
server refuses an unknown language with the list of known ones) and a CEL rule on the known
versions (enforced by a real cluster); the pydantic models refuse both with the same lists.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil


@dataclasses.dataclass(frozen=True, kw_only=True)
class Definition:
    """A language that a workspace can ask for."""

    name: str
    """The value of ``spec.languages[].name``; lowercase letters and digits."""
    description: str
    """What gets installed, in a few words (shown by ``kubectl explain``)."""
    versions: tuple[str, ...] = ()
    """The versions that can be asked for, the default first; empty: any version."""

    @property
    def default_version(self) -> str | None:
        """The version installed when ``spec.languages[].version`` is not given."""
        return self.versions[0] if self.versions else None


@functools.cache
def known() -> dict[str, Definition]:
    """Every language of the registry by name, in name order."""
    found: dict[str, Definition] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        definition = getattr(module, "DEFINITION", None)
        if not isinstance(definition, Definition):
            raise TypeError(f"{module.__name__} defines no DEFINITION = languages.Definition(...)")
        if definition.name in found:
            raise ValueError(f"language {definition.name!r} is defined twice")
        found[definition.name] = definition
    return dict(sorted(found.items()))


def describe_known() -> str:
    """The known languages and versions as one line, for error messages and descriptions."""
    parts = []
    for definition in known().values():
        versions = ", ".join(definition.versions) if definition.versions else "any version"
        parts.append(f"{definition.name} ({versions})")
    return "; ".join(parts)
