"""structlog, configured once per process.

JSON lines when stdout is not a terminal (services, CI, journald), readable console output
when it is; events go to stderr. Standard-library loggers (uvicorn, kopf, aiohttp) are
routed through the same renderer so one process writes one format. Events about a resource
carry ``namespace`` and ``name`` keys: bind them with :func:`for_resource`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_configured = False


def _kubernetes_object(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """kopf's per-object log lines carry the object in ``record.k8s_ref``: name it with the
    same ``namespace``/``name``/``kind`` keys as WWS's own lines."""
    record = event_dict.get("_record")
    ref = getattr(record, "k8s_ref", None) if record is not None else None
    if isinstance(ref, dict):
        event_dict.setdefault("namespace", ref.get("namespace") or "")
        event_dict.setdefault("name", ref.get("name") or "")
        event_dict.setdefault("kind", ref.get("kind") or "")
    return event_dict


def configure(*, level: str = "INFO", json: bool | None = None) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    # NB: decided by stdout, as the issue asks: `wws up | tee` or a service manager gets JSON.
    render_json = not sys.stdout.isatty() if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if render_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _kubernetes_object],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs of the store would drown everything else at thousands of requests a second.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)  # type: ignore[no-any-return]


def for_resource(
    logger: structlog.stdlib.BoundLogger, *, namespace: str | None, name: str, kind: str = ""
) -> structlog.stdlib.BoundLogger:
    """A logger whose every event names the resource it is about."""
    bound = logger.bind(namespace=namespace or "", name=name)
    return bound.bind(kind=kind) if kind else bound
