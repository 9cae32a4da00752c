"""``wws up``: the store, the controller and (when present) the web UI on one machine.

Each part runs as its own process, exactly as it would alone (`wws store serve`, `wws
controller run`, ...), so one machine and a scaled-out install behave the same. Ctrl-C (or
SIGTERM) stops them in reverse order.
"""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

import yaml

from wws import logconfig

log = logconfig.get(__name__)
REPO = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _wws(*args: str) -> list[str]:
    return [sys.executable, "-m", "wws.cli", *args]


def _wait_for_store(kubeconfig: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("wws up: the store exited; see its log lines above")
        if kubeconfig.exists():
            config = yaml.safe_load(kubeconfig.read_text())
            server = str(config["clusters"][0]["cluster"]["server"])
            ca = kubeconfig.parent / "tls" / "ca.crt"
            try:
                context = ssl.create_default_context(cafile=str(ca))
                with urllib.request.urlopen(server + "/readyz", context=context, timeout=2):
                    return server
            except OSError:
                pass
        time.sleep(0.2)
    raise SystemExit(f"wws up: the store did not answer within {timeout:.0f} s")


def _private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _prepare_store(store_dir: Path, data_dir: Path, issuer_url: str | None) -> list[str]:
    """What ``wws store serve`` needs beyond its data dir, written before it starts: the
    token file of WWS's identities (0600), the audit policy (a copy the operator may edit),
    and the AuthenticationConfiguration that trusts the web UI's OIDC issuer (https, served
    with a certificate of the store's own CA). Returns the extra ``store serve`` arguments."""
    import deploy
    from statestore import identities, security, tls

    store_dir.mkdir(parents=True, exist_ok=True)
    token_file = store_dir / identities.TOKEN_FILE
    identities.ensure_token_file(token_file, admin_token=security.load_or_create_token(store_dir))
    policy = data_dir / "audit-policy.yaml"
    if not policy.exists():
        _private(policy, (deploy.folder(".") / "audit-policy.yaml").read_text())
    args = [
        "--token-auth-file",
        str(token_file),
        "--audit-policy-file",
        str(policy),
        "--audit-log-path",
        str(data_dir / "audit" / "audit.log"),
        "--audit-log-maxsize",
        "100",
        "--audit-log-maxbackup",
        "10",
    ]
    for folder in ("controller", "access", "webui"):
        if deploy.folder(folder).is_dir():
            args += ["--manifests", str(deploy.folder(folder))]
    if issuer_url is not None:
        ca = tls.ensure_ca(store_dir / "tls")
        del ca  # made (or kept) so its PEM can be named below before the store starts
        config = {
            "apiVersion": "apiserver.config.k8s.io/v1beta1",
            "kind": "AuthenticationConfiguration",
            "jwt": [
                {
                    "issuer": {
                        "url": issuer_url,
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
        path = _private(store_dir / "authentication.yaml", yaml.safe_dump(config))
        args += ["--authentication-config", str(path)]
    return args


def _identity_kubeconfig(data_dir: Path, identity: str, fallback: Path) -> Path:
    """The kubeconfig of one of WWS's own identities, when the store wrote one."""
    for candidate in (
        data_dir / "store" / "kubeconfigs" / identity,
        data_dir / "store" / f"kubeconfig-{identity}",
        data_dir / "store" / f"{identity}.kubeconfig",
    ):
        if candidate.exists():
            return candidate
    return fallback


def _start_dev_github(
    users: Path,
    data_dir: Path,
    env: dict[str, str],
    children: list[tuple[str, subprocess.Popen[bytes]]],
) -> str:
    """``wws dev github`` on a free port; its URL."""
    url_file = data_dir / "dev-github.url"
    url_file.unlink(missing_ok=True)
    child = subprocess.Popen(
        _wws(
            "dev",
            "github",
            "--users",
            str(users),
            "--listen",
            "127.0.0.1:0",
            "--url-file",
            str(url_file),
        ),
        env=env,
    )
    children.append(("GitHub stand-in", child))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit("wws up: the GitHub stand-in exited; see its log lines above")
        if url_file.exists() and url_file.read_text().strip():
            return url_file.read_text().strip()
        time.sleep(0.1)
    raise SystemExit("wws up: the GitHub stand-in did not start within 30 s")


def main(
    *,
    data_dir: Path,
    listen: str,
    health_listen: str = "127.0.0.1:8081",
    webui_listen: str = "127.0.0.1:8080",
    webui_issuer_listen: str | None = None,
    dev_github: Path | None = None,
    github_url: str | None = None,
    github_client_id_file: Path | None = None,
    github_client_secret_file: Path | None = None,
) -> int:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = data_dir / "kubeconfig"
    if kubeconfig.exists():
        kubeconfig.unlink()  # so we wait for the one this store writes
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def stop_all() -> None:
        for part, child in reversed(children):
            if child.poll() is None:
                log.info("up.stopping", part=part)
                child.send_signal(signal.SIGTERM)
        for _part, child in reversed(children):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # NB: explicit, because a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    host, _, port = webui_listen.rpartition(":")
    issuer_listen = webui_issuer_listen or f"{host}:{int(port) + 363}"
    try:
        _say("wws up: starting the state store ...")
        store_args = _prepare_store(data_dir / "store", data_dir, f"https://{issuer_listen}")
        store = subprocess.Popen(
            _wws(
                "store",
                "serve",
                "--data-dir",
                str(data_dir / "store"),
                "--listen",
                listen,
                "--wws-crds",
                *store_args,
            ),
            env=env,
        )
        children.append(("store", store))
        store_kubeconfig = data_dir / "store" / "kubeconfig"
        server = _wait_for_store(store_kubeconfig, store, timeout=60)
        kubeconfig.symlink_to(store_kubeconfig)
        # The roles and admission policies that make membership count (docs/access.md).
        from wws import manifests

        manifests.apply_shipped(kubeconfig)

        _say("wws up: checking the workspace image ...")
        from images.build import image

        image.ensure_image(data_dir, progress=_say)

        _say("wws up: starting the controller ...")
        # The controller keeps its provider state (the Podman socket, workspace config
        # folders) under the same data dir as everything else of this installation.
        controller = subprocess.Popen(
            _wws(
                "controller",
                "run",
                "--kubeconfig",
                # its own identity: only what deploy/controller and deploy/access grant
                str(_identity_kubeconfig(data_dir, "controller", kubeconfig)),
                "--health-listen",
                health_listen,
            ),
            env={**env, "WWS_DATA_DIR": str(data_dir)},
        )
        children.append(("controller", controller))

        _say("wws up: starting the web UI ...")
        webui_args = [
            "webui",
            "serve",
            "--kubeconfig",
            str(_identity_kubeconfig(data_dir, "webui", kubeconfig)),
            "--listen",
            webui_listen,
            "--signing-key",
            str(data_dir / "webui" / "signing-key.pem"),
            "--bootstrap-kubeconfig",
            str(kubeconfig),
        ]
        if (data_dir / "store" / "tls" / "ca.key").exists():
            # The OIDC issuer is https with a certificate of its own from the store's CA,
            # which the store trusts; people keep using plain HTTP on loopback.
            from statestore import tls

            issuer = issuer_listen
            issuer_host = issuer.rpartition(":")[0].strip("[]")
            issuer_tls = tls.sign_serving_cert(
                data_dir / "store", stem="webui-issuer", names=tls.serving_names(issuer_host)
            )
            webui_args += [
                "--tls-cert",
                str(issuer_tls.cert),
                "--tls-key",
                str(issuer_tls.key),
                "--issuer-listen",
                issuer,
            ]
        if dev_github is not None:
            github_url = _start_dev_github(dev_github, data_dir, env, children)
            github_client_id_file = _private(data_dir / "webui" / "github-client-id", "wws")
            github_client_secret_file = _private(data_dir / "webui" / "github-client-secret", "dev")
        signin = ""
        if github_client_id_file and github_client_secret_file:
            webui_args += [
                "--github-client-id-file",
                str(github_client_id_file),
                "--github-client-secret-file",
                str(github_client_secret_file),
            ]
            if github_url:
                webui_args += ["--github-url", github_url]
        else:
            token = secrets.token_urlsafe(32)
            token_file = _private(data_dir / "webui" / "bootstrap-token", token)
            webui_args += ["--bootstrap-token-file", str(token_file)]
            signin = f"http://{webui_listen}/bootstrap?token={token}"
        webui = subprocess.Popen(_wws(*webui_args), env=env)
        children.append(("webui", webui))

        _say("")
        _say(f"WWS is up. The web UI is http://{webui_listen}/")
        if signin:
            _say(f"  sign in once as the administrator: {signin}")
        if dev_github is not None:
            _say(f"  people sign in through the GitHub stand-in at {github_url}")
        _say(f"  the API server is {server}")
        _say(f"  kubeconfig: {kubeconfig}")
        if (REPO / "examples").is_dir():  # a checkout; an installed wheel has no examples
            _say(f"  try:        kubectl --kubeconfig {kubeconfig} apply -f {REPO / 'examples'}")
        _say(f"              kubectl --kubeconfig {kubeconfig} get workspaces -A")
        _say("Press Ctrl-C to stop.")
        while True:
            for part, child in children:
                if child.poll() is not None:
                    _say(f"wws up: the {part} exited with code {child.returncode}; stopping")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("wws up: stopping ...")
        return 0
    finally:
        stop_all()
