"""Fixtures for the in-workspace agent: the real image on real Podman, real SSH (OpenSSH's
client), real git over HTTP, real code-server.

A workspace here is what the controller will make of a Workspace: ``PodmanProvider.ensure``
with the agent's config files (:mod:`providers.agent`). Tests are synchronous and share one
workspace per module (first boots with languages take minutes); each ``asyncio.run`` drives
one provider call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import http.server
import json
import secrets
import shlex
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from providers import agent, base
from providers.podman import PodmanProvider, naming, service
from tests.support.podman import podman

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- SSH keys, the org network, a git server ----------------------------------------------


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test key pair: ``key`` and ``key.pub``."""
    folder = tmp_path_factory.mktemp("ssh")
    key = folder / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wws-test", "-f", str(key)],
        check=True,
    )
    return key


@dataclasses.dataclass
class OrgNetwork:
    organization: str
    name: str
    gateway: str  # the host's address on the network: what a workspace reaches the host at


def make_org_network(organization: str) -> OrgNetwork:
    """The organization's network, made before the provider would, so a test knows the
    host's address on it (a server of the test listens there and nowhere else).

    NB: made with Podman's own bridge name (``cni-podmanN``), not WWS's ``wwsp<hash>``, so
    the host firewall (providers/hostfirewall.py) leaves it alone and the workspaces reach
    the test's git server on the gateway. On a network the provider makes they would not:
    a workspace reaches git hosts on the internet, never the host itself."""
    name = naming.network_name(organization)
    labels = naming.network_labels(organization)
    args = ["network", "create", "--driver", "bridge", "--opt", "isolate=true"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    podman(*args, name)
    info = json.loads(podman("network", "inspect", name).stdout)[0]
    gateway = info["subnets"][0]["gateway"]
    return OrgNetwork(organization, name, gateway)


class GitServer:
    """Bare repositories served with git's dumb HTTP protocol (``git update-server-info``
    plus a plain HTTP server) on one address of the host."""

    def __init__(self, root: Path, address: str) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = _FreeBindServer((address, 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        self.base_url = f"http://{address}:{port}"

    def publish(self, name: str, work_tree: Path) -> str:
        """Serve ``work_tree``'s repository as ``<base>/<name>.git``; returns its URL."""
        bare = self.root / f"{name}.git"
        if bare.exists():
            subprocess.run(["rm", "-rf", str(bare)], check=True)
        git("clone", "--quiet", "--bare", str(work_tree), str(bare))
        git("update-server-info", cwd=bare)
        return f"{self.base_url}/{name}.git"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _FreeBindServer(http.server.ThreadingHTTPServer):
    """Binds to the network's gateway address before the network's bridge exists (Podman
    makes it when the first container joins): IP_FREEBIND."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        super().server_bind()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "GIT_AUTHOR_NAME": "WWS Test",
        "GIT_AUTHOR_EMAIL": "test@wws.invalid",
        "GIT_COMMITTER_NAME": "WWS Test",
        "GIT_COMMITTER_EMAIL": "test@wws.invalid",
        "HOME": str(cwd or Path.cwd()),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


def make_repo(path: Path, files: dict[str, tuple[str, int]]) -> Path:
    """A git work tree with ``files`` (relative path → (content, mode)) committed."""
    path.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    for rel, (content, mode) in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
    git("add", "-A", cwd=path)
    git("commit", "--quiet", "-m", "dotfiles", cwd=path)
    return path


# --- a workspace --------------------------------------------------------------------------


@dataclasses.dataclass
class Workspace:
    """One workspace made by the Podman provider, with helpers to reach into it."""

    provider: PodmanProvider
    desired: base.DesiredWorkspace
    spec: dict[str, Any]
    key: Path
    known_hosts: Path
    password: str = dataclasses.field(repr=False)
    token: str | None = dataclasses.field(repr=False)
    generation: int = 1
    started: float = 0.0
    observed: base.Observed | None = None

    @property
    def ref(self) -> base.WorkspaceRef:
        return self.desired.ref

    @property
    def user(self) -> str:
        return str(self.spec["owner"]).lower()

    @property
    def container(self) -> str:
        return naming.container_name(self.ref.uid)

    def files(self) -> dict[str, bytes]:
        config = agent.workspace_config(
            namespace=self.ref.namespace,
            name=self.ref.name,
            uid=self.ref.uid,
            generation=self.generation,
            spec=self.spec,
        )
        return agent.config_files(
            config, code_server_password=self.password, github_token=self.token
        )

    def ensure(self, **changes: Any) -> base.Observed:
        """``provider.ensure`` with the current spec (and ``changes`` to the desired)."""
        self.desired = dataclasses.replace(self.desired, config_files=self.files(), **changes)
        self.started = time.monotonic()
        self.observed = run(self.provider.ensure(self.desired))
        return self.observed

    def update_spec(self, **fields: Any) -> base.Observed:
        """A spec change that the agent applies in place (a new generation)."""
        self.spec.update(fields)
        self.generation += 1
        return self.ensure()

    def stop(self) -> None:
        run(self.provider.stop(self.ref))

    def report(self) -> dict[str, Any] | None:
        return run(self.provider.read_report(self.ref))

    def condition(self, report: dict[str, Any], kind: str) -> dict[str, Any]:
        for condition in report.get("conditions") or []:
            if condition["type"] == kind:
                return dict(condition)
        raise AssertionError(f"no {kind} in {report}")

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float, what: str
    ) -> dict[str, Any]:
        """The first report that satisfies ``predicate`` (of this boot and generation)."""
        deadline = time.monotonic() + timeout
        report: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            report = self.report()
            if report and report.get("generation") == self.generation and predicate(report):
                return report
            time.sleep(0.25)
        logs = podman("logs", "--tail", "40", self.container, check=False)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what}; last report:\n"
            f"{json.dumps(report, indent=2)}\ncontainer log:\n{logs.stdout}{logs.stderr}"
        )

    def wait_conditions(
        self, wanted: dict[str, str], *, timeout: float, what: str = ""
    ) -> dict[str, Any]:
        def ok(report: dict[str, Any]) -> bool:
            return all(self.condition(report, k)["status"] == v for k, v in wanted.items())

        return self.wait(ok, timeout=timeout, what=what or f"conditions {wanted}")

    def host_port(self, name: str) -> int:
        assert self.observed is not None
        port = self.observed.host_port(name)
        assert port, f"no published port {name}"
        return port

    def ssh(
        self, command: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` over real SSH as the owner (host key checked against the first
        one this workspace showed)."""
        argv = [
            "ssh", "-F", "/dev/null", "-i", str(self.key), "-p", str(self.host_port("ssh")),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR",
            f"{self.user}@127.0.0.1", "--", command,
        ]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"ssh {command!r}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def root(self, command: str, *, check: bool = True) -> str:
        """``command`` as root inside the workspace (podman exec), for looking around."""
        return podman("exec", self.container, "bash", "-c", command, check=check).stdout

    def read(self, path: str) -> str:
        return self.root(f"cat {shlex.quote(path)}")


@dataclasses.dataclass
class WorkspaceFactory:
    provider: PodmanProvider
    image: str
    ssh_key: Path
    tmp: Path
    made: list[Workspace] = dataclasses.field(default_factory=list)
    networks: list[str] = dataclasses.field(default_factory=list)

    def organization(self) -> OrgNetwork:
        network = make_org_network(f"t{uuid.uuid4().hex[:8]}")
        self.networks.append(network.name)
        return network

    def make(
        self,
        spec: dict[str, Any],
        *,
        organization: str,
        name: str = "ws",
        token: str | None = None,
    ) -> Workspace:
        ref = base.WorkspaceRef(
            namespace=organization, name=name, uid=str(uuid.uuid4()), organization=organization
        )
        spec.setdefault("ssh", {})
        spec["ssh"].setdefault("authorizedKeys", [])
        spec["ssh"]["authorizedKeys"].append((self.ssh_key.with_suffix(".pub")).read_text().strip())
        known_hosts = self.tmp / f"known_hosts-{ref.uid}"
        workspace = Workspace(
            provider=self.provider,
            desired=base.DesiredWorkspace(ref=ref, image=self.image),
            spec=spec,
            key=self.ssh_key,
            known_hosts=known_hosts,
            password=secrets.token_urlsafe(18),
            token=token,
        )
        self.made.append(workspace)
        return workspace

    def cleanup(self) -> None:
        for workspace in self.made:
            with contextlib.suppress(Exception):
                run(self.provider.delete(workspace.ref))
        for network in self.networks:
            podman("network", "rm", "-f", network, check=False)


@pytest.fixture(scope="module")
def workspaces(
    podman_service: service.Service,
    workspace_image: str,
    data_dir: Path,
    ssh_key: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkspaceFactory]:
    """Makes workspaces for a module; every one is deleted (with its home) at the end."""
    provider = PodmanProvider(
        socket_path=podman_service.socket_path, start_service=False, data_dir=data_dir
    )
    run(provider.open())
    factory = WorkspaceFactory(provider, workspace_image, ssh_key, tmp_path_factory.mktemp("ws"))
    try:
        yield factory
    finally:
        factory.cleanup()
        run(provider.close())


@pytest.fixture(scope="module")
def git_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], GitServer]]:
    servers: list[GitServer] = []

    def make(address: str) -> GitServer:
        server = GitServer(tmp_path_factory.mktemp("git-http"), address)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def all_true(report: dict[str, Any]) -> bool:
    return all(c["status"] == "True" for c in report.get("conditions") or [])


def logs_of(workspace: Workspace) -> str:
    """Everything a workspace logged or reported: its home's and /home/.wws's logs, the
    report, the container's output, and the provider's status folder."""
    parts = [
        workspace.root(
            f"cat /home/.wws/logs/* /home/{workspace.user}/.wws/logs/*.log "
            f"/home/{workspace.user}/.wws/logs/*/*.log /run/wws/status/* 2>/dev/null || true"
        ),
        podman("logs", workspace.container, check=False).stdout,
        podman("logs", workspace.container, check=False).stderr,
        json.dumps(workspace.report()),
    ]
    return "\n".join(parts)
