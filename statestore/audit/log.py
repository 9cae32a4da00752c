"""Audit events written as JSON lines, rotated by size as kube-apiserver's log backend does
(``--audit-log-path``, ``--audit-log-maxsize`` in megabytes, ``--audit-log-maxbackup``,
``--audit-log-maxage`` in days; rotated files are named ``NAME-<timestamp>.EXT``)."""

from __future__ import annotations

import datetime
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from statestore import accessmetrics
from statestore.audit.policy import Policy
from statestore.authn.user import UserInfo
from statestore.requestinfo import RequestInfo

LEVEL_ORDER = {"None": 0, "Metadata": 1, "Request": 2, "RequestResponse": 3}
#: Never logged above Metadata, whatever the policy says: their bodies are credentials.
SENSITIVE = frozenset({("", "secrets"), ("authentication.k8s.io", "tokenreviews")})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RotatingFile:
    def __init__(
        self, path: Path, *, max_size_mb: int, max_backups: int, max_age_days: int
    ) -> None:
        self.path = path
        self.max_bytes = max_size_mb * 1024 * 1024 if max_size_mb > 0 else 0
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self._open()

    def _open(self) -> Any:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def write(self, line: bytes) -> None:
        with self._lock:
            if (
                self.max_bytes
                and self._handle.tell() + len(line) > self.max_bytes
                and self._handle.tell() > 0
            ):
                self._rotate()
            self._handle.write(line)
            self._handle.flush()

    def _rotate(self) -> None:
        self._handle.close()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        rotated = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
        os.replace(self.path, rotated)
        self._handle = self._open()
        backups = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
        cutoff = time.time() - self.max_age_days * 86400
        for index, backup in enumerate(reversed(backups)):
            too_many = self.max_backups > 0 and index >= self.max_backups
            too_old = self.max_age_days > 0 and backup.stat().st_mtime < cutoff
            if too_many or too_old:
                backup.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._handle.close()


@dataclass
class Record:
    """One request being audited."""

    level: str
    omit: frozenset[str]
    event: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)


class Auditor:
    def __init__(self, policy: Policy, out: RotatingFile) -> None:
        self.policy = policy
        self.out = out

    def begin(
        self,
        *,
        user: UserInfo | None,
        impersonator: UserInfo | None,
        info: RequestInfo,
        request_uri: str,
        source_ips: list[str],
        user_agent: str,
    ) -> Record | None:
        """The record of a request, or None when the policy says level None."""
        # NB: the authenticated user (the impersonator, when impersonating) is audited as
        # ``user`` and matched by the policy, as kube's audit filter runs before impersonation.
        actor = impersonator or user
        level, omit = self.policy.level(actor or UserInfo(""), info)
        if level == "None":
            return None
        if (info.group, info.resource) in SENSITIVE and LEVEL_ORDER[level] > 1:
            level = "Metadata"
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": str(uuid.uuid4()),
            "stage": "RequestReceived",
            "requestURI": request_uri,
            "verb": info.verb,
            "user": actor.to_dict() if actor is not None else {},
            "sourceIPs": source_ips,
            "userAgent": user_agent,
            "requestReceivedTimestamp": _now(),
        }
        if impersonator is not None and user is not None:
            event["impersonatedUser"] = user.to_dict()
        if info.resource_request:
            ref: dict[str, str] = {"resource": info.resource}
            if info.namespace:
                ref["namespace"] = info.namespace
            if info.name:
                ref["name"] = info.name
            ref["apiGroup"] = info.group
            ref["apiVersion"] = info.version
            if info.subresource:
                ref["subresource"] = info.subresource
            event["objectRef"] = ref
        record = Record(level, omit, event)
        self._emit(record, "RequestReceived")
        return record

    def started(self, record: Record) -> None:
        self._emit(record, "ResponseStarted", code=200)

    def complete(
        self,
        record: Record,
        *,
        code: int,
        status: dict[str, Any] | None,
        request_object: Any = None,
        response_object: Any = None,
    ) -> None:
        if LEVEL_ORDER[record.level] >= 2 and request_object is not None:
            record.event["requestObject"] = request_object
        if LEVEL_ORDER[record.level] >= 3 and response_object is not None:
            record.event["responseObject"] = response_object
        self._emit(record, "ResponseComplete", code=code, status=status)

    def _emit(
        self,
        record: Record,
        stage: str,
        *,
        code: int | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        if stage in record.omit:
            return
        if stage == "ResponseComplete":
            accessmetrics.AUDIT_EVENTS.labels(record.level).inc()
        event = dict(record.event)
        event["stage"] = stage
        event["stageTimestamp"] = _now()
        if code is not None:
            response: dict[str, Any] = {"metadata": {}, "code": code}
            if status is not None and code >= 400:
                for key in ("status", "message", "reason", "details"):
                    if key in status:
                        response[key] = status[key]
            event["responseStatus"] = response
        if record.annotations:
            event["annotations"] = dict(record.annotations)
        self.out.write(orjson.dumps(event) + b"\n")
