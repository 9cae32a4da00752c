"""The Secrets of a workspace through a fake API server: the GitHub token (found, missing,
without its key) and code-server's password (made once, owned by the Workspace, kept)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from controller import kubeapi, secrets
from tests.unit.test_reconcile_workspace import UID, make


class FakeApi:
    """Secrets in a dict; answers as the API server does (404, 409)."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def request(
        self, method: str, path: str, *, body: Any = None, content_type: str = "", **_: Any
    ) -> dict[str, Any]:
        self.calls.append((method, path))
        name = path.rsplit("/", 1)[1]
        if method == "GET":
            if name not in self.secrets:
                raise kubeapi.ApiError(method, path, 404, "not found")
            return self.secrets[name]
        if method == "POST":
            name = body["metadata"]["name"]
            if name in self.secrets:
                raise kubeapi.ApiError(method, path, 409, "exists")
            self.secrets[name] = dict(body)
            return self.secrets[name]
        if method == "PATCH":
            self.secrets[name].setdefault("data", {}).update(body["data"])
            return self.secrets[name]
        if method == "DELETE":
            del self.secrets[name]
            return {}
        raise AssertionError(method)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


GITHUB = {"github": {"tokenSecretRef": {"name": "gh"}}}


async def test_the_token_is_read_from_the_secrets_key() -> None:
    api = FakeApi()
    api.secrets["gh"] = {"data": {"token": b64("ghp_abc\n")}}
    found = await secrets.github_token(api, make(GITHUB))  # type: ignore[arg-type]
    assert (found.token, found.reason) == ("ghp_abc", "TokenProvided")
    assert "ghp_abc" not in found.message and "ghp_abc" not in repr(found)


@pytest.mark.parametrize(
    ("stored", "reason", "words"),
    [
        (None, "SecretNotFound", "acme/gh"),
        ({"data": {"other": b64("x")}}, "KeyNotFound", "keys: other"),
        ({"data": {"token": b64("  ")}}, "EmptyToken", "'token'"),
        ({"data": {"token": "%%%"}}, "InvalidToken", "base64"),
    ],
)
async def test_a_missing_token_says_why(
    stored: dict[str, Any] | None, reason: str, words: str
) -> None:
    api = FakeApi()
    if stored is not None:
        api.secrets["gh"] = stored
    found = await secrets.github_token(api, make(GITHUB))  # type: ignore[arg-type]
    assert found.token is None and found.reason == reason and not found.ok
    assert words in found.message


async def test_no_github_in_the_spec_reads_nothing() -> None:
    api = FakeApi()
    found = await secrets.github_token(api, make())  # type: ignore[arg-type]
    assert found.ok and found.reason == "NotRequested" and api.calls == []


async def test_the_code_server_password_is_made_once_and_owned_by_the_workspace() -> None:
    api = FakeApi()
    ws = make()
    password, made = await secrets.code_server_password(api, ws)  # type: ignore[arg-type]
    assert made and len(password) >= 24
    secret = api.secrets["alice-api-code-server"]
    assert base64.b64decode(secret["data"]["password"]).decode() == password
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Workspace", UID, True)
    again, made = await secrets.code_server_password(api, ws)  # type: ignore[arg-type]
    assert (again, made) == (password, False)

    # Its key lost: a new password, in the same Secret.
    secret["data"] = {}
    repaired, made = await secrets.code_server_password(api, ws)  # type: ignore[arg-type]
    assert made and repaired != password

    deleted = await secrets.delete_code_server_secret(
        api,  # type: ignore[arg-type]
        namespace="acme",
        name="alice-api",
        uid=UID,
    )
    assert deleted and "alice-api-code-server" not in api.secrets


async def test_someone_elses_secret_is_used_but_never_changed_or_deleted() -> None:
    api = FakeApi()
    api.secrets["alice-api-code-server"] = {"metadata": {}, "data": {"password": b64("chosen")}}
    ws = make()
    assert await secrets.code_server_password(api, ws) == ("chosen", False)  # type: ignore[arg-type]
    assert not await secrets.delete_code_server_secret(
        api,  # type: ignore[arg-type]
        namespace="acme",
        name="alice-api",
        uid=UID,
    )
    api.secrets["alice-api-code-server"]["data"] = {}
    with pytest.raises(secrets.SecretProblem) as problem:
        await secrets.code_server_password(api, ws)  # type: ignore[arg-type]
    assert problem.value.reason == "CodeServerSecretInvalid"


async def test_a_new_workspace_makes_its_secret_in_one_request() -> None:
    api = FakeApi()
    ws = make()
    password, made = await secrets.code_server_password(api, ws, fresh=True)  # type: ignore[arg-type]
    assert made and [method for method, _ in api.calls] == ["POST"]

    # Already there (a retry after the create went through): read, not made again.
    api.calls.clear()
    again, made = await secrets.code_server_password(api, ws, fresh=True)  # type: ignore[arg-type]
    assert (again, made) == (password, False)
    assert [method for method, _ in api.calls] == ["POST", "GET"]
