"""The web UI as the store's OIDC issuer, end to end: the store trusts the UI's issuer
(https, a certificate of the store's CA) through an AuthenticationConfiguration, as ``wws
up`` sets it up; a person downloads a kubeconfig from the UI and kubectl is that person."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from statestore import tls
from tests.support.controllerproc import ControllerProcess
from tests.support.devgithub import DevGitHub
from tests.support.kubeapi import Api
from tests.support.kubectl import PINNED, Kubectl
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually
from tests.webui.conftest import MANIFESTS, may, oauth_redirect_to_callback


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def issuer_setup(tmp_path: Path, dev_github: DevGitHub) -> Iterator[tuple[StoreProcess, str]]:
    store_dir = tmp_path / "store"
    cert = tls.sign_serving_cert(store_dir, stem="webui", names=["127.0.0.1"])
    issuer_port, ui_port = _free_port(), _free_port()
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
    (tmp_path / "id").write_text("wws")
    (tmp_path / "secret").write_text("dev")
    log = (tmp_path / "webui.log").open("ab")
    ui = subprocess.Popen(
        [sys.executable, "-m", "wws.cli", "webui", "serve",
         "--kubeconfig", str(store_dir / "webui.kubeconfig"),
         "--listen", f"127.0.0.1:{ui_port}", "--github-url", dev_github.url,
         "--github-client-id-file", str(tmp_path / "id"),
         "--github-client-secret-file", str(tmp_path / "secret"),
         "--tls-cert", str(cert.cert), "--tls-key", str(cert.key),
         "--issuer-listen", f"127.0.0.1:{issuer_port}",
         "--signing-key", str(tmp_path / "signing-key.pem")],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{ui_port}"

    def answers() -> bool:
        assert ui.poll() is None, (tmp_path / "webui.log").read_text()[-3000:]
        try:
            return httpx.get(url + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    eventually(answers, "the web UI", timeout=30)
    try:
        yield store, url
    finally:
        print((tmp_path / "webui.log").read_text()[-4000:])
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=15)
        controller.stop()
        store.stop()


def test_downloaded_kubeconfig_is_the_person(
    issuer_setup: tuple[StoreProcess, str], dev_github: DevGitHub, tmp_path: Path
) -> None:
    store, url = issuer_setup
    with httpx.Client(base_url=url) as browser:
        started = browser.get("/login/github")
        callback = oauth_redirect_to_callback(dev_github, started.headers["location"], "alice")
        parts = urlsplit(callback)
        assert browser.get(f"{parts.path}?{parts.query}").status_code == 303
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
