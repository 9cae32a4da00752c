"""The Organization reconciler: its namespace, and counts of what lives in it.

An Organization owns the namespace of its own name; its Teams and Workspaces live there.
The controller creates the namespace (:func:`namespace_of`, labelled back to the
Organization) and reports in the status how many members, teams and (running) workspaces
the organization has. Conditions: ``Ready`` (the summary), ``NamespaceReady``.

NB: deleting an Organization leaves its namespace, and so its workspaces and their homes,
in place; deleting the namespace is a separate, deliberate act.
"""

from __future__ import annotations

import dataclasses
import datetime

from api import meta
from api.organization import Organization, OrganizationStatus
from reconcilers import conditions

NAMESPACE_READY = "NamespaceReady"
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
    ready = conditions.condition(
        previous,
        type_=meta.READY,
        status=ns_status,
        reason="Ready" if namespace_error is None else ns_reason,
        message=ns_message,
        generation=generation,
        at=at,
    )
    conds = [ready, namespace_ready]
    return OrganizationStatus(
        observed_generation=generation,
        conditions=conds,
        message=conditions.first_failing_message(conds),
        namespace=namespace,
        members=len(organization.spec.members),
        teams=counts.teams,
        workspaces=counts.workspaces,
        running_workspaces=counts.running_workspaces,
    )


def counts_patch(organization: Organization, counts: Counts) -> dict[str, int]:
    """The status merge patch that brings the counts up to date (empty when they are)."""
    status = organization.status
    wanted = {
        "members": len(organization.spec.members),
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
