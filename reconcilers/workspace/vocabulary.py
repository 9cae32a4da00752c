"""The words of a Workspace's status: condition types, reasons, deadlines, and how
times and durations are written in messages."""

from __future__ import annotations

import dataclasses
import datetime
import re

from api import formats, meta
from api.workspace import (
    ConditionType,
    StopReason,
)
from providers import base

TRUE, FALSE, UNKNOWN = (
    meta.ConditionStatus.TRUE,
    meta.ConditionStatus.FALSE,
    meta.ConditionStatus.UNKNOWN,
)
READY = ConditionType.READY
IMAGE_READY = ConditionType.IMAGE_READY
HOME_READY = ConditionType.HOME_READY
CONTAINER_READY = ConditionType.CONTAINER_READY
USER_READY = ConditionType.USER_READY
SSH_READY = ConditionType.SSH_READY
EDITOR_READY = ConditionType.EDITOR_READY
LANGUAGES_READY = ConditionType.LANGUAGES_READY
DOTFILES_READY = ConditionType.DOTFILES_READY
BOOTSTRAP_READY = ConditionType.BOOTSTRAP_READY
GITHUB_READY = ConditionType.GITHUB_READY
QUOTA_EXCEEDED = ConditionType.QUOTA_EXCEEDED
IDLE = ConditionType.IDLE

#: The agent's conditions, in the order the status lists them (GitHubReady goes after
#: LanguagesReady: the required ones first).
AGENT_CONDITIONS: tuple[str, ...] = (
    USER_READY,
    SSH_READY,
    EDITOR_READY,
    LANGUAGES_READY,
    DOTFILES_READY,
    BOOTSTRAP_READY,
)
#: The agent's conditions that describe what runs now (Unknown while the workspace does not
#: run); the others describe the home (a clone, installs, a script) and are kept.
LIVE_AGENT_CONDITIONS = frozenset({USER_READY, SSH_READY, EDITOR_READY})

#: The code-server password's key in the Secret ``<workspace>-code-server``.
CODE_SERVER_PASSWORD_KEY = "password"

CODE_SERVER_PORT = base.PortSpec("code-server", 8080)
SSH_PORT = base.PortSpec("ssh", 22)

#: Stop reasons that keep a workspace stopped although ``spec.running`` is true, until a new
#: ``wws.dev/restartedAt`` annotation asks for it again (start after an idle stop). Quota and
#: Policy are not among them: they are decided again at every reconcile
#: (:mod:`reconcilers.quota`), so the workspace starts by itself once allowed.
HELD_REASONS = frozenset({StopReason.IDLE})

#: Ready reasons after which the phase is Failed.
START_TIMEOUT = "StartTimeout"
STOP_TIMEOUT = "StopTimeout"
DELETE_TIMEOUT = "DeleteTimeout"
AGENT_NOT_REPORTING = "AgentNotReporting"
FAILED_REASONS = frozenset({START_TIMEOUT, STOP_TIMEOUT, AGENT_NOT_REPORTING})
#: Ready's reason while the agent has not applied the current generation yet.
APPLYING_CHANGES = "ApplyingChanges"
WAITING_FOR_AGENT = "WaitingForAgent"
#: Where to look when the agent does not report (written for people).
AGENT_LOG_HINT = (
    "its log is /home/.wws/logs/agent.log inside the workspace, and the container's output"
    " (podman logs wws-<uid>) shows its start"
)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Deadlines of the states a workspace can be stuck in."""

    start: datetime.timedelta = datetime.timedelta(minutes=5)
    """Should run, not Ready for this long: Failed (StartTimeout)."""
    stop: datetime.timedelta = datetime.timedelta(minutes=2)
    """Should be stopped, still not for this long: Failed (StopTimeout)."""
    delete: datetime.timedelta = datetime.timedelta(minutes=5)
    """Deleting for this long: the message says how to give up (remove the finalizer)."""
    agent: datetime.timedelta = datetime.timedelta(minutes=2)
    """Running, and the in-workspace agent has not reported for this long since the
    container started (or since its last report; it writes one at least every 15 s):
    Failed (AgentNotReporting)."""


#: The deadlines unless the controller is told otherwise.
DEFAULT_TIMEOUTS = Timeouts()


def iso(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def human(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def sane_reason(value: str) -> str:
    """A condition reason as the API accepts it (CamelCase); the agent's is trusted only
    that far."""
    if len(value) <= 1024 and re.fullmatch(formats.REASON.pattern, value):
        return value
    words = re.findall(r"[A-Za-z0-9]+", value)
    camel = "".join(word[:1].upper() + word[1:] for word in words)[:1024]
    return camel if camel and camel[0].isalpha() else "Unknown"
