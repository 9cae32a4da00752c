"""``wws webui serve``: the web UI in one process.

People use ``--listen`` (plain HTTP on loopback, or HTTPS with ``--tls-cert``). The OIDC
issuer must be https (kube requires it), so ``--issuer-listen`` serves the same application
a second time over HTTPS with ``--tls-cert``; the store fetches discovery and keys there.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import uvicorn

from webui import app as webapp
from webui.settings import GitHubApp, Settings
from wws import logconfig

log = logconfig.get(__name__)


def _read(path: Path | None) -> str | None:
    return path.read_text().strip() if path is not None else None


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


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
    issuer_listen: str | None = None,
) -> int:
    host, port = _split(listen)
    secure_people = tls_cert is not None and issuer_listen is None
    url = (public_url or f"{'https' if secure_people else 'http'}://{host}:{port}").rstrip("/")
    issuer_url = None
    if issuer_listen is not None:
        if tls_cert is None or tls_key is None:
            print("wws webui serve: --issuer-listen needs --tls-cert and --tls-key", flush=True)
            return 2
        issuer_host, issuer_port = _split(issuer_listen)
        issuer_url = f"https://{issuer_host}:{issuer_port}"
    app_config: GitHubApp | None = None
    client_id, client_secret = _read(client_id_file), _read(client_secret_file)
    if client_id and client_secret:
        web = (github_url or "https://github.com").rstrip("/")
        api = github_api_url or ("https://api.github.com" if web == "https://github.com" else web)
        app_config = GitHubApp(
            client_id=client_id, client_secret=client_secret, web_url=web, api_url=api
        )
    token = _read(bootstrap_token_file)
    if token is None and bootstrap_kubeconfig is not None and app_config is None:
        token = secrets.token_urlsafe(32)
        print(f"Sign in once as the administrator: {url}/bootstrap?token={token}", flush=True)
    settings = Settings(
        kubeconfig=kubeconfig,
        public_url=url,
        issuer_url=issuer_url,
        github=app_config,
        bootstrap_token=token,
        bootstrap_kubeconfig=bootstrap_kubeconfig,
        signing_key=signing_key,
    )
    application = webapp.build(settings)
    people = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_cert) if secure_people and tls_cert else None,
        ssl_keyfile=str(tls_key) if secure_people and tls_key else None,
        ws="websockets-sansio",
        # NB: event streams and editor sockets never end by themselves; a stop waits this long.
        timeout_graceful_shutdown=3,
    )
    servers = [uvicorn.Server(people)]
    if issuer_listen is not None and tls_cert is not None and tls_key is not None:
        issuer_host, issuer_port = _split(issuer_listen)
        # NB: the same application; its lifespan (the watch) runs once, on the first server.
        servers.append(
            uvicorn.Server(
                uvicorn.Config(
                    application,
                    host=issuer_host,
                    port=issuer_port,
                    log_level="warning",
                    lifespan="off",
                    timeout_graceful_shutdown=3,
                    ssl_certfile=str(tls_cert),
                    ssl_keyfile=str(tls_key),
                )
            )
        )
    log.info("webui.serving", url=url, issuer=settings.issuer, github=bool(app_config))

    async def run() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    # NB: uvicorn's own loop choice (uvloop when installed), as `uvicorn.run` would make it.
    loop_factory = people.get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run())
    return 0
