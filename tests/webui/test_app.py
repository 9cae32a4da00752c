"""The web UI's handlers with Starlette's TestClient against the real store and stand-in:
sign-in, sessions, CSRF, every route's refusal of strangers, forms and the YAML editor."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.support.devgithub import DevGitHub
from tests.support.editorstandin import EditorStandIn
from tests.support.kubeapi import Api
from tests.support.storeproc import StoreProcess
from tests.support.waiting import eventually
from tests.webui.conftest import (
    BOOTSTRAP_TOKEN,
    UIFactory,
    csrf_of,
    may,
    oauth_redirect_to_callback,
    sign_in,
    workspace,
    ws_path,
)
from webui import guard
from webui.sessions import COOKIE

SignedIn = Callable[[str], tuple[TestClient, str]]


def _concrete(path: str) -> str:
    return (
        path.replace("{namespace}", "acme")
        .replace("{name}", "alice-dev")
        .replace("{org}", "acme")
        .replace("{action}", "stop")
        .replace("{rest:path}", "static/x.js")
    )


def test_every_route_refuses_a_stranger(ui: TestClient, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-dev"))
    checked = 0
    for route in ui.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        path = _concrete(route.path)
        if guard.is_public(path):
            continue
        if isinstance(route, WebSocketRoute):
            with pytest.raises(WebSocketDisconnect) as closed, ui.websocket_connect(path):
                pass
            assert closed.value.code == 4401
            checked += 1
            continue
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            answer = ui.request(method, path, headers={"Accept": "application/json"})
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert "alice-dev" not in answer.text or path.startswith("/w/")
            checked += 1
            if method == "GET":
                page = ui.get(path, headers={"Accept": "text/html"})
                assert page.status_code == 303
                assert page.headers["location"].startswith("/login?next=")
    assert checked >= 20
    # Nothing was done on the way: the workspace is as it was.
    assert api.get_json(ws_path("acme", "alice-dev"))["spec"]["running"] is True


def test_github_sign_in_names_the_person(signed_in: SignedIn) -> None:
    client, _csrf = signed_in("alice")
    page = client.get("/")
    assert page.status_code == 200
    assert "<summary>alice</summary>" in page.text
    cookie = next(c for c in client.cookies.jar if c.name == COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(cookie._rest).lower()


def test_session_cookie_attributes(ui: TestClient, dev_github: DevGitHub) -> None:
    started = ui.get("/login/github")
    callback = oauth_redirect_to_callback(dev_github, started.headers["location"], "alice")
    parts = urlsplit(callback)
    finished = ui.get(f"{parts.path}?{parts.query}")
    header = finished.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" not in header  # plain HTTP on loopback here; https public URLs add it


def test_secure_cookie_behind_https(ui_factory: UIFactory) -> None:
    with ui_factory.client(public_url="https://wws.example") as client:
        answer = client.get(f"/bootstrap?token={BOOTSTRAP_TOKEN}")
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()


def test_wrong_oauth_state_is_refused(ui: TestClient, dev_github: DevGitHub) -> None:
    started = ui.get("/login/github")
    callback = oauth_redirect_to_callback(dev_github, started.headers["location"], "alice")
    parts = urlsplit(callback)
    forged = parts.query.replace("state=", "state=forged")
    answer = ui.get(f"{parts.path}?{forged}")
    assert answer.status_code == 400
    assert "did not match" in answer.text
    assert "code=" not in answer.text
    assert ui.get("/", headers={"Accept": "text/html"}).status_code == 303


def test_callback_without_a_started_sign_in(ui: TestClient) -> None:
    answer = ui.get("/auth/callback?code=abc&state=xyz")
    assert answer.status_code == 400
    assert ui.get("/", headers={"Accept": "text/html"}).status_code == 303


def test_tampered_cookie_is_a_stranger(signed_in: SignedIn) -> None:
    client, _ = signed_in("alice")
    real = client.cookies[COOKIE]
    client.cookies.set(COOKIE, real[:-2] + ("AA" if not real.endswith("AA") else "BB"))
    answer = client.get("/", headers={"Accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_csrf_token_is_required(signed_in: SignedIn, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-csrf"))
    client, csrf = signed_in("alice")
    target = "/workspaces/acme/alice-csrf/stop"
    missing = client.post(target, data={})
    assert missing.status_code == 403
    forged = client.post(target, data={"csrf": "forged"})
    assert forged.status_code == 403
    header_forged = client.post(target, headers={"X-CSRF-Token": "forged"})
    assert header_forged.status_code == 403
    assert "csrf" not in forged.text.lower() or csrf not in forged.text
    assert api.get_json(ws_path("acme", "alice-csrf"))["spec"]["running"] is True
    done = client.post(target, data={"csrf": csrf})
    assert done.status_code == 303
    assert api.get_json(ws_path("acme", "alice-csrf"))["spec"]["running"] is False
    started = client.post(
        "/workspaces/acme/alice-csrf/start?back=/%5Cevil.example/", headers={"X-CSRF-Token": csrf}
    )
    assert started.status_code == 303
    assert started.headers["location"] == "/workspaces/acme/alice-csrf"  # never another site
    assert api.get_json(ws_path("acme", "alice-csrf"))["spec"]["running"] is True


def test_idle_session_expires(ui_factory: UIFactory, dev_github: DevGitHub) -> None:
    with ui_factory.client(session_idle_seconds=1.0) as client:
        sign_in(client, dev_github, "alice")
        assert client.get("/").status_code == 200
        time.sleep(1.3)
        answer = client.get("/", headers={"Accept": "text/html"})
        assert answer.status_code == 303


def test_absolute_session_limit(ui_factory: UIFactory, dev_github: DevGitHub) -> None:
    with ui_factory.client(session_max_seconds=1.5) as client:
        sign_in(client, dev_github, "alice")
        for _ in range(4):
            time.sleep(0.3)
            assert client.get("/").status_code == 200  # used all the time ...
        time.sleep(0.5)
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 303  # ... ends


def test_sign_out_and_sign_out_everywhere(ui: TestClient, dev_github: DevGitHub) -> None:
    # Three browsers of alice: three sessions (one client, its cookie swapped).
    sessions = []
    for _ in range(3):
        ui.cookies.clear()
        sign_in(ui, dev_github, "alice")
        sessions.append(ui.cookies[COOKIE])

    def as_browser(number: int) -> TestClient:
        ui.cookies.clear()
        ui.cookies.set(COOKIE, sessions[number])
        return ui

    assert all(as_browser(n).get("/").status_code == 200 for n in range(3))
    first = as_browser(0)
    assert first.post("/logout", data={"csrf": csrf_of(first)}).status_code == 303
    assert as_browser(0).get("/", headers={"Accept": "text/html"}).status_code == 303
    second = as_browser(1)
    assert second.get("/").status_code == 200
    assert second.post("/logout/everywhere", data={"csrf": csrf_of(second)}).status_code == 303
    assert as_browser(1).get("/", headers={"Accept": "text/html"}).status_code == 303
    assert as_browser(2).get("/", headers={"Accept": "text/html"}).status_code == 303


def test_bootstrap_link_works_once(ui_factory: UIFactory) -> None:
    with ui_factory.client() as client:
        assert client.get("/bootstrap?token=wrong").status_code == 400
        first = client.get(f"/bootstrap?token={BOOTSTRAP_TOKEN}")
        assert first.status_code == 303
        assert client.get("/").status_code == 200
        client.cookies.clear()
        again = client.get(f"/bootstrap?token={BOOTSTRAP_TOKEN}")
        assert again.status_code == 400


def test_person_in_no_organization_is_signed_out(
    signed_in: SignedIn, api: Api, store: StoreProcess
) -> None:
    # dave, alone in an organization of his own, is removed from it (acme stays as it is
    # for the other tests).
    api.create(
        "/apis/wws.dev/v1alpha1/organizations",
        {"apiVersion": "wws.dev/v1alpha1", "kind": "Organization", "metadata": {"name": "solo"},
         "spec": {"members": [{"user": "dave", "role": "owner"}]}},
    )  # fmt: skip
    eventually(
        lambda: may(store, "github:dave", "get", "organizations", name="solo"),
        "the controller's RBAC objects for solo",
    )
    client, _ = signed_in("dave")
    assert client.get("/").status_code == 200
    api.delete("/apis/wws.dev/v1alpha1/organizations/solo")
    time.sleep(2.5)  # the UI's membership answer is kept for 2 s
    answer = client.get("/")
    assert answer.status_code == 403
    assert "no longer a member" in answer.text
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 303


def test_create_form_lists_languages_and_github_keys(signed_in: SignedIn) -> None:
    client, _ = signed_in("alice")
    page = client.get("/new")
    assert page.status_code == 200
    for language in ("python", "node", "go", "rust"):
        assert f'name="lang_{language}"' in page.text
    assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx8sHSt8yZ5fXq0hN5TzBGBnIW9c0GkqcYB2FBmmFqS" in (
        page.text
    )


def test_create_form_makes_the_workspace(signed_in: SignedIn, api: Api) -> None:
    client, csrf = signed_in("alice")
    answer = client.post(
        "/new",
        data={
            "csrf": csrf, "name": "alice-new", "org": "acme", "provider": "podman",
            "cpu": "1", "memory": "2Gi", "lang_python": "1", "version_python": "3.11",
            "lang_node": "1", "idle": "45m",
        },
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/workspaces/acme/alice-new"
    spec = api.get_json(ws_path("acme", "alice-new"))["spec"]
    assert spec["owner"] == "alice"
    assert [lang["name"] for lang in spec["languages"]] == ["node", "python"]
    assert spec["resources"]["cpu"] == "1"
    assert spec["idle"]["timeout"] == "45m"


def test_create_form_shows_the_field_error_and_makes_nothing(signed_in: SignedIn, api: Api) -> None:
    client, csrf = signed_in("alice")
    answer = client.post(
        "/new", data={"csrf": csrf, "name": "alice-bad", "org": "acme", "cpu": "lots"}
    )
    assert answer.status_code == 422
    assert 'data-error-for="cpu"' in answer.text
    assert api.get(ws_path("acme", "alice-bad")).status_code == 404


def test_yaml_editor_rejects_at_the_field(signed_in: SignedIn, api: Api) -> None:
    client, csrf = signed_in("alice")
    text = (
        "apiVersion: wws.dev/v1alpha1\nkind: Workspace\n"
        "metadata: {name: y1, namespace: acme}\n"
        "spec:\n  owner: alice\n  resources:\n    cpu: lots\n"
    )
    answer = client.post("/yaml/check", data={"csrf": csrf, "yaml": text})
    assert answer.status_code == 422
    assert 'data-field-path="spec.resources.cpu"' in answer.text
    assert "(line 7)" in answer.text
    assert api.get(ws_path("acme", "y1")).status_code == 404


def test_yaml_editor_diff_then_apply_and_conflict(signed_in: SignedIn, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-yaml"))
    client, csrf = signed_in("alice")
    page = client.get("/yaml?namespace=acme&name=alice-yaml")
    start = page.text.index('id="yaml-text" class="code">') + len('id="yaml-text" class="code">')
    import html

    text = html.unescape(page.text[start : page.text.index("</textarea>", start)])
    edited = text.replace("cpu: '2'", "cpu: '3'")
    assert edited != text
    checked = client.post("/yaml/check", data={"csrf": csrf, "yaml": edited})
    assert checked.status_code == 200
    assert "-    cpu: &#39;2&#39;" in checked.text and "+    cpu: &#39;3&#39;" in checked.text
    assert api.get_json(ws_path("acme", "alice-yaml"))["spec"]["resources"]["cpu"] == "2"
    # Someone else changes it meanwhile: Apply is a 409 that offers a reload.
    api.patch_ok(ws_path("acme", "alice-yaml"), {"spec": {"resources": {"memory": "8Gi"}}})
    conflict = client.post("/yaml/apply", data={"csrf": csrf, "yaml": edited})
    assert conflict.status_code == 409
    assert 'id="reload"' in conflict.text
    stored = api.get_json(ws_path("acme", "alice-yaml"))["spec"]["resources"]
    assert stored == {**stored, "cpu": "2", "memory": "8Gi"}
    fresh = client.get("/yaml?namespace=acme&name=alice-yaml")
    start = fresh.text.index('id="yaml-text" class="code">') + len('id="yaml-text" class="code">')
    text = html.unescape(fresh.text[start : fresh.text.index("</textarea>", start)])
    applied = client.post(
        "/yaml/apply", data={"csrf": csrf, "yaml": text.replace("cpu: '2'", "cpu: '3'")}
    )
    assert applied.status_code == 303
    assert api.get_json(ws_path("acme", "alice-yaml"))["spec"]["resources"]["cpu"] == "3"


def test_workspace_page_and_restart_annotation(signed_in: SignedIn, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-restart"))
    client, csrf = signed_in("alice")
    page = client.get("/workspaces/acme/alice-restart")
    assert page.status_code == 200
    for button in ('id="action-stop"', 'id="action-restart"', 'id="action-delete"'):
        assert button in page.text
    assert (
        client.post("/workspaces/acme/alice-restart/restart", data={"csrf": csrf}).status_code
        == 303
    )
    stored = api.get_json(ws_path("acme", "alice-restart"))
    assert "wws.dev/restartedAt" in stored["metadata"]["annotations"]
    refused = client.post(
        "/workspaces/acme/alice-restart/delete", data={"csrf": csrf, "confirm": "x"}
    )
    assert refused.status_code == 422
    assert api.get(ws_path("acme", "alice-restart")).status_code == 200
    deleted = client.post(
        "/workspaces/acme/alice-restart/delete", data={"csrf": csrf, "confirm": "alice-restart"}
    )
    assert deleted.status_code == 303


def test_dashboard_filters(signed_in: SignedIn, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-filter"))
    api.create(ws_path("acme"), workspace("bob-filter", owner="bob"))
    client, _ = signed_in("alice")
    time.sleep(0.3)
    everything = client.get("/").text
    assert "acme/alice-filter" in everything and "acme/bob-filter" in everything
    mine = client.get("/?show=mine").text
    assert "acme/alice-filter" in mine and "acme/bob-filter" not in mine
    found = client.get("/?q=bob").text
    assert "acme/bob-filter" in found and "acme/alice-filter" not in found


def test_kubeconfig_download_carries_the_persons_token(signed_in: SignedIn, ui: TestClient) -> None:
    import yaml

    client, _ = signed_in("alice")
    answer = client.get("/kubeconfig")
    assert answer.status_code == 200
    config = yaml.safe_load(answer.text)
    token = config["users"][0]["user"]["token"]
    claims = ui.app.state.ui.issuer.verify(token)  # type: ignore[attr-defined]
    assert claims["login"] == "alice"
    assert claims["aud"] == "wws"
    assert claims["emails"] == ["alice@example.com"]
    assert 8 * 3600 - 60 <= claims["exp"] - claims["iat"] <= 8 * 3600
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["issuer"] == "http://testserver"
    keys = client.get(urlsplit(discovery["jwks_uri"]).path).json()["keys"]
    assert keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_invite_banner_accept_and_revoke(signed_in: SignedIn, api: Api) -> None:
    client, csrf = signed_in("alice")
    answer = client.post(
        "/orgs/acme/invitations",
        data={"csrf": csrf, "invitee": "carol@example.com", "role": "member", "message": "hi"},
    )
    assert answer.status_code == 303, answer.text
    invitations = api.get_json("/apis/wws.dev/v1alpha1/namespaces/acme/invitations")["items"]
    assert [i["spec"]["invitee"] for i in invitations] == ["carol@example.com"]
    name = invitations[0]["metadata"]["name"]
    assert "carol@example.com" in client.get("/orgs/acme").text
    # carol, matched by her verified e-mail, sees the banner and accepts as herself.
    client.cookies.clear()
    carol, carol_csrf = signed_in("carol")
    page = carol.get("/").text
    assert f'data-invitation="acme/{name}"' in page
    accepted = carol.post(f"/orgs/acme/invitations/{name}/accept", data={"csrf": carol_csrf})
    assert accepted.status_code == 303
    stored = api.get_json(f"/apis/wws.dev/v1alpha1/namespaces/acme/invitations/{name}")
    assert stored["status"]["acceptedBy"] == "github:carol"
    assert f'data-invitation="acme/{name}"' not in carol.get("/").text
    carol.cookies.clear()
    owner, owner_csrf = signed_in("alice")
    revoked = owner.post(f"/orgs/acme/invitations/{name}/revoke", data={"csrf": owner_csrf})
    assert revoked.status_code == 303
    stored = api.get_json(f"/apis/wws.dev/v1alpha1/namespaces/acme/invitations/{name}")
    assert stored["spec"]["revoked"] is True


def test_workspace_page_of_a_running_workspace(signed_in: SignedIn, api: Api) -> None:
    api.create(ws_path("acme"), workspace("alice-ssh"))
    api.patch_ok(
        ws_path("acme", "alice-ssh") + "/status",
        {"status": {"phase": "Running", "endpoints": {"sshHost": "127.0.0.1", "sshPort": 42022,
                    "ssh": "ssh -p 42022 alice@127.0.0.1"}}},
    )  # fmt: skip
    client, _ = signed_in("alice")
    page = client.get("/workspaces/acme/alice-ssh")
    assert page.status_code == 200, page.text
    assert "Host wws-acme-alice-ssh" in page.text
    assert "vscode://vscode-remote/ssh-remote+wws-acme-alice-ssh/home/alice" in page.text
    block = client.get("/workspaces/acme/alice-ssh/ssh-config")
    # NB: the controller may have written the endpoints meanwhile: the block follows status.
    port = api.get_json(ws_path("acme", "alice-ssh"))["status"]["endpoints"]["sshPort"]
    assert f"  Port {port}\n" in block.text
    assert "attachment" in block.headers["content-disposition"]


def test_editor_proxy_refuses_who_may_not_connect(
    signed_in: SignedIn, api: Api, store: StoreProcess
) -> None:
    api.create(ws_path("acme"), workspace("alice-proxy"))
    eventually(
        lambda: may(store, "github:alice", "create", "workspaces", namespace="acme",
                    name="alice-proxy", subresource="connect"),
        "alice's connect permission",
    )  # fmt: skip
    assert not may(
        store, "github:bob", "create", "workspaces", namespace="acme", name="alice-proxy",
        subresource="connect",
    )  # fmt: skip
    client, _ = signed_in("bob")
    refused = client.get("/w/acme/alice-proxy/")
    assert refused.status_code == 403
    client.cookies.clear()
    client, csrf = signed_in("alice")
    # Not running (no code-server endpoint): a page with a Start button instead.
    api.patch_ok(ws_path("acme", "alice-proxy"), {"spec": {"running": False}})
    time.sleep(0.5)
    stopped = client.get("/w/acme/alice-proxy/")
    assert stopped.status_code == 503
    assert 'id="action-start"' in stopped.text
    started = client.post(
        "/workspaces/acme/alice-proxy/start?back=/w/acme/alice-proxy/", data={"csrf": csrf}
    )
    assert started.status_code == 303
    assert started.headers["location"] == "/w/acme/alice-proxy/"
    assert api.get_json(ws_path("acme", "alice-proxy"))["spec"]["running"] is True


def test_open_editor_socket_closes_when_access_is_revoked(
    signed_in: SignedIn, api: Api, store: StoreProcess
) -> None:
    editor = EditorStandIn(password="editor-secret").start()
    try:
        # dave owns a workspace in an organization of his own, then is removed from it.
        api.create(
            "/apis/wws.dev/v1alpha1/organizations",
            {"apiVersion": "wws.dev/v1alpha1", "kind": "Organization",
             "metadata": {"name": "lab"}, "spec": {"members": [{"user": "dave", "role": "owner"}]}},
        )  # fmt: skip
        eventually(
            lambda: may(store, "github:dave", "list", "workspaces", namespace="lab"),
            "dave a member of lab",
        )
        api.create(ws_path("lab"), workspace("dave-ws", owner="dave"))
        api.create(
            "/api/v1/namespaces/lab/secrets",
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dave-ws-code-server"},
             "stringData": {"password": "editor-secret"}},
        )  # fmt: skip
        eventually(
            lambda: may(store, "github:dave", "create", "workspaces", namespace="lab",
                        name="dave-ws", subresource="connect"),
            "dave's connect permission",
        )  # fmt: skip
        client, _ = signed_in("dave")
        running = {"status": {"phase": "Running", "endpoints": {
            "codeServer": editor.url,
            "codeServerPasswordSecretRef": {"name": "dave-ws-code-server", "key": "password"},
        }}}  # fmt: skip

        def connected() -> Any:
            # NB: the controller (its real Podman) rewrites status on its own: the socket is
            # opened while the UI sees the workspace running; once open it stays open.
            api.patch_ok(ws_path("lab", "dave-ws") + "/status", running)
            time.sleep(0.3)
            socket = client.websocket_connect("/w/lab/dave-ws/ws")
            try:
                socket.__enter__()
            except WebSocketDisconnect:
                return None
            return socket

        socket = eventually(connected, "an editor socket to dave-ws", timeout=30)
        try:
            socket.send_text("hello")
            assert socket.receive_text() == "hello"
            api.delete("/apis/wws.dev/v1alpha1/organizations/lab")
            deadline = time.monotonic() + 15
            with pytest.raises(WebSocketDisconnect) as closed:
                while time.monotonic() < deadline:
                    socket.send_text("still there?")
                    assert socket.receive_text() == "still there?"
                    time.sleep(0.2)
            assert closed.value.code == 4403
        finally:
            with contextlib.suppress(Exception):
                socket.__exit__(None, None, None)
    finally:
        editor.stop()
