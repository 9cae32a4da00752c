"""``wws controller run``: the kopf operator, in-process, with health and metrics endpoints.

kopf settings, and why:

- cluster-wide and standalone (no peering): one controller per API server; run a second one
  only after the first has stopped (the finalizer and the provider's per-workspace names
  keep a crash-and-restart safe, not two at once);
- the finalizer ``wws.dev/workspace-cleanup`` on Workspaces (their container and home are
  external objects); Organizations and Teams get none;
- handler progress and the diff base in annotations (``kopf.wws.dev/...``) only: the status
  is pruned by the CRD schema and belongs to the reconcilers;
- events are posted (``kopf.info``/``kopf.warn`` of the handlers), kopf's own log lines are
  not;
- watches ask the server to end them after 300 s (and are resumed), so a silently dropped
  connection never stalls the controller for long.

Credentials come from ``--kubeconfig`` (the embedded store's, or any cluster's) through the
``kubernetes`` client's loader (:mod:`controller.login`), so the same command works against
the embedded store and, unchanged, a real cluster.

Environment: ``WWS_DATA_DIR`` (default ``~/.local/share/wws``) holds the providers' data
(the Podman API socket, when the controller starts the service itself);
``WWS_PODMAN_SOCKET`` names an already running Podman API service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import kopf

from controller import context, handlers, health, kubeapi, login, memory, providerpool
from providers import base
from wws import logconfig

log = logconfig.get(__name__)

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "wws"
#: Prefix of kopf's own annotations (handler progress, last handled configuration).
KOPF_PREFIX = "kopf.wws.dev"


def data_dir() -> Path:
    """Where providers keep their data: ``$WWS_DATA_DIR`` or ``~/.local/share/wws``."""
    configured = os.environ.get("WWS_DATA_DIR")
    return Path(configured) if configured else DEFAULT_DATA_DIR


def operator_settings() -> kopf.OperatorSettings:
    """kopf's settings for WWS (see the module docstring)."""
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.peering.clusterwide = True
    settings.persistence.finalizer = handlers.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.enabled = True
    settings.posting.level = logging.INFO
    settings.posting.loggers = False
    settings.posting.reporting_component = "wws-controller"
    settings.posting.reporting_instance = socket.gethostname()
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    return settings


async def run(*, kubeconfig: Path | None, resync_seconds: float, health_listen: str) -> int:
    """Run the operator until SIGINT/SIGTERM; the exit code."""
    memory.limit_arenas()  # NB: before the providers' threads start
    credentials = login.load(kubeconfig)
    # kopf logs every handler's success at INFO, the watch-event handlers' included: one
    # line per watch event. The controller logs what matters itself (phase changes,
    # failures, drift, deletions, orphans).
    kopf_objects = logging.getLogger("kopf.objects")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        kopf_objects.setLevel(logging.WARNING)
        # NB: watchfiles says "1 change detected" at INFO for every agent report.
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
    log.info(
        "controller starting",
        server=credentials.server,
        credentials=credentials.source,
        resync=resync_seconds,
    )
    readiness = health.Readiness()
    runner = await health.serve(health_listen, readiness)
    api = kubeapi.KubeApi(lambda: login.load(kubeconfig))
    providers = providerpool.Providers(base.ProviderSettings(data_dir=data_dir()))
    ctx = context.Context(
        api=api,
        providers=providers,
        readiness=readiness,
        resync=resync_seconds,
        public_host=socket.gethostname() or "localhost",
    )
    registry = kopf.OperatorRegistry()
    handlers.register(registry)

    def login_handler(**_: Any) -> kopf.ConnectionInfo:
        return login.connection_info(login.load(kubeconfig))

    kopf.on.login(registry=registry)(login_handler)
    try:
        await kopf.operator(
            registry=registry,
            settings=operator_settings(),
            clusterwide=True,
            standalone=True,
            memo=ctx,
            ready_flag=readiness.operator,
        )
    finally:
        readiness.stopping = True
        await providers.close()
        await api.close()
        await runner.cleanup()
        log.info("controller stopped")
    return 0


def main(*, kubeconfig: Path | None, resync_seconds: float, health_listen: str) -> int:
    """The entry point of ``wws controller run``."""
    if resync_seconds <= 0:
        print("wws controller run: --resync must be more than 0 seconds", file=sys.stderr)
        return 2
    try:
        health.parse_listen(health_listen)
    except ValueError as error:
        print(f"wws controller run: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(
            run(
                kubeconfig=kubeconfig,
                resync_seconds=resync_seconds,
                health_listen=health_listen,
            )
        )
    except login.LoginError as error:
        print(f"wws controller run: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. --health-listen's port is taken
        print(f"wws controller run: {error}", file=sys.stderr)
        return 1
