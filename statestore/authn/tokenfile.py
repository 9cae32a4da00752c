"""The static token file of ``kube-apiserver --token-auth-file``: ``token,user,uid,"g1,g2"``.

Parsed as kube parses it (Go's ``encoding/csv``, any number of fields per record): at least
three columns, an empty token skipped, a fourth column split on commas into groups.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from statestore.authn.user import UserInfo
from wws import logconfig

log = logconfig.get(__name__)


class TokenFileError(ValueError):
    pass


def parse(text: str, *, source: str = "token file") -> dict[str, UserInfo]:
    tokens: dict[str, UserInfo] = {}
    for number, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not record:
            continue  # Go's csv reader skips empty lines too
        if len(record) < 3:
            raise TokenFileError(
                f"token file '{source}' must have at least 3 columns (token, user name, "
                f"user uid), found {len(record)}"
            )
        token, username, uid = record[0], record[1], record[2]
        if not token:
            log.warning("authn.tokenfile_empty_token", file=source, record=number)
            continue
        if token in tokens:
            log.warning("authn.tokenfile_duplicate_token", file=source, record=number)
        groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
        tokens[token] = UserInfo(username=username, uid=uid, groups=groups)
    return tokens


def load(path: Path) -> dict[str, UserInfo]:
    try:
        text = path.read_text()
    except OSError as error:
        raise TokenFileError(f"cannot read the token file {path}: {error.strerror}") from error
    return parse(text, source=str(path))


def render(entries: Iterable[tuple[str, UserInfo]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for token, user in entries:
        writer.writerow([token, user.username, user.uid, ",".join(user.groups)])
    return buffer.getvalue()


def write_private(path: Path, data: bytes) -> None:
    """A file only its owner may read, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def ensure(path: Path, wanted: Iterable[UserInfo], *, keep: dict[str, str] | None = None) -> None:
    """Make sure ``path`` holds a token for each of ``wanted`` (by username).

    Existing tokens are kept (kubeconfigs already handed out stay valid); ``keep`` maps a
    username to a token it must have (the admin token of stores made before the file).
    """
    current = load(path) if path.exists() else {}
    by_user = {user.username: token for token, user in current.items()}
    entries: list[tuple[str, UserInfo]] = []
    for user in wanted:
        token = (keep or {}).get(user.username) or by_user.get(user.username)
        entries.append((token or secrets.token_urlsafe(32), user))
    names = {user.username for _, user in entries}
    entries.extend((t, u) for t, u in current.items() if u.username not in names)
    write_private(path, render(entries).encode())
