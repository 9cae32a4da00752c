"""The flow of issue 11 in a real browser: Playwright driving Debian's chromium against the
real UI (``wws webui serve``), store, controller, Podman and the GitHub stand-in.

alice creates a workspace with Python and Node ticked and watches it turn Ready without
reloading, opens VS Code through the proxy; bob, a member outside her team, sees it but may
not connect or stop it; the YAML editor rejects ``cpu: lots`` at ``spec.resources.cpu``;
alice invites carol, who signs in, accepts and sees the organization; stop and start from
the UI; sign out. Screenshots of the dashboard, the create form and the workspace page go
to docs/images/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.controller.conftest import Controller, controller, kubectl
from tests.support.devgithub import DevGitHub
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from tests.support.webuiproc import WebUIProcess
from tests.webui.conftest import ui_kubeconfig

playwright_api = pytest.importorskip("playwright.sync_api")

__all__ = ["controller", "kubectl"]  # fmt: skip

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = REPO / "docs" / "images"
READY_TIMEOUT_MS = 600_000

pytestmark = [pytest.mark.podman, pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_url(
    store: StoreProcess, dev_github: DevGitHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    ui = WebUIProcess(
        ui_kubeconfig(store), tmp_path_factory.mktemp("webui"), dev_github.url
    ).start()
    try:
        yield ui.url
    finally:
        ui.stop(log_tail=20000)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (deploy/host-setup.sh installs it)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def enforces_policies(store: StoreProcess, org: str, name: str, *, as_user: str) -> bool:
    """Whether the store's admission policies refuse ``as_user`` stopping another person's
    workspace (a server-side dry run); a store without ValidatingAdmissionPolicy lets RBAC
    alone decide, and the UI then shows what RBAC allows."""
    answer = httpx.patch(
        f"{store.url}/apis/wws.dev/v1alpha1/namespaces/{org}/workspaces/{name}",
        params={"dryRun": "All"},
        content='{"spec": {"running": false}}',
        headers={"Authorization": f"Bearer {store.token}", "Impersonate-User": as_user,
                 "Content-Type": "application/merge-patch+json"},
        verify=store.ssl_context(),
    )  # fmt: skip
    return answer.status_code >= 400


def sign_in(page, ui_url: str, login: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(ui_url + "/")
    page.click("#github-sign-in")
    page.click(f"button[name=login][value={login}]")
    page.wait_for_url(ui_url + "/")
    try:
        page.wait_for_selector(".me summary", timeout=10_000)
    except playwright_api.TimeoutError:
        pytest.fail(f"{login} is not signed in; the page says: {page.inner_text('body')[:2000]}")
    assert page.inner_text(".me summary") == login


def test_the_flow_of_issue_11(
    browser,  # type: ignore[no-untyped-def]
    ui_url: str,
    store: StoreProcess,
    kubectl: Kubectl,
    controller: Controller,
) -> None:
    org = unique("acme")
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {org}}}
spec:
  displayName: Acme Inc.
  members: [{{user: alice, role: owner}}, {{user: bob, role: member}}]
"""
    )
    eventually(lambda: kubectl.run("get", "namespace", org, check=False).returncode == 0, org)
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {org}}}
spec:
  members: [{{user: alice, role: maintainer}}]
"""
    )
    name = "alice-dev"
    alice = browser.new_context(viewport={"width": 1280, "height": 900})
    bob = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    carol = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = alice.new_page()
        sign_in(page, ui_url, "alice")

        # The create form: the language checklist from api/languages, alice's GitHub keys.
        page.goto(f"{ui_url}/new?org={org}")
        page.fill("#f-name", name)
        page.select_option("#f-team", "web")
        page.fill("#f-cpu", "1")
        page.fill("#f-memory", "2Gi")
        page.check("#lang-python")
        page.check("#lang-node")
        page.screenshot(path=str(SCREENSHOTS / "create-form.png"), full_page=True)
        page.click("#create")
        page.wait_for_url(f"{ui_url}/workspaces/{org}/{name}")
        spec = kubectl.workspace(org, name)["spec"]
        assert spec["owner"] == "alice" and spec["team"] == "web"
        assert [lang["name"] for lang in spec["languages"]] == ["node", "python"]
        assert spec["ssh"]["authorizedKeys"], "alice's GitHub key was offered and kept"

        # Ready without reloading: the page is never navigated again while we wait.
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        page.wait_for_function(
            "document.querySelector('[data-field=ready]').textContent === 'True'",
            timeout=READY_TIMEOUT_MS,
        )
        assert navigations == []
        assert page.inner_text(".bar [data-field=phase]") == "Running"
        page.reload()
        page.screenshot(path=str(SCREENSHOTS / "workspace.png"), full_page=True)
        assert page.is_visible("#action-stop")
        assert "Host wws-" in page.inner_text("#ssh-block")

        # Open in browser: the VS Code workbench through the proxy, no password typed.
        with alice.expect_page() as opened:
            page.click("#open-editor")
        editor = opened.value
        editor.wait_for_selector(".monaco-workbench", timeout=120_000)
        assert "/login" not in editor.url
        assert editor.query_selector("text=Restricted Mode") is None
        editor.close()
        eventually(
            lambda: (
                "wws.dev/lastActivityTime"
                in (kubectl.workspace(org, name)["metadata"].get("annotations") or {})
            ),
            "the proxy's activity mark",
            timeout=10,
        )

        page.goto(ui_url + "/")
        page.wait_for_selector(f"tr[data-ws='{org}/{name}']")
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

        # The YAML editor refuses cpu: lots at its field and changes nothing.
        page.goto(f"{ui_url}/yaml?namespace={org}&name={name}")
        text = page.input_value("#yaml-text")
        page.fill("#yaml-text", text.replace("cpu: '1'", "cpu: lots"))
        page.click("#check")
        error = page.wait_for_selector("[data-field-path='spec.resources.cpu']")
        assert "lots" in error.inner_text()
        assert kubectl.workspace(org, name)["spec"]["resources"]["cpu"] == "1"

        # bob, a member outside the team: sees it, may not stop it nor open its editor.
        bob_page = bob.new_page()
        sign_in(bob_page, ui_url, "bob")
        bob_page.wait_for_selector(f"tr[data-ws='{org}/{name}']")
        bob_page.goto(f"{ui_url}/workspaces/{org}/{name}")
        assert bob_page.is_visible("[data-field=ready]")
        assert not bob_page.is_visible("#open-editor")
        answer = bob_page.goto(f"{ui_url}/w/{org}/{name}/")
        assert answer is not None and answer.status == 403
        if enforces_policies(store, org, name, as_user="github:bob"):
            bob_page.goto(f"{ui_url}/workspaces/{org}/{name}")
            assert not bob_page.is_visible("#action-stop")

        # alice invites carol; carol signs in, sees the banner, accepts, sees the organization.
        page.goto(f"{ui_url}/orgs/{org}")
        page.fill("#invitee", "carol")
        page.click("#invite")
        page.wait_for_selector("#invitations >> text=carol")
        carol_page = carol.new_page()
        sign_in(carol_page, ui_url, "carol")
        carol_page.click("[data-invitation] button")
        carol_page.wait_for_url(f"{ui_url}/orgs/{org}")
        eventually(
            lambda: (
                (kubectl.json("-n", org, "get", "invitations")["items"][0].get("status") or {}).get(
                    "acceptedBy"
                )
                == "github:carol"
            ),
            "carol's acceptance",
        )

        def carol_sees_the_organization() -> bool:
            carol_page.goto(ui_url + "/orgs")  # membership takes effect within seconds
            return bool(carol_page.is_visible(f"a[href='/orgs/{org}']"))

        eventually(carol_sees_the_organization, "carol in the organization", timeout=20)

        # Stop and start from the UI; the page follows without reloading.
        page.goto(f"{ui_url}/workspaces/{org}/{name}")
        page.click("#action-stop")
        page.wait_for_function(
            "document.querySelector('.bar [data-field=phase]').textContent === 'Stopped'",
            timeout=120_000,
        )
        assert kubectl.workspace(org, name)["spec"]["running"] is False
        page.reload()
        page.click("#action-start")
        page.wait_for_function(
            "document.querySelector('[data-field=ready]').textContent === 'True'",
            timeout=READY_TIMEOUT_MS,
        )
        assert kubectl.workspace(org, name)["spec"]["running"] is True

        # Sign out: the session is over.
        page.click(".me summary")
        page.click("text=Sign out")
        page.wait_for_url(ui_url + "/login")
        page.goto(ui_url + "/")
        assert page.url.startswith(ui_url + "/login")
    finally:
        for context in (alice, bob, carol):
            context.close()
        kubectl.run("-n", org, "delete", "workspaces", "--all", "--timeout=120s", check=False)
        kubectl.run("delete", "organization", org, "--timeout=60s", check=False)
        time.sleep(0.5)
