"""Inside a workspace, through the whole stack: kubectl → the embedded store → the controller
(a subprocess) → Podman → the in-workspace agent → its report → the status; real SSH
(OpenSSH's client), real code-server, real gh.

One workspace serves the module (its assertions build on each other, in order): it is
applied with a test key, a GitHub token Secret made by the test and a bootstrap script;
then used over SSH exactly as ``status.endpoints.ssh`` says, through code-server with the
password of its Secret and through ``wws ssh-config``; its bootstrap script is changed in
place; its token Secret goes missing and comes back; it is stopped and started.
"""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.podman import naming
from tests.controller.conftest import RESYNC, Controller, inspect, labelled
from tests.controller.test_workspaces import condition, events
from tests.support.kubectl import Kubectl
from tests.support.names import free_port, unique
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]

OWNER = "Alice-Dev"  # a GitHub login; the Linux user is its lowercase form
USER = OWNER.lower()
NAME = "x"
BOOTSTRAP_V1 = 'echo "bootstrap v1 for $USER"; echo v1 >> "$HOME/bootstrap-runs"\n'
BOOTSTRAP_V2 = BOOTSTRAP_V1.replace("v1", "v2")
REQUIRED = ("UserReady", "SSHReady", "EditorReady", "LanguagesReady")
AGENT = (*REQUIRED, "DotfilesReady", "BootstrapReady")


class StatusWatch:
    """Every version of the workspace the API server sends on a watch (a thread), to check
    what the status said at each moment, not only at the end."""

    def __init__(self, store: StoreProcess, namespace: str, name: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=store.url,
            verify=store.ssl_context(),
            headers={"Authorization": f"Bearer {store.token}"},
            timeout=httpx.Timeout(10, read=None),
        )
        self._url = (
            f"/apis/wws.dev/v1alpha1/namespaces/{namespace}/workspaces"
            f"?watch=true&fieldSelector=metadata.name={name}"
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        assert self._started.wait(10), "the watch did not start"

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self._url) as response:
                self._started.set()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self.seen.append(event["object"])
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def close(self) -> None:
        self._stop.set()
        self._client.close()


@dataclass
class Workspace:
    """The module's workspace and what reaches into it."""

    kubectl: Kubectl
    store: StoreProcess
    controller: Controller
    namespace: str
    key: Path
    known_hosts: Path
    token: str
    folder: Path
    timings: dict[str, float] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    """Every GitHub token the workspace was given."""

    def get(self) -> dict[str, Any]:
        return self.kubectl.workspace(self.namespace, NAME)

    def patch(self, spec: dict[str, Any]) -> None:
        self.kubectl.run(
            "-n", self.namespace, "patch", "workspace", NAME, "--type=merge",
            "-p", json.dumps({"spec": spec}),
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        return self.kubectl.wait_ready(self.namespace, NAME, timeout=timeout)

    @property
    def container(self) -> str:
        return naming.container_name(self.get()["metadata"]["uid"])

    def ssh(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``command`` over SSH, with exactly the command of ``status.endpoints.ssh`` (plus
        the test's key and known-hosts file)."""
        endpoint = self.get()["status"]["endpoints"]["ssh"]
        argv = shlex.split(endpoint)
        assert argv[0] == "ssh"
        options = [
            "-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR",
        ]  # fmt: skip
        result = subprocess.run(
            [argv[0], *options, *argv[1:], "--", command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{endpoint} {command!r}: exit {result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    def password(self) -> str:
        ref = self.get()["status"]["endpoints"]["codeServerPasswordSecretRef"]
        secret = self.kubectl.json("-n", self.namespace, "get", "secret", ref["name"])
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def wws(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wws.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )


def _all_agent_conditions_true(obj: dict[str, Any]) -> bool:
    generation = obj["metadata"]["generation"]
    status = obj.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions") or []}
    return all(
        conds.get(t, {}).get("status") == "True"
        and conds.get(t, {}).get("observedGeneration") == generation
        for t in AGENT
    )


@pytest.fixture(scope="module")
def ws(
    kubectl: Kubectl,
    controller: Controller,
    store: StoreProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("agent")
    key = folder / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wws-test", "-f", str(key)],
        check=True,
    )
    namespace = unique("acme")
    token = "ghp_" + secrets.token_hex(18)
    kubectl.apply(
        f"apiVersion: wws.dev/v1alpha1\nkind: Organization\nmetadata: {{name: {namespace}}}\n"
        f"spec:\n  members: [{{user: {OWNER}, role: owner}}]\n"
    )
    eventually(
        lambda: kubectl.run("get", "namespace", namespace, check=False).returncode == 0,
        f"namespace {namespace}",
    )
    kubectl.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "gh-token", "namespace": namespace},
                "data": {"token": base64.b64encode(token.encode()).decode()},
            }
        )
    )
    manifest = {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "owner": OWNER,
            "resources": {"cpu": "1", "memory": "1Gi"},
            "ssh": {"authorizedKeys": [key.with_suffix(".pub").read_text().strip()]},
            "github": {"tokenSecretRef": {"name": "gh-token"}},
            "bootstrap": {"script": BOOTSTRAP_V1},
        },
    }
    workspace = Workspace(
        kubectl, store, controller, namespace, key, folder / "known_hosts", token, folder
    )
    workspace.tokens.append(token)
    started = time.monotonic()
    kubectl.apply(json.dumps(manifest))
    workspace.wait_ready(timeout=120)
    workspace.timings["apply → Ready"] = time.monotonic() - started
    try:
        yield workspace
    finally:
        print(
            "\n"
            + "\n".join(f"{what}: {seconds:.1f} s" for what, seconds in workspace.timings.items())
        )
        uid = workspace.get()["metadata"]["uid"]
        kubectl.run("-n", namespace, "delete", "workspace", NAME, "--timeout=60s", check=False)
        secret = kubectl.run("-n", namespace, "get", "secret", f"{NAME}-code-server", check=False)
        kubectl.run("delete", "organization", namespace, "--timeout=30s", check=False)
        left = labelled("container", uid=uid) + labelled("volume", uid=uid)
        assert not left, f"left behind in Podman: {left}"
        assert secret.returncode != 0, "the code-server password Secret outlived its workspace"


def test_ready_means_every_required_condition_of_this_generation(ws: Workspace) -> None:
    obj = ws.get()
    generation = obj["metadata"]["generation"]
    status = obj["status"]
    assert status["phase"] == "Running"
    for kind in ("Ready", "ImageReady", "HomeReady", "ContainerReady", *REQUIRED):
        found = condition(obj, kind)
        assert (found["status"], found["observedGeneration"]) == ("True", generation), found
    assert condition(obj, "GitHubReady")["reason"] == "TokenProvided"
    assert status["agent"]["generation"] == generation and status["agent"]["bootId"]
    assert status["languages"] == [] if "languages" in status else True
    endpoints = status["endpoints"]
    port = endpoints["sshPort"]
    assert endpoints["ssh"] == f"ssh -p {port} {USER}@127.0.0.1"
    assert (endpoints["sshHost"], port) != ("127.0.0.1", 0)
    assert endpoints["codeServer"].startswith("http://127.0.0.1:")
    assert endpoints["codeServerPasswordSecretRef"] == {
        "name": f"{NAME}-code-server",
        "key": "password",
    }
    reasons = {event["reason"] for event in events(ws.kubectl, ws.namespace, NAME)}
    assert {"Ready", "SecretCreated"} <= reasons
    # The bootstrap script ran (it is not needed for Ready, so it may finish a little later).
    eventually(lambda: condition(ws.get(), "BootstrapReady")["status"] == "True", "BootstrapReady")


def test_ssh_as_the_status_says_is_the_owner_with_zsh_sudo_and_gh(ws: Workspace) -> None:
    out = ws.ssh('echo "$SHELL"; whoami; sudo -n true && echo sudo-ok; gh auth token').stdout
    shell, whoami, sudo, token = out.split()
    assert shell.endswith("/zsh")
    assert whoami == USER
    assert sudo == "sudo-ok"
    assert token == ws.token
    assert ws.ssh("cat ~/bootstrap-runs").stdout == "v1\n"


def test_code_server_takes_the_password_of_its_secret(ws: Workspace) -> None:
    password = ws.password()
    assert len(password) >= 24
    base_url = ws.get()["status"]["endpoints"]["codeServer"]
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
        first = client.get("/")
        assert first.status_code in (302, 303) and "login" in first.headers["location"]
        wrong = client.post("/login", data={"password": "not-" + password})
        assert wrong.status_code != 302 and "code-server-session" not in wrong.cookies
        right = client.post("/login", data={"password": password})
        assert right.status_code == 302, right.text[:300]
        page = client.get("/", follow_redirects=True)
        assert page.status_code == 200
        assert "workbench" in page.text and 'name="password"' not in page.text


def test_a_changed_bootstrap_script_runs_again_in_place(ws: Workspace) -> None:
    before = ws.get()
    container = naming.container_name(before["metadata"]["uid"])
    started_at = inspect(container)["State"]["StartedAt"]
    container_id = inspect(container)["Id"]
    watch = StatusWatch(ws.store, ws.namespace, NAME)
    try:
        t0 = time.monotonic()
        ws.patch({"bootstrap": {"script": BOOTSTRAP_V2}})
        generation = ws.get()["metadata"]["generation"]
        assert generation == before["metadata"]["generation"] + 1
        obj = ws.wait_ready(timeout=60)
        ws.timings["bootstrap change → Ready"] = time.monotonic() - t0
        eventually(
            lambda: ws.ssh("cat ~/bootstrap-runs").stdout == "v1\nv2\n",
            "the new bootstrap script to run",
            timeout=60,
        )
        obj = eventually(
            lambda: (
                found
                if (cond := condition(found := ws.get(), "BootstrapReady"))["status"] == "True"
                and cond["observedGeneration"] == generation
                else None
            ),
            "BootstrapReady of the new generation",
        )
    finally:
        time.sleep(0.5)
        watch.close()
    # In place: the same container, never restarted.
    assert inspect(container)["Id"] == container_id == obj["status"]["runtime"]["id"]
    assert inspect(container)["State"]["StartedAt"] == started_at
    assert "bootstrap v2" in ws.ssh("cat ~/.wws/logs/bootstrap.log").stdout
    # At no moment was the new generation Ready before the agent had reported it.
    new = [o for o in watch.seen if o["metadata"]["generation"] == generation]
    assert new, "the watch saw no version of the new generation"
    for version in new:
        status = version.get("status") or {}
        conds = {c["type"]: c for c in status.get("conditions") or []}
        ready = conds.get("Ready") or {}
        if ready.get("status") == "True" and ready.get("observedGeneration") == generation:
            assert (status.get("agent") or {}).get("generation") == generation, status
            for kind in REQUIRED:
                assert conds[kind]["status"] == "True", status
                assert conds[kind]["observedGeneration"] == generation, status
    first = next(
        (
            o["status"]
            for o in new
            if (o.get("status") or {}).get("observedGeneration") == generation
        ),
        None,
    )
    assert first is not None
    # The first status of the new generation the controller wrote came before the agent's
    # report of it: Ready False (applying), unless the agent had already reported.
    first_ready = {c["type"]: c for c in first["conditions"]}["Ready"]
    if (first.get("agent") or {}).get("generation") != generation:
        assert first_ready["status"] == "False"
        assert first_ready["reason"] == "ApplyingChanges"


def test_a_missing_token_secret_is_reported_and_the_workspace_stays_ready(ws: Workspace) -> None:
    ws.patch({"github": {"tokenSecretRef": {"name": "no-such-secret"}}})
    obj = ws.wait_ready(timeout=60)  # Ready does not need GitHub
    github = eventually(
        lambda: (
            found
            if (found := condition(ws.get(), "GitHubReady"))["reason"] == "SecretNotFound"
            else None
        ),
        "GitHubReady=False SecretNotFound",
    )
    assert github["status"] == "False"
    assert f"secret {ws.namespace}/no-such-secret" in github["message"]
    assert condition(ws.get(), "Ready")["status"] == "True"
    warned = [e for e in events(ws.kubectl, ws.namespace, NAME) if e["reason"] == "SecretNotFound"]
    assert warned and warned[0]["type"] == "Warning"
    # The agent logs gh out: the token it had is gone from the workspace.
    eventually(
        lambda: ws.ssh("gh auth token", check=False).stdout.strip() != ws.token,
        "gh to forget the token",
    )

    ws.patch({"github": {"tokenSecretRef": {"name": "gh-token"}}})
    obj = ws.wait_ready(timeout=60)
    eventually(
        lambda: condition(ws.get(), "GitHubReady")["reason"] == "TokenProvided", "GitHubReady"
    )
    eventually(
        lambda: ws.ssh("gh auth token", check=False).stdout.strip() == ws.token,
        "gh to have the token again",
    )
    assert obj["status"]["phase"] == "Running"


def test_a_rotated_token_reaches_the_workspace_within_a_resync(ws: Workspace) -> None:
    rotated = "ghp_" + secrets.token_hex(18)
    ws.kubectl.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "gh-token", "namespace": ws.namespace},
                "data": {"token": base64.b64encode(rotated.encode()).decode()},
            }
        )
    )
    t0 = time.monotonic()
    eventually(
        lambda: ws.ssh("gh auth token", check=False).stdout.strip() == rotated,
        "the rotated token in gh",
        timeout=RESYNC + 15,
    )
    ws.timings["token rotated → gh has it"] = time.monotonic() - t0
    ws.token = rotated
    ws.tokens.append(rotated)


def test_wws_ssh_config_works_with_ssh(ws: Workspace) -> None:
    config = ws.folder / "ssh_config"
    result = ws.wws(
        "ssh-config", f"{ws.namespace}/{NAME}",
        "--kubeconfig", str(ws.store.kubeconfig), "--identity-file", str(ws.key),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config.write_text(result.stdout)
    alias = f"wws-{ws.namespace}-{NAME}"
    assert f"Host {alias}" in result.stdout and f"HostKeyAlias {alias}" in result.stdout
    ssh = subprocess.run(
        [
            "ssh", "-F", str(config), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={ws.folder / 'known_hosts_alias'}",
            "-o", "StrictHostKeyChecking=accept-new", alias, "whoami",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == USER
    # The host key is remembered under the workspace's name, not under a port.
    assert (ws.folder / "known_hosts_alias").read_text().startswith(alias)

    unknown = ws.wws("ssh-config", f"{ws.namespace}/nope", "--kubeconfig", str(ws.store.kubeconfig))
    assert unknown.returncode != 0
    assert unknown.stderr.strip() == f"wws ssh-config: workspace {ws.namespace}/nope not found"


def test_home_survives_stop_and_start_with_the_same_host_key(ws: Workspace) -> None:
    ws.ssh("echo kept > ~/precious.txt")
    ws.patch({"running": False})
    obj = ws.wait_ready(timeout=60)
    assert obj["status"]["phase"] == "Stopped"
    assert condition(obj, "SSHReady")["reason"] == "NotRunning"
    refused = ws.wws(
        "ssh-config", f"{ws.namespace}/{NAME}", "--kubeconfig", str(ws.store.kubeconfig)
    )
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        f"wws ssh-config: workspace {ws.namespace}/{NAME} is not running (phase Stopped)"
    )

    t0 = time.monotonic()
    ws.patch({"running": True})
    obj = ws.wait_ready(timeout=60)
    ws.timings["running: true → Ready (warm start)"] = time.monotonic() - t0
    assert _all_agent_conditions_true(obj), obj["status"]["conditions"]
    # The config of the previous test, strict about the host key this time.
    config = ws.folder / "ssh_config"
    result = ws.wws(
        "ssh-config", f"{ws.namespace}/{NAME}",
        "--kubeconfig", str(ws.store.kubeconfig), "--identity-file", str(ws.key),
    )  # fmt: skip
    config.write_text(result.stdout)
    ssh = subprocess.run(
        [
            "ssh", "-F", str(config), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={ws.folder / 'known_hosts_alias'}",
            "-o", "StrictHostKeyChecking=yes", f"wws-{ws.namespace}-{NAME}",
            "cat ~/precious.txt; cat ~/bootstrap-runs",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout == "kept\nv1\nv2\n"  # and the bootstrap did not run again


def test_ssh_on_a_fixed_host_port_keeps_its_host_key(ws: Workspace) -> None:
    """``spec.ssh.hostPort`` re-creates the container on that port (the home stays); the
    host key, kept in the home, is the same, which ssh checks under the HostKeyAlias."""
    before = ws.get()
    port = free_port()
    ws.patch({"ssh": {"hostPort": port}})
    obj = ws.wait_ready(timeout=60)
    endpoints = obj["status"]["endpoints"]
    assert (endpoints["sshHost"], endpoints["sshPort"]) == ("127.0.0.1", port)
    assert endpoints["ssh"] == f"ssh -p {port} {USER}@127.0.0.1"
    assert obj["status"]["runtime"]["id"] != before["status"]["runtime"]["id"]  # re-created
    config = ws.folder / "ssh_config"
    result = ws.wws(
        "ssh-config", f"{ws.namespace}/{NAME}",
        "--kubeconfig", str(ws.store.kubeconfig), "--identity-file", str(ws.key),
    )  # fmt: skip
    config.write_text(result.stdout)
    assert f"Port {port}" in result.stdout
    ssh = subprocess.run(
        [
            "ssh", "-F", str(config), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={ws.folder / 'known_hosts_alias'}",
            "-o", "StrictHostKeyChecking=yes", f"wws-{ws.namespace}-{NAME}",
            "cat ~/precious.txt",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout == "kept\n"


def test_the_tokens_and_password_are_in_no_log_event_or_status(ws: Workspace) -> None:
    """Checked last, after everything above has logged, posted and written what it does."""
    password = ws.password()
    everything = {
        "controller log": ws.controller.log_path.read_text(),
        "store log": ws.store.log_path.read_text(),
        "events": ws.kubectl.run("get", "events", "-A", "-o", "yaml").stdout,
        "workspaces": ws.kubectl.run("get", "workspaces", "-A", "-o", "yaml").stdout,
        "organizations": ws.kubectl.run("get", "organizations", "-o", "yaml").stdout,
    }
    for where, text in everything.items():
        for token in ws.tokens:
            assert token not in text, f"a GitHub token is in the {where}"
        assert password not in text, f"the code-server password is in the {where}"
