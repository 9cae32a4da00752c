"""Every kind of the WWS API, in the order that tools and docs show them."""

from __future__ import annotations

from api import invitation, meta, organization, team, workspace

ALL: tuple[type[meta.Resource], ...] = (
    organization.Organization,
    team.Team,
    workspace.Workspace,
    invitation.Invitation,
)


def by_kind(kind: str) -> type[meta.Resource]:
    """The model of ``kind`` (``KeyError`` for a kind that is not WWS's)."""
    return {model.RESOURCE.kind: model for model in ALL}[kind]
