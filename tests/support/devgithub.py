"""Run the GitHub stand-in (``wws dev github``) as a subprocess, as a person trying WWS does.

Tests change its membership at run time through the admin endpoints (``/_devgithub/``,
enabled by the admin token passed in the environment), or by editing :attr:`users_file`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.storeproc import REPO

USERS = Path(__file__).with_name("devgithub_users.yaml")
"""The default people: alice (acme admin), bob, carol, dave (acme members), mallory (outsider);
team acme/platform: bob (maintainer), carol; team acme/web: dave."""

ALICE_TOKEN = "ghp_alice_test_token"


@dataclass
class DevGitHub:
    workdir: Path
    users: Path = USERS
    auto_approve: str | None = None
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def users_file(self) -> Path:
        """The stand-in's own copy of the users file (edit it: the stand-in re-reads it)."""
        return self.workdir / "users.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "devgithub.log"

    def start(self, timeout: float = 20.0) -> DevGitHub:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.users != self.users_file:
            shutil.copyfile(self.users, self.users_file)
        url_file = self.workdir / "url"
        url_file.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "wws.cli",
            "dev",
            "github",
            "--users",
            str(self.users_file),
            "--listen",
            "127.0.0.1:0",
            "--url-file",
            str(url_file),
        ]
        if self.auto_approve:
            command += ["--auto-approve", self.auto_approve]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WWS_DEV_GITHUB_ADMIN_TOKEN": self.admin_token,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stand-in exited: {self.log_path.read_text()[-3000:]}")
            if url_file.exists() and url_file.read_text().strip():
                self.url = url_file.read_text().strip()
                try:
                    with urllib.request.urlopen(self.url + "/meta", timeout=2) as response:
                        if response.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"stand-in did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> DevGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- REST as a client ---------------------------------------------------------------------

    def get(
        self, path: str, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """``GET path``: status, headers (lower-case names), parsed JSON body (or None)."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        if token:
            request.add_header("Authorization", f"token {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                status, got = response.status, response.headers
        except urllib.error.HTTPError as error:
            body, status, got = error.read(), error.code, error.headers
        lowered = {k.lower(): v for k, v in got.items()}
        return status, lowered, json.loads(body) if body else None

    # --- run-time changes ---------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_devgithub{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def set_org_member(self, org: str, login: str, role: str = "member") -> None:
        self.admin("PUT", f"/orgs/{org}/members/{login}", {"role": role})

    def remove_org_member(self, org: str, login: str) -> None:
        self.admin("DELETE", f"/orgs/{org}/members/{login}")

    def set_team_member(self, org: str, team: str, login: str, role: str = "member") -> None:
        self.admin("PUT", f"/orgs/{org}/teams/{team}/members/{login}", {"role": role})

    def remove_team_member(self, org: str, team: str, login: str) -> None:
        self.admin("DELETE", f"/orgs/{org}/teams/{team}/members/{login}")

    def set_directory(self, directory: dict[str, Any]) -> None:
        self.admin("PUT", "/directory", directory)

    def directory(self) -> dict[str, Any]:
        return self.admin("GET", "/directory")  # type: ignore[no-any-return]

    def rate_limited(self, exhausted: bool) -> None:
        self.admin("PUT", "/rate-limit", {"exhausted": exhausted})

    def outage(self, status: int | None) -> None:
        """Answer every REST request with ``status`` (e.g. 502); ``None`` ends the outage."""
        self.admin("PUT", "/outage", {"status": status} if status else {})

    def requests(self) -> list[dict[str, Any]]:
        """The REST requests served so far: method, path, status, conditional."""
        return self.admin("GET", "/requests")  # type: ignore[no-any-return]

    def edit_users_file(self, change: Any) -> None:
        """Rewrite :attr:`users_file` with ``change(data)`` applied (the stand-in re-reads it)."""
        data = yaml.safe_load(self.users_file.read_text())
        change(data)
        self.users_file.write_text(yaml.safe_dump(data, sort_keys=False))
