"""Reloading ``--authentication-config`` when the file changes, as kube-apiserver does for
its structured authentication configuration: a valid new file replaces the issuers (and the
cache of verified tokens, so no user mapped by the old rules outlives them); an invalid one
is logged and counted, and the last valid configuration stays in force."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from statestore import accessmetrics
from statestore.authn import config as authn_config
from statestore.authn import oidc
from statestore.authn.authenticator import Authenticator
from wws import logconfig

log = logconfig.get(__name__)

#: How often the file is looked at (a stat; kube-apiserver polls its file too).
INTERVAL = 1.0


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def reload_once(path: Path, authenticator: Authenticator) -> bool:
    """Read ``path`` and put it in force if it is valid; the outcome is logged and counted."""
    try:
        issuers = [oidc.Issuer(c) for c in authn_config.load(path)]
    except authn_config.ConfigError as error:
        accessmetrics.AUTHN_CONFIG_RELOADS.labels("failure").inc()
        log.error("authn.config_reload_failed", path=str(path), error=str(error))
        return False
    authenticator.replace_issuers(issuers)
    accessmetrics.AUTHN_CONFIG_RELOADS.labels("success").inc()
    accessmetrics.AUTHN_CONFIG_RELOAD_TIME.set(time.time())
    log.info("authn.config_reloaded", path=str(path), issuers=len(issuers))
    return True


async def watch(path: Path, authenticator: Authenticator, interval: float = INTERVAL) -> None:
    """Until cancelled: reload ``path`` whenever its inode, mtime or size changes."""
    seen = _signature(path)
    while True:
        await asyncio.sleep(interval)
        current = _signature(path)
        if current is None or current == seen:
            continue  # a missing file (mid-rename) is not a new configuration
        seen = current
        reload_once(path, authenticator)
