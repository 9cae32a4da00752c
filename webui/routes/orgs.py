"""Organizations: the person's list, one organization's members, teams, invitations, policy.

Invitations are ``Invitation`` objects in the organization's namespace (api/invitation.py);
the UI creates, revokes (``spec.revoked``) and accepts (``status.acceptedBy``) them as the
person, and the API decides.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webui.kube import ApiError, path
from webui.routes.workspaces import _api_error_page
from webui.state import person_of, ui_of
from webui.templates import render
from wws import logconfig

log = logconfig.get(__name__)


async def organizations(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    orgs = await ui.organizations_of(person)
    return render(
        request,
        "orgs.html",
        {"orgs": orgs, "invitations": await ui.invitations_for(person)},
    )


async def organization(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    name = request.path_params["org"]
    try:
        org = await ui.api.call(person, "GET", path("organizations", name=name))
    except ApiError as error:
        return _api_error_page(request, error)
    teams = await _items(request, "teams", name)
    invitations = await _items(request, "invitations", name)
    may_invite = await ui.api.can(person, verb="create", resource="invitations", namespace=name)
    may_revoke = await ui.api.can(person, verb="delete", resource="invitations", namespace=name)
    spec, status = org.get("spec") or {}, org.get("status") or {}
    effective = status.get("effectiveMembers")
    members = effective if isinstance(effective, list) else spec.get("members") or []
    return render(
        request,
        "org.html",
        {
            "org": org,
            "name": name,
            "members": members,
            "teams": teams,
            "org_invitations": invitations,
            "policy": spec.get("policy") or {},
            "may_invite": may_invite,
            "may_revoke": may_revoke,
            "invitations": await ui.invitations_for(person),
        },
    )


async def _items(request: Request, plural: str, namespace: str) -> list[dict[str, Any]]:
    ui, person = ui_of(request), person_of(request)
    try:
        answer = await ui.api.call(person, "GET", path(plural, namespace=namespace))
    except ApiError:
        return []
    return list(answer.get("items") or [])


async def invite(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    org = request.path_params["org"]
    form = await request.form()
    invitee = str(form.get("invitee") or "").strip()
    role = str(form.get("role") or "member")
    teams = [t.strip() for t in str(form.get("teams") or "").split(",") if t.strip()]
    spec: dict[str, Any] = {"invitee": invitee, "role": role}
    if teams:
        spec["teams"] = [{"name": team} for team in teams]
    if str(form.get("message") or "").strip():
        spec["message"] = str(form.get("message")).strip()
    body = {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Invitation",
        "metadata": {"generateName": "invite-", "namespace": org},
        "spec": spec,
    }
    try:
        await ui.api.call(person, "POST", path("invitations", namespace=org), body=body)
    except ApiError as error:
        return _api_error_page(request, error)
    ui.forget_invitations()
    log.info("webui.invited", namespace=org, login=person.login)
    return RedirectResponse(f"/orgs/{org}", status_code=303)


async def revoke(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    org, name = request.path_params["org"], request.path_params["name"]
    try:
        await ui.api.call(
            person,
            "PATCH",
            path("invitations", namespace=org, name=name),
            body={"spec": {"revoked": True}},
            content_type="application/merge-patch+json",
        )
    except ApiError as error:
        return _api_error_page(request, error)
    ui.forget_invitations()
    log.info("webui.invitation_revoked", namespace=org, name=name, login=person.login)
    return RedirectResponse(f"/orgs/{org}", status_code=303)


async def accept(request: Request) -> Response:
    """Accept as the invitee: ``status.acceptedBy`` set to the person's own user name,
    written as the person (an admission policy lets only the addressee do it)."""
    ui, person = ui_of(request), person_of(request)
    org, name = request.path_params["org"], request.path_params["name"]
    try:
        await ui.api.call(
            person,
            "PATCH",
            path("invitations", namespace=org, name=name) + "/status",
            body={"status": {"acceptedBy": person.username}},
            content_type="application/merge-patch+json",
        )
    except ApiError as error:
        return _api_error_page(request, error)
    ui.forget_invitations()
    log.info("webui.invitation_accepted", namespace=org, name=name, login=person.login)
    return RedirectResponse(f"/orgs/{org}", status_code=303)


routes = [
    Route("/orgs", organizations, methods=["GET"]),
    Route("/orgs/{org}", organization, methods=["GET"]),
    Route("/orgs/{org}/invitations", invite, methods=["POST"]),
    Route("/orgs/{org}/invitations/{name}/revoke", revoke, methods=["POST"]),
    Route("/orgs/{org}/invitations/{name}/accept", accept, methods=["POST"]),
]
