"""The dashboard, a workspace's page, its buttons, and the create form.

Each handler: find the person, ask the API (as them) or the live mirror (filtered by what
the API lets them list), render. Buttons are shown only when the API would accept the write
from this person (RBAC review + a server-side dry run of the very write).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from api import languages, meta
from api.workspace import DEFAULT_IMAGE, RESTARTED_AT_ANNOTATION, Phase
from webui import github, sshblock, templates, views
from webui.kube import ApiError, Person, path
from webui.state import UI, person_of, ui_of
from webui.templates import render
from wws import logconfig

log = logconfig.get(__name__)


async def visible_namespaces(ui: UI, person: Person) -> list[str]:
    """Organizations' namespaces where the API lets the person list workspaces."""
    names = [o["metadata"]["name"] for o in await ui.organizations_of(person)]
    if person.bootstrap:
        names = sorted({*names, *ui.mirror.namespaces()})
    return [
        ns
        for ns in names
        if await ui.api.can(person, verb="list", resource="workspaces", namespace=ns)
    ]


async def dashboard(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    await ui.mirror.synced.wait()
    scope = request.query_params.get("show", "all")
    search = (request.query_params.get("q") or "").strip().lower()
    phase = request.query_params.get("phase") or ""
    org = request.query_params.get("org") or ""
    teams = await my_teams(ui, person) if scope == "teams" else set()
    rows = []
    for namespace in await visible_namespaces(ui, person):
        if org and namespace != org:
            continue
        for obj in ui.mirror.in_namespace(namespace):
            item = views.row(obj)
            if scope == "mine" and item["owner"] != person.login:
                continue
            if scope == "teams" and (namespace, item["team"]) not in teams:
                continue
            if phase and item["phase"] != phase:
                continue
            if search and not any(
                search in str(item[k]).lower() for k in ("name", "owner", "team", "message")
            ):
                continue
            metadata = obj.get("metadata") or {}
            key = (
                str(metadata.get("uid")),
                str(metadata.get("resourceVersion")),
                item["age"],
                item["activity"],
            )
            rows.append((item["namespace"], item["name"], templates.dashboard_row(item, key)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return render(
        request,
        "dashboard.html",
        {
            "rows": [html for _namespace, _name, html in rows],
            "show": scope,
            "q": search,
            "phase": phase,
            "org": org,
            "phases": [phase.value for phase in Phase],
            "invitations": await ui.invitations_for(person),
        },
    )


_TEAMS_CACHE: dict[str, tuple[float, set[tuple[str, str]]]] = {}
TEAMS_CACHE_SECONDS = 2.0


async def my_teams(ui: UI, person: Person) -> set[tuple[str, str]]:
    """(namespace, team) pairs whose Team lists the person (as the person reads them; kept
    for a couple of seconds, like the access answers)."""
    cached = _TEAMS_CACHE.get(person.username)
    if cached is not None and time.monotonic() - cached[0] < TEAMS_CACHE_SECONDS:
        return cached[1]
    found = await _read_my_teams(ui, person)
    if len(_TEAMS_CACHE) > 10000:
        _TEAMS_CACHE.clear()
    _TEAMS_CACHE[person.username] = (time.monotonic(), found)
    return found


async def _read_my_teams(ui: UI, person: Person) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for org in await ui.organizations_of(person):
        namespace = org["metadata"]["name"]
        try:
            answer = await ui.api.call(person, "GET", path("teams", namespace=namespace))
        except ApiError:
            continue
        for team in answer.get("items") or []:
            members = (team.get("spec") or {}).get("members") or []
            effective = (team.get("status") or {}).get("effectiveMembers")
            effective = effective if isinstance(effective, list) else []
            logins = {
                str(m.get("user", "")).lower()
                for m in [*members, *effective]
                if isinstance(m, dict)
            }
            if person.login in logins:
                found.add((namespace, team["metadata"]["name"]))
    return found


async def workspace_page(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    target = path("workspaces", namespace=namespace, name=name)
    try:
        obj = await ui.api.call(person, "GET", target)
    except ApiError as error:
        return _api_error_page(request, error)
    try:
        events = await ui.api.call(
            person,
            "GET",
            path("events", namespace=namespace, group=""),
            params={"fieldSelector": f"involvedObject.name={name}"},
        )
        recent = sorted(
            events.get("items") or [],
            key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
            reverse=True,
        )[:20]
    except ApiError:
        recent = []
    running = bool((obj.get("spec") or {}).get("running", True)) and not views.held_idle(obj)
    actions = await allowed_actions(ui, person, namespace, name, running)
    connect = await ui.api.may_connect(person, namespace, name)
    ssh_block = sshblock.render(obj, public_host=request.url.hostname or "127.0.0.1")
    return render(
        request,
        "workspace.html",
        {
            "ws": obj,
            "row": views.row(obj),
            "conditions": (obj.get("status") or {}).get("conditions") or [],
            "events": [
                {
                    "type": e.get("type", ""),
                    "reason": e.get("reason", ""),
                    "message": e.get("message", ""),
                    "age": views.age(e.get("lastTimestamp") or e.get("eventTime")),
                }
                for e in recent
            ],
            "endpoints": (obj.get("status") or {}).get("endpoints") or {},
            "actions": actions,
            "connect": connect,
            "ssh_block": ssh_block,
            "ssh_host": sshblock.host_alias(obj),
            "editor_links": sshblock.editor_links(obj),
        },
    )


async def allowed_actions(
    ui: UI, person: Person, namespace: str, name: str, running: bool
) -> set[str]:
    """Which buttons to show: each is a dry run of the write the button makes."""
    target = path("workspaces", namespace=namespace, name=name)
    actions: set[str] = set()
    if await ui.api.can(
        person, verb="patch", resource="workspaces", namespace=namespace, name=name
    ):
        toggle = {"spec": {"running": not running}}
        if await ui.api.dry_run(person, "PATCH", target, body=toggle):
            actions.add("stop" if running else "start")
            if running:
                actions.add("restart")
        if await ui.api.dry_run(person, "PATCH", target, body={"metadata": {"labels": {}}}):
            actions.add("edit")
    if await ui.api.can(
        person, verb="delete", resource="workspaces", namespace=namespace, name=name
    ) and await ui.api.dry_run(person, "DELETE", target, body=None):
        actions.add("delete")
    return actions


def action_patch(action: str) -> dict[str, Any] | None:
    """The spec edit (or annotation) a button makes; never a status write."""
    if action == "start":
        return views.wake_patch()
    if action == "stop":
        return {"spec": {"running": False}}
    if action == "restart":
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}
    return None


async def workspace_action(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    action = request.path_params["action"]
    target = path("workspaces", namespace=namespace, name=name)
    form = await request.form()
    try:
        if action == "delete":
            if form.get("confirm") != name:
                return render(
                    request,
                    "message.html",
                    {
                        "message": "Type the workspace's name to confirm the deletion.",
                        "status": 422,
                    },
                    422,
                )
            await ui.api.call(person, "DELETE", target)
            log.info("webui.workspace_deleted", namespace=namespace, name=name, login=person.login)
            return RedirectResponse("/", status_code=303)
        patch = action_patch(action)
        if patch is None:
            return render(
                request, "message.html", {"message": "Unknown action.", "status": 404}, 404
            )
        await ui.api.call(
            person, "PATCH", target, body=patch, content_type="application/merge-patch+json"
        )
    except ApiError as error:
        return _api_error_page(request, error)
    log.info(
        "webui.workspace_action", namespace=namespace, name=name, action=action, login=person.login
    )
    back = request.query_params.get("back") or ""
    # NB: only a local path (not //host or /\host, which browsers read as another site).
    local = back.startswith("/") and not back.startswith("//") and "\\" not in back
    return RedirectResponse(back if local else f"/workspaces/{namespace}/{name}", status_code=303)


async def ssh_config(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    try:
        obj = await ui.api.call(person, "GET", path("workspaces", namespace=namespace, name=name))
    except ApiError as error:
        return _api_error_page(request, error)
    block = sshblock.render(obj, public_host=request.url.hostname or "127.0.0.1")
    return PlainTextResponse(
        block,
        headers={"Content-Disposition": f'attachment; filename="{namespace}-{name}.ssh-config"'},
    )


# -- the create form ------------------------------------------------------------------------

FORM_FIELDS = (
    "name",
    "org",
    "provider",
    "image",
    "cpu",
    "memory",
    "disk",
    "home",
    "team",
    "dotfiles",
    "bootstrap",
    "idle",
    "token_secret",
)


async def create_form(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    return await _render_form(ui, request, person, {"org": request.query_params.get("org", "")}, {})


async def _render_form(
    ui: UI,
    request: Request,
    person: Person,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    orgs = []
    for org in await ui.organizations_of(person):
        namespace = org["metadata"]["name"]
        if await ui.api.can(person, verb="create", resource="workspaces", namespace=namespace):
            orgs.append(org)
    org_name = values.get("org") or (orgs[0]["metadata"]["name"] if orgs else "")
    org_obj = next((o for o in orgs if o["metadata"]["name"] == org_name), None)
    providers = ((org_obj or {}).get("spec") or {}).get("policy", {}).get("providers") or [
        p.value for p in meta.Provider
    ]
    teams: list[str] = []
    if org_name:
        try:
            answer = await ui.api.call(person, "GET", path("teams", namespace=org_name))
            teams = [t["metadata"]["name"] for t in answer.get("items") or []]
        except ApiError:
            teams = []
    keys = (
        await github.public_keys(ui.settings.github, person.login) if not person.bootstrap else []
    )
    return render(
        request,
        "create.html",
        {
            "orgs": [o["metadata"]["name"] for o in orgs],
            "org": org_name,
            "providers": providers,
            "teams": teams,
            "languages": list(languages.known().values()),
            "keys": keys,
            "values": {
                "image": DEFAULT_IMAGE,
                "cpu": "2",
                "memory": "4Gi",
                "disk": "20Gi",
                "home": "10Gi",
                "idle": "30m",
                **values,
            },
            "errors": errors,
        },
        status,
    )


def manifest_from_form(form: dict[str, Any], person: Person, keys: list[str]) -> dict[str, Any]:
    """The Workspace a create form asks for (the API validates it)."""

    def value(name: str) -> str:
        return str(form.get(name) or "").strip()

    spec: dict[str, Any] = {
        "owner": person.login,
        "provider": value("provider") or "podman",
        "running": True,
        "image": value("image") or DEFAULT_IMAGE,
        "resources": {
            "cpu": value("cpu") or "2",
            "memory": value("memory") or "4Gi",
            "disk": value("disk") or "20Gi",
        },
        "home": {"size": value("home") or "10Gi"},
        "idle": {"timeout": value("idle") or "30m"},
    }
    if value("team"):
        spec["team"] = value("team")
    if value("dotfiles"):
        spec["dotfiles"] = {"repo": value("dotfiles")}
    if value("bootstrap"):
        spec["bootstrap"] = {"script": str(form.get("bootstrap") or "")}
    if value("token_secret"):
        spec["github"] = {"tokenSecretRef": {"name": value("token_secret"), "key": "token"}}
    chosen = []
    for name, definition in languages.known().items():
        if form.get(f"lang_{name}"):
            entry = {"name": name}
            version = str(form.get(f"version_{name}") or "")
            if version and version != definition.default_version:
                entry["version"] = version
            chosen.append(entry)
    if chosen:
        spec["languages"] = chosen
    if keys:
        spec["ssh"] = {"authorizedKeys": keys}
    return {
        "apiVersion": f"{meta.GROUP}/{meta.VERSION}",
        "kind": "Workspace",
        "metadata": {"name": value("name"), "namespace": value("org")},
        "spec": spec,
    }


FIELD_OF_PATH = {
    "metadata.name": "name",
    "spec.provider": "provider",
    "spec.image": "image",
    "spec.resources.cpu": "cpu",
    "spec.resources.memory": "memory",
    "spec.resources.disk": "disk",
    "spec.home.size": "home",
    "spec.team": "team",
    "spec.dotfiles.repo": "dotfiles",
    "spec.bootstrap.script": "bootstrap",
    "spec.idle.timeout": "idle",
    "spec.github.tokenSecretRef.name": "token_secret",
}


def field_errors(error: ApiError) -> dict[str, str]:
    """The API's 422 causes, keyed by the form field they name (``_`` for the rest)."""
    errors: dict[str, str] = {}
    for cause in error.causes():
        field = str(cause.get("field") or "")
        key = FIELD_OF_PATH.get(field, "_")
        if field.startswith("spec.languages"):
            key = "languages"
        errors[key] = (errors.get(key, "") + " " + str(cause.get("message") or "")).strip()
    if not errors:
        errors["_"] = str(error)
    return errors


async def create(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    keys = [str(k) for k in form.getlist("ssh_key")]
    manifest = manifest_from_form(values, person, keys)
    namespace = manifest["metadata"]["namespace"]
    errors: dict[str, str] = {}
    if not manifest["metadata"]["name"]:
        errors["name"] = "a name is required"
    if not namespace:
        errors["org"] = "choose an organization"
    if errors:
        return await _render_form(ui, request, person, values, errors, 422)
    try:
        await ui.api.call(person, "POST", path("workspaces", namespace=namespace), body=manifest)
    except ApiError as error:
        if error.status == 422:
            return await _render_form(ui, request, person, values, field_errors(error), 422)
        return await _render_form(ui, request, person, values, {"_": str(error)}, error.status)
    log.info(
        "webui.workspace_created",
        namespace=namespace,
        name=manifest["metadata"]["name"],
        login=person.login,
    )
    return RedirectResponse(
        f"/workspaces/{namespace}/{manifest['metadata']['name']}", status_code=303
    )


def _api_error_page(request: Request, error: ApiError) -> Response:
    status = error.status if error.status in (403, 404, 409, 422) else 502
    return render(request, "message.html", {"message": str(error), "status": status}, status)


def as_yaml(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


routes = [
    Route("/", dashboard, methods=["GET"]),
    Route("/new", create_form, methods=["GET"]),
    Route("/new", create, methods=["POST"]),
    Route("/workspaces/{namespace}/{name}", workspace_page, methods=["GET"]),
    Route("/workspaces/{namespace}/{name}/ssh-config", ssh_config, methods=["GET"]),
    Route("/workspaces/{namespace}/{name}/{action}", workspace_action, methods=["POST"]),
]
