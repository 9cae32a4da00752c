"""Finding providers: the ``wws.providers`` entry-point group.

WWS's own providers are registered in ``pyproject.toml``; a third party adds one by
shipping a distribution with, e.g.::

    [project.entry-points."wws.providers"]
    firecracker = "wws_firecracker:FirecrackerProvider"

The entry point's name is what ``spec.provider`` says; its object is a subclass of
:class:`providers.base.Provider`.
"""

from __future__ import annotations

from importlib import metadata

from providers import base
from wws import logconfig

log = logconfig.get(__name__)

GROUP = "wws.providers"


class UnknownProvider(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        names = ", ".join(known) or "none"
        super().__init__(f"no provider {name!r} in entry-point group {GROUP!r} (known: {names})")


def available() -> list[str]:
    """Names of the installed providers, sorted."""
    return sorted({ep.name for ep in metadata.entry_points(group=GROUP)})


def load(name: str) -> type[base.Provider]:
    """The provider class registered as ``name``. Raises :class:`UnknownProvider`, or
    :class:`TypeError` when the entry point is not a :class:`Provider` subclass."""
    matches = [ep for ep in metadata.entry_points(group=GROUP) if ep.name == name]
    if not matches:
        raise UnknownProvider(name, available())
    obj = matches[0].load()
    if not (isinstance(obj, type) and issubclass(obj, base.Provider)):
        raise TypeError(f"entry point {GROUP}:{name} is {obj!r}, not a providers.base.Provider")
    return obj


def create(name: str, settings: base.ProviderSettings) -> base.Provider:
    """An instance of the provider ``name`` built from ``settings`` (not yet opened)."""
    provider = load(name).from_settings(settings)
    log.debug("provider created", provider=name)
    return provider
