"""The Organization reconciler: its namespace and the counts in its status."""

from __future__ import annotations

import datetime
from typing import Any

from api import meta
from api.organization import Organization
from reconcilers import organization

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def org(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> Organization:
    return Organization.model_validate(
        {
            "metadata": {"name": "acme", "generation": 2},
            "spec": spec or {"members": [{"user": "alice", "role": "owner"}, {"user": "bob"}]},
            "status": status or {},
        }
    )


def test_organization_status_counts_and_names_its_namespace() -> None:
    counts = organization.Counts(teams=2, workspaces=3, running_workspaces=1)
    status = organization.status_of(org(), counts=counts, namespace_error=None, at=T0)
    assert status.namespace == "acme"
    assert (status.members, status.teams, status.workspaces, status.running_workspaces) == (
        2,
        2,
        3,
        1,
    )
    assert [c.type for c in status.conditions] == ["Ready", "NamespaceReady"]
    assert all(c.status == "True" and c.observed_generation == 2 for c in status.conditions)
    assert status.observed_generation == 2
    assert status.message is None


def test_organization_without_its_namespace_is_not_ready_and_says_why() -> None:
    status = organization.status_of(
        org(), counts=organization.Counts(), namespace_error="403 forbidden", at=T0
    )
    ready = meta.find_condition(status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "CreateFailed"
    assert status.message == "cannot create namespace acme: 403 forbidden"


def test_namespace_labels_point_back_to_the_organization() -> None:
    assert organization.namespace_labels(org()) == {
        "wws.dev/organization": "acme",
        "app.kubernetes.io/managed-by": "wws",
    }


def test_counts_patch_is_empty_when_current() -> None:
    current = org(status={"members": 2, "teams": 1, "workspaces": 4, "runningWorkspaces": 2})
    same = organization.Counts(teams=1, workspaces=4, running_workspaces=2)
    assert organization.counts_patch(current, same) == {}
    fewer = organization.Counts(teams=1, workspaces=3, running_workspaces=2)
    assert organization.counts_patch(current, fewer) == {"workspaces": 3}
