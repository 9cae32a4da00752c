"""The in-workspace agent's contract: what a provider hands in, what the agent reports back.

The agent (``images/workspace/agent/wws-agent``) runs inside every workspace, container or
virtual machine alike, and knows nothing of the provider. It talks to the outside through
two folders only (docs/workspace-agent.md has the whole contract):

- ``/run/wws/config/`` (read-only, :data:`providers.base.AGENT_CONFIG_DIR`): the files of
  :attr:`providers.base.DesiredWorkspace.config_files`, built here by :func:`config_files`:

  - ``workspace.json``: :func:`workspace_config`, the parts of the spec the agent applies;
  - ``secrets/code-server-password``: code-server's password;
  - ``secrets/github-token`` (optional): the owner's GitHub token for ``gh`` and git.

  The provider keeps them up to date while the workspace runs; the agent notices a change
  within about a second and applies it (no re-creation, no restart).
- ``/run/wws/status/report.json`` (:data:`providers.base.AGENT_STATUS_DIR`): written by the
  agent atomically whenever something changes (and every :data:`HEARTBEAT_SECONDS`), read
  back by :meth:`providers.base.Provider.read_report` and parsed by :func:`parse_report`.

No inbound network access to the controller is needed: the provider moves files both ways.
This module has no dependencies beyond the standard library, so the controller, tests and
tools can all use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api import times

CONFIG_VERSION = 1
"""``workspace.json``'s ``version``; the agent refuses a newer one (ConfigUnsupported)."""

CONFIG_FILE = "workspace.json"
CODE_SERVER_PASSWORD_FILE = "secrets/code-server-password"
GITHUB_TOKEN_FILE = "secrets/github-token"

USER_ID = 1000
"""The owner's uid and gid inside every workspace."""

HEARTBEAT_SECONDS = 15
"""The agent rewrites its report at least this often while it runs (``updatedAt``)."""

#: The conditions the agent reports, in the order it works on them. The controller adds
#: HomeReady, ImageReady, ContainerReady and the Ready summary.
CONDITION_TYPES: tuple[str, ...] = (
    "UserReady",
    "SSHReady",
    "EditorReady",
    "DotfilesReady",
    "LanguagesReady",
    "BootstrapReady",
)

#: Language states in the report (the API's LanguageState values).
LANGUAGE_STATES: tuple[str, ...] = ("Pending", "Installing", "Installed", "Failed")


# --- in: the config -----------------------------------------------------------------------


def _pick(source: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    if not source:
        return {}
    return {key: source[key] for key in keys if source.get(key) is not None}


def workspace_config(
    *,
    namespace: str,
    name: str,
    uid: str,
    generation: int,
    spec: Mapping[str, Any],
) -> dict[str, Any]:
    """``workspace.json`` from a Workspace's spec, given as the API serialises it (camelCase
    JSON, e.g. ``WorkspaceSpec.model_dump(mode="json", by_alias=True)``). Durations stay
    strings in the API's format (``"120s"``, ``"1h30m"``); the agent parses them."""
    dotfiles = spec.get("dotfiles")
    bootstrap = spec.get("bootstrap")
    editors = spec.get("editors") or {}
    return {
        "version": CONFIG_VERSION,
        "workspace": {"namespace": namespace, "name": name, "uid": uid},
        "generation": int(generation),
        "owner": str(spec["owner"]),
        "userId": USER_ID,
        "shell": str(spec.get("shell") or "zsh"),
        "git": _pick(spec.get("git"), "userName", "userEmail"),
        "ssh": {"authorizedKeys": list((spec.get("ssh") or {}).get("authorizedKeys") or [])},
        "dotfiles": _pick(dotfiles, "repo", "timeout") if dotfiles else None,
        "bootstrap": _pick(bootstrap, "script", "timeout") if bootstrap else None,
        "languages": [_pick(lang, "name", "version") for lang in spec.get("languages") or []],
        "editors": {
            "codeServer": bool(editors.get("codeServer", True)),
            "ssh": bool(editors.get("ssh", True)),
        },
        # NB: how often the agent reports activity follows it (docs/workspace-agent.md).
        "idleTimeout": str((spec.get("idle") or {}).get("timeout") or "30m"),
    }


def config_files(
    config: Mapping[str, Any],
    *,
    code_server_password: str,
    github_token: str | None = None,
) -> dict[str, bytes]:
    """The files of :attr:`providers.base.DesiredWorkspace.config_files`."""
    if not code_server_password:
        raise ValueError("code-server needs a password")
    files = {
        CONFIG_FILE: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
        CODE_SERVER_PASSWORD_FILE: code_server_password.encode(),
    }
    if github_token:
        files[GITHUB_TOKEN_FILE] = github_token.strip().encode()
    return files


# --- out: the report ----------------------------------------------------------------------


@dataclass(frozen=True)
class AgentCondition:
    """One condition as the agent reports it (the Kubernetes condition shape, without the
    times and generation that the controller adds)."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""


@dataclass(frozen=True)
class LanguageReport:
    name: str
    state: str  # one of LANGUAGE_STATES
    version: str | None = None  # as the toolchain reports it, e.g. "3.11.2"
    message: str = ""


@dataclass(frozen=True)
class AgentReport:
    generation: int | None  # the workspace.json generation the agent has applied
    boot_id: str  # new at every boot of the workspace
    updated_at: datetime | None
    conditions: tuple[AgentCondition, ...]
    languages: tuple[LanguageReport, ...]
    activity_at: datetime | None = None  # the owner's last activity the agent saw
    activity_source: str = ""  # ssh, tmux or code-server

    def condition(self, type_: str) -> AgentCondition | None:
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_report(data: Mapping[str, Any]) -> AgentReport:
    """The typed form of ``report.json``; raises :class:`ValueError` on a wrong shape."""
    if not isinstance(data, Mapping):
        raise ValueError("report is not a JSON object")
    raw_conditions = data.get("conditions") or []
    raw_languages = data.get("languages") or []
    if not isinstance(raw_conditions, Sequence) or not isinstance(raw_languages, Sequence):
        raise ValueError("report: conditions and languages must be lists")
    conditions = []
    for item in raw_conditions:
        if not isinstance(item, Mapping) or not item.get("type"):
            raise ValueError(f"report: bad condition {item!r}")
        status = _text(item.get("status")) or "Unknown"
        if status not in ("True", "False", "Unknown"):
            raise ValueError(f"report: condition {item['type']} has status {status!r}")
        conditions.append(
            AgentCondition(
                type=_text(item["type"]),
                status=status,
                reason=_text(item.get("reason")) or "Unknown",
                message=_text(item.get("message")),
            )
        )
    languages = []
    for item in raw_languages:
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ValueError(f"report: bad language {item!r}")
        version = item.get("version")
        languages.append(
            LanguageReport(
                name=_text(item["name"]),
                state=_text(item.get("state")) or "Pending",
                version=None if version in (None, "") else str(version),
                message=_text(item.get("message")),
            )
        )
    generation = data.get("generation")
    raw_activity = data.get("activity")
    activity: Mapping[str, Any] = raw_activity if isinstance(raw_activity, Mapping) else {}
    source = _text(activity.get("source"))
    return AgentReport(
        activity_at=times.parse_time(activity.get("lastActivityTime")),
        activity_source=source if source in ("ssh", "tmux", "code-server") else "",
        generation=generation if isinstance(generation, int) else None,
        boot_id=_text(data.get("bootId")),
        updated_at=times.parse_time(data.get("updatedAt")),
        conditions=tuple(conditions),
        languages=tuple(languages),
    )
