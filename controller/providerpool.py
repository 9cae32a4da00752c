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
            try:
                await provider.open()
            except base.ProviderError:
                raise
            except Exception as error:
                raise base.ProviderUnavailable(f"{name}: cannot open: {error}") from error
            self._opened[name] = provider
            log.info("provider opened", provider=name)
            return provider

    async def close(self) -> None:
        """Close every opened provider (workspaces keep running)."""
        for name, provider in list(self._opened.items()):
            with contextlib.suppress(Exception):
                await provider.close()
            log.info("provider closed", provider=name)
        self._opened.clear()
