"""Fresh names and ports, so tests never see each other's objects."""

from __future__ import annotations

import socket
import uuid


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
