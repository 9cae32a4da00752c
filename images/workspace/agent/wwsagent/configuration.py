"""The config: one snapshot of ``/run/wws/config`` (``workspace.json`` and the secrets),
with cheap change detection; and the API's durations."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any

from wwsagent import errors, settings

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any, default: float) -> float:
    """Seconds from the API's durations ("120s", "1h30m", "0") or a number."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match or not any(match.groups()):
        return 0.0 if str(value).strip() == "0" else default
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)


class Config:
    """One snapshot of ``/run/wws/config``."""

    def __init__(self, data: dict[str, Any], secrets: dict[str, bytes], digest: str) -> None:
        self.data = data
        self.secrets = secrets
        self.digest = digest

    @staticmethod
    def load() -> Config | None:
        """The current config, or None when there is none (yet). Raises errors.StepError when it
        cannot be used."""
        digest = hashlib.sha256()
        try:
            raw = (settings.CONFIG_DIR / settings.CONFIG_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise errors.StepError(
                f"cannot read {settings.CONFIG_DIR / settings.CONFIG_FILE}: {error}"
            ) from None
        digest.update(raw)
        secrets: dict[str, bytes] = {}
        for rel in (settings.PASSWORD_FILE, settings.TOKEN_FILE):
            with contextlib.suppress(FileNotFoundError):
                value = (settings.CONFIG_DIR / rel).read_bytes()
                secrets[rel] = value
                digest.update(rel.encode() + b"\0" + value + b"\0")
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise errors.StepError(f"{settings.CONFIG_FILE} is not JSON: {error}") from None
        if not isinstance(data, dict) or not data.get("owner"):
            raise errors.StepError(f"{settings.CONFIG_FILE} names no owner")
        if int(data.get("version") or 1) > settings.CONFIG_VERSION:
            raise errors.StepError(
                f"{settings.CONFIG_FILE} version {data.get('version')} is newer than this agent's "
                f"({settings.CONFIG_VERSION}): the image is too old"
            )
        return Config(data, secrets, digest.hexdigest())

    @staticmethod
    def fingerprint() -> str:
        """Cheap change detection: names, sizes and mtimes of the config files."""
        parts = []
        for rel in (settings.CONFIG_FILE, settings.PASSWORD_FILE, settings.TOKEN_FILE):
            try:
                st = (settings.CONFIG_DIR / rel).stat()
                parts.append(f"{rel}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(f"{rel}:-")
        return "|".join(parts)

    @property
    def generation(self) -> int | None:
        value = self.data.get("generation")
        return value if isinstance(value, int) else None

    @property
    def user(self) -> str:
        return str(self.data["owner"]).lower()

    @property
    def shell(self) -> str:
        return str(self.data.get("shell") or "zsh")

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    def editor(self, name: str) -> bool:
        return bool(self.section("editors").get(name, True))

    def secret(self, rel: str) -> str | None:
        value = self.secrets.get(rel)
        if value is None:
            return None
        text = value.decode("utf-8", "replace").strip()
        return text or None
