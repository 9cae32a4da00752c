"""The Team reconciler: effective members from the spec and the GitHub team."""

from __future__ import annotations

import datetime
from typing import Any

from api import meta
from api.team import Team
from reconcilers import team

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def make_team(spec: dict[str, Any]) -> Team:
    return Team.model_validate(
        {"metadata": {"name": "platform", "namespace": "acme", "generation": 1}, "spec": spec}
    )


def test_team_effective_members_from_spec_and_github() -> None:
    item = make_team({"members": [{"user": "bob", "role": "maintainer"}, {"user": "Alice"}]})
    members = team.effective_members(item, github_members=["carol", "bob"])
    assert [(m.user, m.role.value, m.source.value) for m in members] == [
        ("Alice", "member", "spec"),
        ("bob", "maintainer", "spec"),
        ("carol", "member", "github"),
    ]


def test_team_status_lists_members_and_explains_the_github_team() -> None:
    status = team.status_of(make_team({"members": [{"user": "bob"}]}), at=T0)
    assert status.members == 1
    assert [m.user for m in status.effective_members] == ["bob"]
    resolved = meta.find_condition(status.conditions, "MembersResolved")
    assert resolved is not None and resolved.reason == "Spec"

    with_github = team.status_of(
        make_team({"members": [{"user": "bob"}], "githubTeam": "acme/platform"}), at=T0
    )
    resolved = meta.find_condition(with_github.conditions, "MembersResolved")
    assert resolved is not None and resolved.status == "True"
    assert "acme/platform" in resolved.message
