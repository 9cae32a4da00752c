"""The controller's GitHub client against the stand-in: every page, ETags, failures."""

from __future__ import annotations

import asyncio

import pytest

from controller import github
from tests.support.devgithub import ALICE_TOKEN, DevGitHub


def _big_directory(count: int) -> dict[str, object]:
    users = [{"login": "alice", "tokens": [ALICE_TOKEN]}]
    users += [{"login": f"user{i:03d}"} for i in range(count)]
    members = [{"login": "alice", "role": "admin"}] + [
        {"login": f"user{i:03d}"} for i in range(count)
    ]
    return {"users": users, "orgs": [{"login": "big", "members": members}]}


def test_every_page_is_read_and_unchanged_pages_cost_nothing(dev_github: DevGitHub) -> None:
    dev_github.set_directory(_big_directory(249))
    client = github.GitHubClient()

    async def read() -> list[str]:
        return await client.organization_members(dev_github.url, "big", ALICE_TOKEN)

    async def scenario() -> None:
        first = await read()
        assert len(first) == 250 and first[0] == "alice" and first[-1] == "user248"
        assert (client.requests, client.not_modified) == (3, 0)  # 100 per page
        again = await read()
        assert again == first
        assert (client.requests, client.not_modified) == (6, 3)
        dev_github.remove_org_member("big", "user248")
        changed = await read()
        assert len(changed) == 249 and "user248" not in changed
        assert client.not_modified == 5  # pages 1 and 2 unchanged; page 3 read again
        await client.close()

    asyncio.run(scenario())
    statuses = [r["status"] for r in dev_github.requests() if r["path"] == "/orgs/big/members"]
    assert statuses.count(304) == 5


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("rate", "RateLimited"),
        ("outage", "Unreachable"),
        ("token", "Unauthorized"),
        ("org", "NotFound"),
    ],
)
def test_failures_are_classified(dev_github: DevGitHub, change: str, reason: str) -> None:
    token, org = ALICE_TOKEN, "acme"
    if change == "rate":
        dev_github.rate_limited(True)
    elif change == "outage":
        dev_github.outage(503)
    elif change == "token":
        token = "ghp_nope"
    else:
        org = "nope"
    client = github.GitHubClient()

    async def scenario() -> None:
        try:
            with pytest.raises(github.GitHubError) as raised:
                await client.organization_members(dev_github.url, org, token)
            assert raised.value.reason == reason
        finally:
            await client.close()

    asyncio.run(scenario())


def test_an_unreachable_github_is_unreachable() -> None:
    client = github.GitHubClient(timeout=2)

    async def scenario() -> None:
        try:
            with pytest.raises(github.GitHubError) as raised:
                await client.organization_members("http://127.0.0.1:9", "acme", "t")
            assert raised.value.reason == "Unreachable"
        finally:
            await client.close()

    asyncio.run(scenario())
