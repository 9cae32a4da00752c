"""``wws dev github``: run the stand-in with uvicorn on a local port."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import structlog
import uvicorn
import yaml

from devgithub import app, directory, state

ADMIN_TOKEN_ENV = "WWS_DEV_GITHUB_ADMIN_TOKEN"

log = structlog.get_logger("devgithub")


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    return sock


def main(
    *, users: Path, listen: str, auto_approve: str | None = None, url_file: Path | None = None
) -> int:
    """Serve ``users`` on ``listen`` (port 0: any free port) until interrupted."""
    try:
        files = directory.DirectoryFile(users)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"wws dev github: {users}: {error}".splitlines()[0], file=sys.stderr)
        return 2
    if auto_approve:
        current = files.current
        if current.user(auto_approve) is None:
            print(f"wws dev github: --auto-approve: no user {auto_approve}", file=sys.stderr)
            return 2
    found = state.State(
        files=files,
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
        auto_approve=auto_approve or None,
    )
    try:
        sock = _bind(listen)
    except (OSError, ValueError) as error:
        print(f"wws dev github: cannot listen on {listen}: {error}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if url_file is not None:
        url_file.write_text(url + "\n")
    log.info("devgithub.serving", url=url, users=str(users), admin=found.admin_token is not None)
    print(f"GitHub stand-in: {url} (API base {url}/, OAuth {url}/login/oauth/)", flush=True)
    config = uvicorn.Config(app.build(found), log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
