"""kopf handler registration: which kopf cause calls which handler. Nothing else lives here.

Reconcilers decide (``reconcilers/``), providers act (``providers/``); the handlers connect
kopf's causes to them and write the result back, a module per kind of work:

- :mod:`controller.workspaces` — Workspace create / update / resume, delete, every watch
  event, and the closer look at one workspace; with :mod:`controller.steps` (credentials,
  acting, the agent's report, the status write) and :mod:`controller.follower` (the agent's
  report while it starts);
- :mod:`controller.runtime` — each provider's changes and listings, which ask for closer
  looks (:mod:`controller.checks`); :mod:`controller.secretwatch` — Secrets;
  :mod:`controller.slots` — provider actions at once, bounded and fair;
- :mod:`controller.organizations` — Organization and Team;
- :mod:`controller.access` — membership → RBAC, on every change that can change it (with
  :mod:`controller.githubsync`, members read from GitHub); Invitations;
- :mod:`controller.orphans` — the sweep at start;
- :mod:`controller.lifecycle` — kopf's startup and cleanup (the background work);
- :mod:`controller.context` — what every handler shares (kopf's ``memo``).
"""

from __future__ import annotations

import kopf

from api import meta
from api.invitation import Invitation
from api.organization import Organization
from api.team import Team
from api.workspace import Workspace
from controller import access, lifecycle, organizations, quotas, secretwatch, workspaces

WORKSPACES = (meta.GROUP, meta.VERSION, Workspace.RESOURCE.plural)
ORGANIZATIONS = (meta.GROUP, meta.VERSION, Organization.RESOURCE.plural)
TEAMS = (meta.GROUP, meta.VERSION, Team.RESOURCE.plural)
INVITATIONS = (meta.GROUP, meta.VERSION, Invitation.RESOURCE.plural)
SECRETS = ("", "v1", "secrets")

#: The finalizer kopf keeps on every Workspace until its container and home are deleted.
FINALIZER = f"{meta.GROUP}/workspace-cleanup"


def register(reg: kopf.OperatorRegistry) -> None:
    """Register every handler of the controller in ``reg``."""
    kopf.on.startup(registry=reg)(lifecycle.startup)
    kopf.on.cleanup(registry=reg)(lifecycle.cleanup)

    kopf.index(*WORKSPACES, id="wws_workspaces", registry=reg)(workspaces.workspaces_index)
    kopf.index(*TEAMS, id="wws_teams", registry=reg)(organizations.teams_index)
    kopf.index(*ORGANIZATIONS, id="wws_organizations", registry=reg)(
        organizations.organizations_index
    )

    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(*WORKSPACES, id="reconcile", registry=reg)(workspaces.reconcile_workspace)
        on(*ORGANIZATIONS, id="reconcile", registry=reg)(organizations.reconcile_organization)
        on(*TEAMS, id="reconcile", registry=reg)(organizations.reconcile_team)
    kopf.on.delete(*WORKSPACES, id="cleanup", registry=reg)(workspaces.delete_workspace)
    # NB: optional: no finalizer, nothing external to clean up for these two kinds.
    kopf.on.delete(*ORGANIZATIONS, id="deleted", optional=True, registry=reg)(
        organizations.organization_deleted
    )
    kopf.on.delete(*TEAMS, id="deleted", optional=True, registry=reg)(organizations.team_deleted)
    kopf.on.event(*WORKSPACES, id="observe", registry=reg)(workspaces.workspace_event)
    kopf.on.event(*TEAMS, id="observe", registry=reg)(organizations.team_event)
    # Quotas and policy: limits followed per event (controller.quotas).
    kopf.on.event(*ORGANIZATIONS, id="quota", registry=reg)(quotas.organization_event)
    kopf.on.event(*TEAMS, id="quota", registry=reg)(quotas.team_event)
    # Membership → RBAC: every change that can change who may do what marks the organization.
    kopf.on.event(*ORGANIZATIONS, id="access", registry=reg)(access.organization_event)
    kopf.on.event(*TEAMS, id="access", registry=reg)(access.namespaced_event)
    kopf.on.event(*INVITATIONS, id="access", registry=reg)(access.namespaced_event)
    kopf.on.event(*WORKSPACES, id="access", registry=reg)(access.workspace_event)
    kopf.on.event(*SECRETS, id="follow", registry=reg)(secretwatch.secret_event)
