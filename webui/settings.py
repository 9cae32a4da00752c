"""What a web UI process is told at start: where the API is, how people sign in, limits.

Everything comes from ``wws webui serve`` options (or ``wws up``); secrets (the OAuth client
secret, the bootstrap token) are read from files so they never appear in a process listing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True, kw_only=True)
class GitHubApp:
    """A GitHub (or GitHub Enterprise, or the local stand-in) OAuth app."""

    client_id: str
    client_secret: str
    web_url: str = "https://github.com"
    """Where people sign in: ``https://github.com``, ``https://HOST`` (GHES) or the stand-in."""
    api_url: str = "https://api.github.com"
    """The REST API: ``https://api.github.com``, ``https://HOST/api/v3`` or the stand-in."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """One web UI process's configuration."""

    kubeconfig: Path | None
    """The UI's own identity (``wws:webui``); None: in-cluster or ``$KUBECONFIG``."""
    public_url: str = "http://127.0.0.1:8080"
    """The URL people reach the UI at (OAuth redirect, OIDC issuer, links)."""
    github: GitHubApp | None = None
    """None: no OAuth app; only the one-time bootstrap link signs in."""
    bootstrap_token: str | None = None
    """The secret of the one-time sign-in link (``/bootstrap?token=...``)."""
    bootstrap_kubeconfig: Path | None = None
    """Credentials used for the bootstrap administrator's session (the admin kubeconfig)."""
    bootstrap_login: str = "admin"
    """The name the bootstrap administrator is shown as."""
    session_idle_seconds: float = 3600.0
    """A session unused this long ends."""
    session_max_seconds: float = 12 * 3600.0
    """A session ends this long after sign-in, used or not."""
    token_seconds: float = 8 * 3600.0
    """Lifetime of the tokens in downloaded kubeconfigs."""
    api_token_seconds: float = 600.0
    """Lifetime of the tokens the UI itself presents for a person (when it uses tokens)."""
    signing_key: Path | None = None
    """The OIDC signing key (PEM); None: a key made at start (tokens die with the process)."""
    issuer_url: str | None = None
    """The OIDC issuer (https; kube requires it); None: :attr:`public_url`."""

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def issuer(self) -> str:
        return (self.issuer_url or self.public_url).rstrip("/")
