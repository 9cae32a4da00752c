"""``wws webui serve``: the web UI as one uvicorn process."""

from __future__ import annotations

import secrets
from pathlib import Path

import uvicorn

from webui import app as webapp
from webui.settings import GitHubApp, Settings
from wws import logconfig

log = logconfig.get(__name__)


def _read(path: Path | None) -> str | None:
    return path.read_text().strip() if path is not None else None


def main(
    *,
    kubeconfig: Path | None,
    listen: str,
    public_url: str | None,
    github_url: str | None,
    github_api_url: str | None,
    client_id_file: Path | None,
    client_secret_file: Path | None,
    bootstrap_token_file: Path | None,
    bootstrap_kubeconfig: Path | None,
    signing_key: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> int:
    host, _, port = listen.rpartition(":")
    scheme = "https" if tls_cert else "http"
    url = (public_url or f"{scheme}://{host}:{port}").rstrip("/")
    app_config: GitHubApp | None = None
    client_id, client_secret = _read(client_id_file), _read(client_secret_file)
    if client_id and client_secret:
        web = (github_url or "https://github.com").rstrip("/")
        api = github_api_url or ("https://api.github.com" if web == "https://github.com" else web)
        app_config = GitHubApp(
            client_id=client_id, client_secret=client_secret, web_url=web, api_url=api
        )
    token = _read(bootstrap_token_file)
    if app_config is None and token is None and bootstrap_kubeconfig is not None:
        token = secrets.token_urlsafe(32)
        print(f"Sign in once at {url}/bootstrap?token={token}", flush=True)
    settings = Settings(
        kubeconfig=kubeconfig,
        public_url=url,
        github=app_config,
        bootstrap_token=token,
        bootstrap_kubeconfig=bootstrap_kubeconfig,
        signing_key=signing_key,
    )
    application = webapp.build(settings)
    log.info("webui.serving", url=url, github=app_config.web_url if app_config else None)
    uvicorn.run(
        application,
        host=host,
        port=int(port),
        log_level="warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        ws="websockets",
    )
    return 0
