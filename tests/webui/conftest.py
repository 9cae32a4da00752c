"""Fixtures of the web UI tests: the real store, the GitHub stand-in, the UI in TestClient.

The UI is Starlette's TestClient around the real application (lifespan included, so the one
watch runs); it talks to a real store over HTTPS and signs people in through the real
stand-in's OAuth flow.

The store, the controller, the stand-in and the organization ``acme`` (alice owner, bob
member) are made once per test module: starting them was most of each test's time. Each
test still gets its own UI (sessions, caches). Tests therefore never reuse a workspace name
within a module, and a test that removes people from organizations uses its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests.support.controllerproc import ControllerProcess
from tests.support.devgithub import DevGitHub
from tests.support.kubeapi import Api
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from webui import app as webapp
from webui.settings import GitHubApp, Settings

BOOTSTRAP_TOKEN = "bootstrap-secret-for-tests"


def workspace(name: str, owner: str = "alice", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {"owner": owner, **spec},
    }


def ws_path(namespace: str, name: str = "") -> str:
    base = f"/apis/wws.dev/v1alpha1/namespaces/{namespace}/workspaces"
    return f"{base}/{name}" if name else base


#: The access rules WWS ships: the controller's and the UI's own rights, the organization
#: roles and admission policies (``wws up`` applies the same).
MANIFESTS = tuple(REPO / "deploy" / name for name in ("controller", "access", "webui"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """The real store enforcing RBAC and admission policies, with what WWS ships applied."""
    process = StoreProcess(
        tmp_path_factory.mktemp("store") / "data", crds_dir=REPO / "crds", manifests_dirs=MANIFESTS
    ).start()
    try:
        yield process
    finally:
        process.stop()


def ui_kubeconfig(store: StoreProcess) -> Path:
    """The UI's own identity (wws:webui) as the store wrote it."""
    own = store.data_dir / "webui.kubeconfig"
    return own if own.exists() else store.kubeconfig


@pytest.fixture(scope="module")
def controller(
    store: StoreProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    """The real controller: it turns membership into RBAC objects (and workspaces into
    containers on the machine's Podman, removed again by ``tidy`` at the end)."""
    running = ControllerProcess(store.kubeconfig, tmp_path_factory.mktemp("c") / "controller")
    running.folder.mkdir()
    running.start()
    try:
        yield running
    finally:
        running.tidy(store)
        running.stop()


def may(store: StoreProcess, user: str, verb: str, resource: str, **attributes: str) -> bool:
    """The store's answer to a SubjectAccessReview (as the admin)."""
    answer = httpx.post(
        store.url + "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        json={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:authenticated"],
                "resourceAttributes": {
                    "verb": verb, "group": "wws.dev", "resource": resource, **attributes
                },
            },
        },
        headers={"Authorization": f"Bearer {store.token}"},
        verify=store.ssl_context(),
    )  # fmt: skip
    return bool(answer.json().get("status", {}).get("allowed"))


@pytest.fixture(scope="module")
def dev_github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevGitHub]:
    """The GitHub stand-in, once per module (tests here only sign people in through it)."""
    with DevGitHub(tmp_path_factory.mktemp("devgithub")) as process:
        yield process


@pytest.fixture(scope="module")
def api(store: StoreProcess, controller: ControllerProcess) -> Iterator[Api]:
    """The admin's client, with organization ``acme``: alice (owner) and bob (member)."""
    client = Api(store)
    client.create(
        "/apis/wws.dev/v1alpha1/organizations",
        {
            "apiVersion": "wws.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": "acme"},
            "spec": {"members": [{"user": "alice", "role": "owner"}, {"user": "bob"}]},
        },
    )
    eventually(
        lambda: (
            may(store, "github:alice", "get", "organizations", name="acme")
            and may(store, "github:bob", "list", "workspaces", namespace="acme")
        ),
        "the controller's RBAC objects for acme",
        timeout=30,
    )
    try:
        yield client
    finally:
        client.close()


@dataclasses.dataclass
class UIFactory:
    store: StoreProcess
    dev_github: DevGitHub

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kubeconfig": ui_kubeconfig(self.store),
            "public_url": "http://testserver",
            "github": GitHubApp(
                client_id="wws",
                client_secret="dev",
                web_url=self.dev_github.url,
                api_url=self.dev_github.url,
            ),
            "bootstrap_token": BOOTSTRAP_TOKEN,
            "bootstrap_kubeconfig": self.store.kubeconfig,
        }
        values.update(overrides)
        return Settings(**values)

    def client(self, **overrides: Any) -> TestClient:
        return TestClient(webapp.build(self.settings(**overrides)), follow_redirects=False)


@pytest.fixture
def ui_factory(store: StoreProcess, dev_github: DevGitHub, api: Api) -> UIFactory:
    return UIFactory(store, dev_github)


@pytest.fixture
def ui(ui_factory: UIFactory) -> Iterator[TestClient]:
    with ui_factory.client() as client:
        yield client


def oauth_redirect_to_callback(dev_github: DevGitHub, location: str, login: str) -> str:
    """Choose ``login`` on the stand-in's sign-in page; the callback URL it sends back to."""
    fields = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    fields["login"] = login
    answer = httpx.post(dev_github.url + "/login/oauth/authorize", data=fields)
    assert answer.status_code in (302, 303), answer.text
    return str(answer.headers["location"])


def sign_in(client: httpx.Client, dev_github: DevGitHub, login: str) -> None:
    """The whole GitHub sign-in of ``login`` in ``client``'s cookie jar (a TestClient or a
    client of a real server)."""
    started = client.get("/login/github")
    assert started.status_code in (302, 303, 307), started.text
    callback = oauth_redirect_to_callback(dev_github, started.headers["location"], login)
    parts = urlsplit(callback)
    finished = client.get(f"{parts.path}?{parts.query}")
    assert finished.status_code == 303, finished.text
    assert finished.headers["location"] == "/"


def csrf_of(client: TestClient, page: str = "/") -> str:
    text = client.get(page).text
    marker = 'data-csrf="'
    start = text.index(marker) + len(marker)
    return str(text[start : text.index('"', start)])


@pytest.fixture
def signed_in(ui: TestClient, dev_github: DevGitHub) -> Callable[[str], tuple[TestClient, str]]:
    def as_person(login: str) -> tuple[TestClient, str]:
        sign_in(ui, dev_github, login)
        return ui, csrf_of(ui)

    return as_person


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
