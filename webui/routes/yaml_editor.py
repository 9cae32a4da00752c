"""The YAML editor: create from YAML or edit a workspace's spec.

Check = a server-side dry run as the person (the API's validation and admission, nothing
stored); errors are shown at the field they name; a diff against what is stored comes
before Apply; Apply sends the object with the resourceVersion it was edited from, so a
change made meanwhile is a 409 that offers a reload instead of overwriting it.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api import meta
from webui.kube import ApiError, path
from webui.routes.workspaces import _api_error_page
from webui.state import person_of, ui_of
from webui.templates import render


def editable(obj: dict[str, Any]) -> dict[str, Any]:
    """What the editor shows of a stored Workspace: identity, labels, annotations, spec."""
    metadata = obj.get("metadata") or {}
    kept = {
        k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if metadata.get(k)
    }
    kept["resourceVersion"] = metadata.get("resourceVersion", "")
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": kept,
        "spec": obj.get("spec") or {},
    }


def dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def line_of(text: str, field: str) -> int | None:
    """The 1-based line of ``field`` (``spec.resources.cpu``) in the YAML text, if found."""
    keys = [k.split("[")[0] for k in field.split(".") if k]
    lines = text.splitlines()
    start, indent = 0, -1
    found: int | None = None
    for key in keys:
        for number in range(start, len(lines)):
            stripped = lines[number].lstrip(" -")
            current = len(lines[number]) - len(lines[number].lstrip(" "))
            if current <= indent and number > start:
                break
            if stripped.startswith(f"{key}:") and current > indent:
                found, start, indent = number + 1, number + 1, current
                break
        else:
            return found
    return found


async def editor(request: Request) -> Response:
    ui, person = ui_of(request), person_of(request)
    namespace = request.query_params.get("namespace") or ""
    name = request.query_params.get("name") or ""
    if name:
        try:
            obj = await ui.api.call(
                person, "GET", path("workspaces", namespace=namespace, name=name)
            )
        except ApiError as error:
            return _api_error_page(request, error)
        text = dump(editable(obj))
    else:
        text = dump(
            {
                "apiVersion": f"{meta.GROUP}/{meta.VERSION}",
                "kind": "Workspace",
                "metadata": {"name": "", "namespace": namespace},
                "spec": {"owner": person.login, "resources": {"cpu": "2", "memory": "4Gi"}},
            }
        )
    return render(
        request,
        "yaml.html",
        {
            "text": text,
            "errors": [],
            "diff": "",
            "ok": False,
            "conflict": False,
            "editing": bool(name),
        },
    )


async def _parse(text: str) -> tuple[dict[str, Any] | None, str]:
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return None, f"not YAML: {error}"
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return None, "expected one Workspace object with metadata"
    if obj.get("kind") != "Workspace":
        return None, "kind: only Workspace can be edited here"
    return obj, ""


async def check(request: Request) -> Response:
    return await _submit(request, apply=False)


async def apply(request: Request) -> Response:
    return await _submit(request, apply=True)


async def _submit(request: Request, *, apply: bool) -> Response:
    ui, person = ui_of(request), person_of(request)
    form = await request.form()
    text = str(form.get("yaml") or "")
    context: dict[str, Any] = {
        "text": text,
        "errors": [],
        "diff": "",
        "ok": False,
        "conflict": False,
        "editing": False,
    }
    obj, problem = await _parse(text)
    if obj is None:
        context["errors"] = [{"field": "", "message": problem, "line": None}]
        return render(request, "yaml.html", context, 422)
    metadata = obj["metadata"]
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    version = str(metadata.get("resourceVersion") or "")
    context["editing"] = bool(version)
    collection = path("workspaces", namespace=namespace)
    stored: dict[str, Any] | None = None
    if version:
        try:
            stored = await ui.api.call(
                person, "GET", path("workspaces", namespace=namespace, name=name)
            )
        except ApiError as error:
            return _api_error_page(request, error)
        # NB: a PUT replaces the whole object; keep the status and the fields the editor hides.
        full = {**stored, "metadata": {**stored["metadata"], **metadata}, "spec": obj.get("spec")}
        method, target, body = "PUT", f"{collection}/{name}", full
    else:
        method, target, body = "POST", collection, obj
    try:
        answer = await ui.api.call(
            person, method, target, body=body, params=None if apply else {"dryRun": "All"}
        )
    except ApiError as error:
        if error.status == 409:
            context["conflict"] = True
            context["errors"] = [{"field": "", "message": str(error), "line": None}]
            return render(request, "yaml.html", context, 409)
        causes = error.causes() or [{"field": "", "message": str(error)}]
        context["errors"] = [
            {
                "field": c.get("field", ""),
                "message": c.get("message", ""),
                "line": line_of(text, str(c.get("field") or "")),
            }
            for c in causes
        ]
        return render(request, "yaml.html", context, error.status if error.status < 500 else 502)
    if apply:
        target_name = answer.get("metadata", {}).get("name", name)
        return RedirectResponse(f"/workspaces/{namespace}/{target_name}", status_code=303)
    before = dump(editable(stored)) if stored is not None else ""
    shown = editable(answer)
    shown["metadata"]["resourceVersion"] = version
    after = dump(shown) if stored is not None else dump(obj)
    context["diff"] = "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), "stored", "yours")
    )
    context["ok"] = True
    return render(request, "yaml.html", context)


routes = [
    Route("/yaml", editor, methods=["GET"]),
    Route("/yaml/check", check, methods=["POST"]),
    Route("/yaml/apply", apply, methods=["POST"]),
]
