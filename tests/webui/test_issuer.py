"""The web UI as the store's OIDC issuer, end to end: the store trusts the UI's issuer
(https, a certificate of the store's CA) through an AuthenticationConfiguration, as ``wws
up`` sets it up; a person downloads a kubeconfig from the UI and kubectl is that person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from statestore import tls
from tests.support.controllerproc import ControllerProcess
from tests.support.devgithub import DevGitHub
from tests.support.kubeapi import Api
from tests.support.kubectl import PINNED, Kubectl
from tests.support.names import free_port
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from tests.support.webuiproc import WebUIProcess
from tests.webui.conftest import MANIFESTS, may, sign_in


@pytest.fixture
def issuer_setup(tmp_path: Path, dev_github: DevGitHub) -> Iterator[tuple[StoreProcess, str]]:
    store_dir = tmp_path / "store"
    cert = tls.sign_serving_cert(store_dir, stem="webui", names=["127.0.0.1"])
    issuer_port = free_port()
    issuer = f"https://127.0.0.1:{issuer_port}"
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": {
                    "url": issuer,
                    "certificateAuthority": (store_dir / "tls" / "ca.crt").read_text(),
                    "audiences": ["wws"],
                },
                "claimMappings": {
                    "username": {"claim": "login", "prefix": "github:"},
                    "extra": [{"key": "wws.dev/emails", "valueExpression": "claims.emails"}],
                },
            }
        ],
    }
    authn = tmp_path / "authentication.yaml"
    authn.write_text(yaml.safe_dump(config))
    store = StoreProcess(
        store_dir,
        crds_dir=REPO / "crds",
        manifests_dirs=MANIFESTS,
        authentication_config=authn,
    ).start()
    controller = ControllerProcess(store.kubeconfig, tmp_path / "controller")
    controller.folder.mkdir()
    controller.start()
    api = Api(store)
    for org, members in (("acme", [{"user": "alice"}]), ("other", [{"user": "bob"}])):
        api.create(
            "/apis/wws.dev/v1alpha1/organizations",
            {"apiVersion": "wws.dev/v1alpha1", "kind": "Organization", "metadata": {"name": org},
             "spec": {"members": members}},
        )  # fmt: skip
    api.close()
    eventually(
        lambda: may(store, "github:alice", "list", "workspaces", namespace="acme"),
        "alice a member of acme",
    )
    ui = WebUIProcess(
        store_dir / "webui.kubeconfig",
        tmp_path / "webui",
        dev_github.url,
        extra_args=[
            "--tls-cert", str(cert.cert), "--tls-key", str(cert.key),
            "--issuer-listen", f"127.0.0.1:{issuer_port}",
            "--signing-key", str(tmp_path / "signing-key.pem"),
        ],
    ).start()  # fmt: skip
    try:
        yield store, ui.url
    finally:
        ui.stop()
        controller.tidy(store)
        controller.stop()
        store.stop()


def test_downloaded_kubeconfig_is_the_person(
    issuer_setup: tuple[StoreProcess, str], dev_github: DevGitHub, tmp_path: Path
) -> None:
    store, url = issuer_setup
    with httpx.Client(base_url=url) as browser:
        sign_in(browser, dev_github, "alice")
        downloaded = browser.get("/kubeconfig")
    assert downloaded.status_code == 200
    config = yaml.safe_load(downloaded.text)
    assert config["clusters"][0]["cluster"]["server"] == store.url
    path = tmp_path / "alice.kubeconfig"
    path.write_text(downloaded.text)
    kubectl = Kubectl(binary=PINNED, kubeconfig=path, cache_dir=tmp_path / "kc", version="")
    whoami = json.loads(kubectl.out("auth", "whoami", "-o", "json"))
    user = whoami["status"]["userInfo"]
    assert user["username"] == "github:alice"
    assert "system:authenticated" in user["groups"]
    assert user["extra"]["wws.dev/emails"] == ["alice@example.com"]
    # kubectl sees what the UI shows her: acme's workspaces, nothing of another organization.
    assert kubectl.run("get", "workspaces", "-n", "acme").returncode == 0
    refused = kubectl.run("get", "workspaces", "-n", "other", check=False)
    assert refused.returncode != 0
    assert 'User "github:alice" cannot list resource "workspaces"' in refused.stderr
