"""Handing memory back to the system after a burst.

glibc's allocator keeps what a burst freed (1,000 Workspaces created at once: their bodies,
models, events) in its heaps, one per thread that allocated (the Podman provider's pool has
24), so the controller's RSS stays at the burst's peak while it idles. Two calls of glibc's
own fix that: at start, :func:`limit_arenas` caps the heaps at two (``M_ARENA_MAX``, as the
``MALLOC_ARENA_MAX`` variable would); after each listing, :func:`trim` returns the free pages
(``malloc_trim``). Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: mallopt's parameter number for the number of arenas (glibc's malloc.h).
M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(count: int = 2) -> bool:
    """Cap glibc's heaps at ``count`` (call before threads start); False elsewhere."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Return freed heap pages to the system; True when glibc released any."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))
