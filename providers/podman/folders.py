"""The in-workspace agent's folder on the host, ``<data-dir>/workspaces/<uid>/``
(docs/workspace-agent.md): ``config/`` holds :attr:`DesiredWorkspace.config_files`
(secrets mode 0600), bind-mounted read-only at ``/run/wws/config`` and rewritten in place
when they change; ``status/`` is bind-mounted writable at ``/run/wws/status``, where the
agent writes ``report.json``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from providers import agent, base
from wws import logconfig

log = logconfig.get(__name__)


class AgentFolders:
    """The agents' folders under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @property
    def root(self) -> Path:
        return self.data_dir / "workspaces"

    def workspace_dir(self, uid: str) -> Path:
        return self.root / uid

    def config_dir(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "config"

    def status_dir(self, uid: str) -> Path:
        return self.workspace_dir(uid) / "status"

    def report_path(self, uid: str) -> Path:
        return self.status_dir(uid) / base.AGENT_REPORT_FILE

    def sync_config(self, uid: str, files: Mapping[str, bytes]) -> bool:
        """Make ``config/`` hold exactly ``files``; True when something changed. Each file
        is replaced atomically (the agent never reads half a file); secrets are 0600."""
        root = self.config_dir(uid)
        changed = False
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            root.chmod(0o755)
        for rel, content in files.items():
            target = root / base.check_config_path(rel)
            secret = base.is_secret_path(rel)
            mode = 0o600 if secret else 0o644
            with contextlib.suppress(FileNotFoundError):
                if target.read_bytes() == content and (target.stat().st_mode & 0o777) == mode:
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if secret:
                target.parent.chmod(0o700)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                os.fchmod(fd, mode)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
            changed = True
        wanted = {str(base.check_config_path(rel)) for rel in files}
        for path in sorted(root.rglob("*"), reverse=True):
            rel = path.relative_to(root).as_posix()
            if path.is_dir() and not path.is_symlink():
                if not any(w.startswith(rel + "/") for w in wanted):
                    shutil.rmtree(path, ignore_errors=True)
            elif rel not in wanted:
                path.unlink(missing_ok=True)
                changed = True
        return changed

    def prepare(self, uid: str) -> None:
        """Both folders, before the container that mounts them is made."""
        self.config_dir(uid).mkdir(parents=True, exist_ok=True)
        self.status_dir(uid).mkdir(parents=True, exist_ok=True)

    def drop_report(self, uid: str) -> None:
        """Forget the previous boot's report (it says nothing about the next boot)."""
        self.status_dir(uid).mkdir(parents=True, exist_ok=True)
        self.report_path(uid).unlink(missing_ok=True)

    def remove(self, uid: str) -> bool:
        """Remove the workspace's folder; False when there was none."""
        folder = self.workspace_dir(uid)
        if not folder.exists():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def uids(self) -> list[str]:
        """The UIDs that have a folder."""
        parent = self.root
        return sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []

    def owner(self, uid: str) -> tuple[str, str]:
        """The (namespace, name) of the Workspace the folder was made for, as its
        ``workspace.json`` says (``("", "")`` when it cannot be read)."""
        try:
            config = json.loads((self.config_dir(uid) / agent.CONFIG_FILE).read_bytes())
            found = config["workspace"]
            return str(found.get("namespace") or ""), str(found.get("name") or "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "", ""

    def read_report(self, uid: str) -> dict[str, Any] | None:
        """The agent's ``report.json``; ``None`` when there is none or it is unreadable."""
        path = self.report_path(uid)
        try:
            data = json.loads(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as error:
            log.warning("agent report unreadable", uid=uid, path=str(path), error=str(error))
            return None
        return data if isinstance(data, dict) else None
