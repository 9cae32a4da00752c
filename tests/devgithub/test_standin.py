"""The GitHub stand-in speaks GitHub's protocol: OAuth web flow, REST, paging, ETags, limits.

Every test runs the real ``wws dev github`` process and talks HTTP to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.devgithub import ALICE_TOKEN, DevGitHub
from tests.support.storeproc import REPO


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevGitHub]:
    """One stand-in for the tests that only read."""
    process = DevGitHub(tmp_path_factory.mktemp("devgithub")).start()
    try:
        yield process
    finally:
        process.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _post(url: str, fields: dict[str, str], accept: str | None = None) -> tuple[int, Any, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    if accept:
        request.add_header("Accept", accept)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def _sign_in(github: DevGitHub, login: str, **extra: str) -> str:
    """The code the authorize page hands back when ``login`` is picked."""
    status, headers, _ = _post(
        github.url + "/login/oauth/authorize",
        {"client_id": "wws", "redirect_uri": "http://ui.test/cb", "state": "xyz", "login": login}
        | extra,
    )
    assert status == 302
    query = urllib.parse.parse_qs(urllib.parse.urlparse(headers["Location"]).query)
    assert query["state"] == ["xyz"]
    return str(query["code"][0])


def _exchange(github: DevGitHub, code: str, **extra: str) -> dict[str, str]:
    status, _, body = _post(
        github.url + "/login/oauth/access_token",
        {"client_id": "wws", "client_secret": "s", "code": code} | extra,
        accept="application/json",
    )
    assert status == 200
    return json.loads(body)  # type: ignore[no-any-return]


def test_authorize_page_lists_people_and_keeps_the_request(github: DevGitHub) -> None:
    query = urllib.parse.urlencode(
        {
            "client_id": "wws",
            "redirect_uri": "http://ui.test/cb",
            "state": "s1",
            "scope": "read:org",
        }
    )
    with urllib.request.urlopen(f"{github.url}/login/oauth/authorize?{query}") as response:
        page = response.read().decode()
    for login in ("alice", "bob", "carol", "dave", "mallory"):
        assert f"value='{login}'" in page
    assert "name='state' value='s1'" in page
    assert "read:org" in page


def test_oauth_web_flow_signs_in_the_picked_person(github: DevGitHub) -> None:
    token = _exchange(github, _sign_in(github, "bob", scope="read:org user:email"))
    assert token["token_type"] == "bearer"
    assert token["scope"] == "read:org,user:email"
    status, headers, user = github.get("/user", token=token["access_token"])
    assert status == 200 and user["login"] == "bob" and user["email"] == "bob@example.com"
    assert headers["x-oauth-scopes"] == "read:org,user:email"
    _, _, emails = github.get("/user/emails", token=token["access_token"])
    assert emails == [
        {"email": "bob@example.com", "verified": True, "primary": True, "visibility": "public"}
    ]
    _, _, orgs = github.get("/user/orgs", token=token["access_token"])
    assert [org["login"] for org in orgs] == ["acme"]


def test_a_code_works_once_and_answers_form_encoded_by_default(github: DevGitHub) -> None:
    code = _sign_in(github, "carol")
    assert "access_token" in _exchange(github, code)
    status, headers, body = _post(
        github.url + "/login/oauth/access_token",
        {"client_id": "wws", "client_secret": "s", "code": code},
    )
    assert status == 200  # NB: GitHub reports token errors with 200 and an error field
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert urllib.parse.parse_qs(body)["error"] == ["bad_verification_code"]


def test_pkce_verifier_must_match(github: DevGitHub) -> None:
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    wrong = _exchange(github, _sign_in(github, "alice", **extra), code_verifier="w" * 50)
    assert wrong["error"] == "bad_verification_code"
    right = _exchange(github, _sign_in(github, "alice", **extra), code_verifier=verifier)
    assert right["access_token"].startswith("gho_")


def test_cancel_redirects_with_access_denied(github: DevGitHub) -> None:
    status, headers, _ = _post(
        github.url + "/login/oauth/authorize",
        {"client_id": "wws", "redirect_uri": "http://ui.test/cb", "state": "q", "decision": "deny"},
    )
    assert status == 302
    assert "error=access_denied" in headers["Location"] and "state=q" in headers["Location"]


def test_public_keys_and_unknown_people(github: DevGitHub) -> None:
    status, _, keys = github.get("/users/alice/keys")
    assert status == 200 and keys[0]["key"].startswith("ssh-ed25519 ")
    assert github.get("/users/nobody/keys")[0] == 404
    assert github.get("/user")[0] == 401
    assert github.get("/user", token="ghp_wrong")[0] == 401


def test_members_are_paged_with_link_headers(github: DevGitHub) -> None:
    status, headers, page1 = github.get("/orgs/acme/members?per_page=2", token=ALICE_TOKEN)
    assert status == 200 and [u["login"] for u in page1] == ["alice", "bob"]
    links = {
        part.split(";")[1].strip(): part.split(";")[0].strip(" <>")
        for part in headers["link"].split(",")
    }
    assert set(links) == {'rel="next"', 'rel="last"'}
    path = urllib.parse.urlparse(links['rel="next"'])
    _, headers2, page2 = github.get(f"{path.path}?{path.query}", token=ALICE_TOKEN)
    assert [u["login"] for u in page2] == ["carol", "dave"]
    assert 'rel="prev"' in headers2["link"] and 'rel="next"' not in headers2["link"]


def test_enterprise_base_url_serves_the_same_api(github: DevGitHub) -> None:
    status, _, team = github.get("/api/v3/orgs/acme/teams/platform/members", token=ALICE_TOKEN)
    assert status == 200 and [u["login"] for u in team] == ["bob", "carol"]
    _, _, maintainers = github.get(
        "/api/v3/orgs/acme/teams/platform/members?role=maintainer", token=ALICE_TOKEN
    )
    assert [u["login"] for u in maintainers] == ["bob"]


def test_outsiders_see_public_members_only_and_no_teams(github: DevGitHub) -> None:
    mallory = _exchange(github, _sign_in(github, "mallory"))["access_token"]
    _, _, members = github.get("/orgs/acme/members", token=mallory)
    assert [u["login"] for u in members] == ["alice", "bob", "carol"]  # dave is private
    assert github.get("/orgs/acme/teams", token=mallory)[0] == 404
    assert github.get("/orgs/acme/memberships/bob", token=mallory)[0] == 403
    assert github.get("/orgs/nope", token=ALICE_TOKEN)[0] == 404
    assert github.get("/orgs/acme/teams/nope/members", token=ALICE_TOKEN)[0] == 404
    _, _, membership = github.get("/orgs/acme/memberships/alice", token=ALICE_TOKEN)
    assert (membership["state"], membership["role"]) == ("active", "admin")


def test_etag_answers_304_without_spending_the_rate_limit(github: DevGitHub) -> None:
    status, headers, _ = github.get("/orgs/acme/members", token=ALICE_TOKEN)
    remaining = int(headers["x-ratelimit-remaining"])
    assert status == 200 and headers["x-ratelimit-limit"] == "5000"
    status, again, _ = github.get(
        "/orgs/acme/members", token=ALICE_TOKEN, headers={"If-None-Match": headers["etag"]}
    )
    assert status == 304
    assert int(again["x-ratelimit-remaining"]) == remaining
    status, _, _ = github.get(
        "/orgs/acme/members", token=ALICE_TOKEN, headers={"If-None-Match": 'W/"other"'}
    )
    assert status == 200


def test_membership_changes_at_run_time(dev_github: DevGitHub) -> None:
    _, headers, _ = dev_github.get("/orgs/acme/teams/platform/members", token=ALICE_TOKEN)
    dev_github.set_team_member("acme", "platform", "dave", role="maintainer")
    dev_github.remove_team_member("acme", "platform", "carol")
    status, _, team = dev_github.get(
        "/orgs/acme/teams/platform/members",
        token=ALICE_TOKEN,
        headers={"If-None-Match": headers["etag"]},
    )
    assert status == 200 and [u["login"] for u in team] == ["bob", "dave"]
    # editing the file works too: the stand-in reads it again when it changes
    time.sleep(0.01)
    dev_github.edit_users_file(lambda data: data["orgs"][0]["members"].pop())
    _, _, members = dev_github.get("/orgs/acme/members", token=ALICE_TOKEN)
    assert [u["login"] for u in members] == ["alice", "bob", "carol"]
    conditional = [r for r in dev_github.requests() if r["conditional"]]
    assert conditional and conditional[0]["status"] == 200


def test_rate_limit_and_outage(dev_github: DevGitHub) -> None:
    dev_github.rate_limited(True)
    status, headers, body = dev_github.get("/orgs/acme/members", token=ALICE_TOKEN)
    assert status == 403 and headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in body["message"]
    dev_github.rate_limited(False)
    dev_github.outage(502)
    assert dev_github.get("/orgs/acme/members", token=ALICE_TOKEN)[0] == 502
    dev_github.outage(None)
    assert dev_github.get("/orgs/acme/members", token=ALICE_TOKEN)[0] == 200


def test_admin_refuses_invalid_directory_and_wrong_token(dev_github: DevGitHub) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        dev_github.set_team_member("acme", "platform", "nobody")
    assert raised.value.code == 422
    dev_github.admin_token, real = "wrong", dev_github.admin_token
    with pytest.raises(urllib.error.HTTPError) as raised:
        dev_github.directory()
    assert raised.value.code == 401
    dev_github.admin_token = real
    assert dev_github.directory()["users"][0]["login"] == "alice"


def test_cli_refuses_a_bad_users_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "users.yaml"
    bad.write_text("orgs: [{login: acme, members: [ghost]}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "wws.cli", "dev", "github", "--users", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "ghost" in result.stderr
