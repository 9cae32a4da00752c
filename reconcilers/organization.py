"""The Organization reconciler: its namespace, and counts of what lives in it.

An Organization owns the namespace of its own name; its Teams and Workspaces live there.
The controller creates the namespace (:func:`namespace_of`, labelled back to the
Organization) and reports in the status how many members, teams and (running) workspaces
the organization has. Conditions: ``Ready`` (the summary of NamespaceReady and AccessReady),
``NamespaceReady``, ``AccessReady`` (the RBAC objects that enforce membership are in place,
:func:`access_patch`) and ``GitHubSynced`` (with ``spec.github``).

Two writers share the status: the Organization handler (namespace, counts) and the access
loop (effective members, AccessReady, GitHubSynced). Each keeps the other's conditions as
they are, so neither undoes the other.

NB: deleting an Organization leaves its namespace, and so its workspaces and their homes,
in place; deleting the namespace is a separate, deliberate act.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

from api import meta
from api.organization import EffectiveMember, Organization, OrganizationStatus
from reconcilers import conditions

NAMESPACE_READY = "NamespaceReady"
ACCESS_READY = "AccessReady"
GITHUB_SYNCED = "GitHubSynced"
LABEL_ORGANIZATION = f"{meta.GROUP}/organization"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"


@dataclasses.dataclass(frozen=True)
class Counts:
    """What lives in the organization's namespace."""

    teams: int = 0
    workspaces: int = 0
    running_workspaces: int = 0


def namespace_of(organization: Organization) -> str:
    """The namespace of the organization's Teams and Workspaces: its own name."""
    return organization.metadata.name


def namespace_labels(organization: Organization) -> dict[str, str]:
    """Labels of the namespace the controller creates for ``organization``."""
    return {LABEL_ORGANIZATION: organization.metadata.name, LABEL_MANAGED_BY: "wws"}


def status_of(
    organization: Organization,
    *,
    counts: Counts,
    namespace_error: str | None,
    at: datetime.datetime,
) -> OrganizationStatus:
    """The new status; ``namespace_error`` says why the namespace could not be ensured."""
    previous = organization.status.conditions
    generation = organization.metadata.generation
    namespace = namespace_of(organization)
    if namespace_error is None:
        ns_status, ns_reason, ns_message = meta.ConditionStatus.TRUE, "Exists", ""
    else:
        ns_status, ns_reason = meta.ConditionStatus.FALSE, "CreateFailed"
        ns_message = f"cannot create namespace {namespace}: {namespace_error}"
    namespace_ready = conditions.condition(
        previous,
        type_=NAMESPACE_READY,
        status=ns_status,
        reason=ns_reason,
        message=ns_message,
        generation=generation,
        at=at,
    )
    kept = [
        found
        for type_ in (ACCESS_READY, GITHUB_SYNCED)
        if (found := meta.find_condition(previous, type_)) is not None
    ]
    conds = _with_ready(previous, [namespace_ready, *kept], generation=generation, at=at)
    return OrganizationStatus(
        observed_generation=generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        namespace=namespace,
        members=member_count(organization),
        effective_members=organization.status.effective_members,
        github=organization.status.github,
        teams=counts.teams,
        workspaces=counts.workspaces,
        running_workspaces=counts.running_workspaces,
    )


def _with_ready(
    previous: Sequence[meta.Condition],
    others: list[meta.Condition],
    *,
    generation: int | None,
    at: datetime.datetime,
) -> list[meta.Condition]:
    """``others`` preceded by Ready: False with the first of NamespaceReady and AccessReady
    that is False (GitHubSynced does not count: the last known members stay in force)."""
    failing = next(
        (
            c
            for c in others
            if c.type in (NAMESPACE_READY, ACCESS_READY) and c.status == meta.ConditionStatus.FALSE
        ),
        None,
    )
    ready = conditions.condition(
        previous,
        type_=meta.READY,
        status=meta.ConditionStatus.FALSE if failing else meta.ConditionStatus.TRUE,
        reason=failing.reason if failing else "Ready",
        message=failing.message if failing else "",
        generation=generation,
        at=at,
    )
    return [ready, *others]


def member_count(organization: Organization) -> int:
    """How many members: the effective ones once resolved, ``spec.members`` until then."""
    status = organization.status
    return (
        len(status.effective_members)
        if status.effective_members
        else len(organization.spec.members)
    )


def access_patch(
    organization: Organization,
    *,
    members: Sequence[EffectiveMember],
    access_error: str | None,
    rbac_served: bool = True,
    github: meta.GitHubMembers | None,
    github_condition: tuple[meta.ConditionStatus, str, str] | None,
    at: datetime.datetime,
) -> dict[str, Any]:
    """The status merge patch of the access loop: effective members, AccessReady,
    GitHubSynced (``github_condition``: status, reason, message; ``None``: no GitHub source)
    and Ready; empty when nothing changes. Without RBAC on the API server (``rbac_served``
    False) membership cannot be enforced: AccessReady is Unknown, and says so."""
    previous = organization.status.conditions
    generation = organization.metadata.generation
    if not rbac_served:
        access_status, access_reason = meta.ConditionStatus.UNKNOWN, "RBACNotServed"
        access_message = (
            "the API server does not serve rbac.authorization.k8s.io/v1: membership is"
            " resolved but not enforced"
        )
    elif access_error:
        access_status, access_reason = meta.ConditionStatus.FALSE, "ApplyFailed"
        access_message = f"cannot apply the access rules: {access_error}"
    else:
        access_status, access_reason, access_message = meta.ConditionStatus.TRUE, "Applied", ""
    access = conditions.condition(
        previous,
        type_=ACCESS_READY,
        status=access_status,
        reason=access_reason,
        message=access_message,
        generation=generation,
        at=at,
    )
    others = [c for c in previous if c.type == NAMESPACE_READY] + [access]
    if github_condition is not None:
        status, reason, message = github_condition
        others.append(
            conditions.condition(
                previous,
                type_=GITHUB_SYNCED,
                status=status,
                reason=reason,
                message=message,
                generation=generation,
                at=at,
            )
        )
    conds = _with_ready(previous, others, generation=generation, at=at)
    new = OrganizationStatus(
        conditions=conds,
        message=conditions.first_failing_message(conds),
        members=len(members),
        effective_members=list(members),
        github=github,
    ).to_dict()
    old = organization.status.to_dict()
    wanted = {
        key: new.get(key)
        for key in ("conditions", "message", "members", "effectiveMembers", "github")
    }
    return {key: value for key, value in wanted.items() if old.get(key) != value}


def counts_patch(organization: Organization, counts: Counts) -> dict[str, int]:
    """The status merge patch that brings the counts up to date (empty when they are)."""
    status = organization.status
    wanted = {
        "members": member_count(organization),
        "teams": counts.teams,
        "workspaces": counts.workspaces,
        "runningWorkspaces": counts.running_workspaces,
    }
    current = {
        "members": status.members,
        "teams": status.teams,
        "workspaces": status.workspaces,
        "runningWorkspaces": status.running_workspaces,
    }
    return {key: value for key, value in wanted.items() if current[key] != value}
