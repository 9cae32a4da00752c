"""The controller's providers, opened on first use and kept for the process's life.

A provider that cannot be opened (its runtime is down) is not remembered, so the next
reconcile tries again; many handlers asking at once open it once.
"""

from __future__ import annotations

import asyncio
import contextlib

from providers import base, registry
from wws import logconfig

log = logconfig.get(__name__)


class Providers:
    """Opened providers by name (``spec.provider``)."""

    def __init__(self, settings: base.ProviderSettings) -> None:
        self.settings = settings
        self._opened: dict[str, base.Provider] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: Opens whose caller was cancelled (e.g. at shutdown): they run on, and close()
        #: waits for them, so a runtime service started meanwhile is never left behind.
        self._opening: dict[str, tuple[base.Provider, asyncio.Future[None]]] = {}

    def available(self) -> list[str]:
        """The installed providers' names (the ``wws.providers`` entry points)."""
        return registry.available()

    def opened(self) -> dict[str, base.Provider]:
        """The providers opened so far."""
        return dict(self._opened)

    async def get(self, name: str) -> base.Provider:
        """The provider ``name``, opened. Raises :class:`registry.UnknownProvider` when it
        is not installed and :class:`base.ProviderUnavailable` when it cannot be opened."""
        provider = self._opened.get(name)
        if provider is not None:
            return provider
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            provider = self._opened.get(name)
            if provider is not None:
                return provider
            provider = registry.create(name, self.settings)
            opening = asyncio.ensure_future(provider.open())
            self._opening[name] = (provider, opening)
            try:
                # NB: shielded: a cancelled handler must not abandon a half-started service.
                await asyncio.shield(opening)
            except base.ProviderError:
                self._opening.pop(name, None)
                raise
            except Exception as error:
                self._opening.pop(name, None)
                raise base.ProviderUnavailable(f"{name}: cannot open: {error}") from error
            self._opening.pop(name, None)
            self._opened[name] = provider
            log.info("provider opened", provider=name)
            return provider

    async def close(self) -> None:
        """Close every opened provider (workspaces keep running)."""
        for name, (provider, opening) in list(self._opening.items()):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(opening), timeout=30)
            self._opened.setdefault(name, provider)
        self._opening.clear()
        for name, provider in list(self._opened.items()):
            with contextlib.suppress(Exception):
                await provider.close()
            log.info("provider closed", provider=name)
        self._opened.clear()
