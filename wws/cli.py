"""The ``wws`` command. Each subcommand's work lives in the module that owns it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wws import logconfig

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "wws"


def _store_serve(args: argparse.Namespace) -> int:
    import crds
    from statestore import server
    from statestore.limits import Limits

    crds_dir = Path(args.crds) if args.crds else (crds.folder() if args.wws_crds else None)
    return server.main(
        data_dir=Path(args.data_dir),
        listen=args.listen,
        crds_dir=crds_dir,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        token_auth_file=Path(args.token_auth_file) if args.token_auth_file else None,
        authentication_config=(
            Path(args.authentication_config) if args.authentication_config else None
        ),
        manifests_dirs=[Path(folder) for folder in args.manifests or []],
        tls_sans=args.tls_san,
        encryption_provider_config=(
            Path(args.encryption_provider_config) if args.encryption_provider_config else None
        ),
        limits=Limits(
            max_header_bytes=args.max_header_bytes,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
            max_requests_inflight=args.max_requests_inflight,
            max_mutating_requests_inflight=args.max_mutating_requests_inflight,
            max_object_bytes=args.max_object_bytes,
        ),
        audit=server.AuditOptions(
            log_path=Path(args.audit_log_path) if args.audit_log_path else None,
            policy_file=Path(args.audit_policy_file) if args.audit_policy_file else None,
            max_size_mb=args.audit_log_maxsize,
            max_backups=args.audit_log_maxbackup,
            max_age_days=args.audit_log_maxage,
        ),
    )


def _crds_generate(args: argparse.Namespace) -> int:
    import crds
    from wws import crdgen

    # NB: the default is the installed package's folder, which in a checkout (an editable
    # install) is the checkout's crds/: so --check also works from an installed wheel.
    return crdgen.main(out_dir=Path(args.out) if args.out else crds.folder(), check=args.check)


def _controller_run(args: argparse.Namespace) -> int:
    from controller import main as controller_main

    return controller_main.main(
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        resync_seconds=args.resync,
        health_listen=args.health_listen,
    )


def _image_build(args: argparse.Namespace) -> int:
    from images.build import image

    return image.main(data_dir=Path(args.data_dir), force=args.force)


def _up(args: argparse.Namespace) -> int:
    from wws import up

    return up.main(
        data_dir=Path(args.data_dir),
        listen=args.listen,
        health_listen=args.health_listen,
        webui_listen=args.webui_listen,
        webui_issuer_listen=args.webui_issuer_listen,
        dev_github=Path(args.dev_github) if args.dev_github else None,
        github_url=args.github_url,
        github_client_id_file=(
            Path(args.github_client_id_file) if args.github_client_id_file else None
        ),
        github_client_secret_file=(
            Path(args.github_client_secret_file) if args.github_client_secret_file else None
        ),
    )


def _ssh_config(args: argparse.Namespace) -> int:
    from wws import sshconfig

    return sshconfig.main(
        target=args.workspace,
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        identity_file=args.identity_file,
    )


def _dev_github(args: argparse.Namespace) -> int:
    from devgithub import server

    return server.main(
        users=Path(args.users),
        listen=args.listen,
        auto_approve=args.auto_approve,
        url_file=Path(args.url_file) if args.url_file else None,
    )


def _webui_serve(args: argparse.Namespace) -> int:
    from webui import serve

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return serve.main(
        kubeconfig=path(args.kubeconfig),
        listen=args.listen,
        public_url=args.public_url,
        github_url=args.github_url,
        github_api_url=args.github_api_url,
        client_id_file=path(args.github_client_id_file),
        client_secret_file=path(args.github_client_secret_file),
        bootstrap_token_file=path(args.bootstrap_token_file),
        bootstrap_kubeconfig=path(args.bootstrap_kubeconfig),
        signing_key=path(args.signing_key),
        tls_cert=path(args.tls_cert),
        tls_key=path(args.tls_key),
        issuer_listen=args.issuer_listen,
    )


def _limit_flags(serve: argparse.ArgumentParser) -> None:
    """The store's limits (statestore/limits.py holds the defaults and why)."""
    from statestore.limits import DEFAULT

    def add(flag: str, kind: type, default: object, text: str) -> None:
        serve.add_argument(flag, type=kind, default=default, help=f"{text} (default %(default)s)")

    add("--max-object-bytes", int, DEFAULT.max_object_bytes, "largest stored object, bytes")
    add("--max-header-bytes", int, DEFAULT.max_header_bytes, "largest request head (431)")
    add("--header-timeout", float, DEFAULT.header_timeout, "seconds to send a request head")
    add("--body-timeout", float, DEFAULT.body_timeout, "seconds to send a request body")
    add("--max-connections", int, DEFAULT.max_connections, "open connections at once")
    add(
        "--max-requests-inflight",
        int,
        DEFAULT.max_requests_inflight,
        "reads served at once, watches excepted (429)",
    )
    add(
        "--max-mutating-requests-inflight",
        int,
        DEFAULT.max_mutating_requests_inflight,
        "writes served at once (429)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wws", description="Winmutt's Work Spaces")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    store = commands.add_parser("store", help="the embedded Kubernetes-compatible state store")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    serve = store_commands.add_parser("serve", help="serve the Kubernetes API from SQLite")
    serve.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    serve.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT (default %(default)s)")
    serve.add_argument("--crds", help="apply every CRD YAML file in this folder at start")
    serve.add_argument(
        "--wws-crds",
        action="store_true",
        help="apply WWS's own CRDs at start (the ones installed with wws; --crds wins)",
    )
    serve.add_argument(
        "--tls-cert-file",
        "--tls-cert",
        dest="tls_cert",
        help="a serving certificate of your own (PEM; default: made from the store's CA)",
    )
    serve.add_argument(
        "--tls-private-key-file", "--tls-key", dest="tls_key", help="its private key (PEM)"
    )
    serve.add_argument(
        "--encryption-provider-config",
        metavar="FILE",
        help="EncryptionConfiguration (apiserver.config.k8s.io/v1, mode 0600): encrypt "
        "Secrets (or what it names) at rest with aesgcm or secretbox",
    )
    serve.add_argument(
        "--tls-san",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name or IP address for the made certificate (repeatable)",
    )
    serve.add_argument(
        "--token-auth-file",
        help="static tokens, kube's CSV format (default: DATA_DIR/tokens.csv with WWS's "
        "identities, made when missing)",
    )
    serve.add_argument(
        "--authentication-config",
        help="AuthenticationConfiguration (apiserver.config.k8s.io) with JWT issuers",
    )
    serve.add_argument("--audit-log-path", help="write audit.k8s.io/v1 events here (JSON lines)")
    serve.add_argument("--audit-policy-file", help="the audit Policy (kube's format)")
    serve.add_argument(
        "--audit-log-maxsize", type=int, default=100, help="megabytes before rotation"
    )
    serve.add_argument(
        "--audit-log-maxbackup", type=int, default=0, help="rotated files kept (0: all)"
    )
    serve.add_argument(
        "--audit-log-maxage", type=int, default=0, help="days rotated files are kept"
    )
    serve.add_argument(
        "--manifests",
        action="append",
        help="apply the RBAC objects and admission policies of this folder's YAML at start",
    )
    _limit_flags(serve)
    serve.set_defaults(handler=_store_serve)

    crds = commands.add_parser("crds", help="CustomResourceDefinitions of the WWS API")
    crds_commands = crds.add_subparsers(dest="crds_command", required=True)
    generate = crds_commands.add_parser("generate", help="write crds/*.yaml from api/")
    generate.add_argument(
        "--out", help="default: the crds folder of this install (a checkout's crds/)"
    )
    generate.add_argument("--check", action="store_true", help="fail when the files differ")
    generate.set_defaults(handler=_crds_generate)

    controller = commands.add_parser("controller", help="the kopf controller")
    controller_commands = controller.add_subparsers(dest="controller_command", required=True)
    run = controller_commands.add_parser("run", help="converge Workspaces onto providers")
    run.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    run.add_argument(
        "--resync",
        type=float,
        default=30.0,
        help="seconds between listings of each provider's workspaces (what events missed)",
    )
    run.add_argument("--health-listen", default="127.0.0.1:8081", help="health + /metrics")
    run.set_defaults(handler=_controller_run)

    image = commands.add_parser("image", help="workspace images")
    image_commands = image.add_subparsers(dest="image_command", required=True)
    build = image_commands.add_parser("build", help="build localhost/wws/workspace:bookworm")
    build.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    build.add_argument("--force", action="store_true", help="rebuild even when cached")
    build.set_defaults(handler=_image_build)

    ssh_config = commands.add_parser(
        "ssh-config",
        help="print a ~/.ssh/config block for a workspace (VS Code Remote-SSH, Gateway)",
    )
    ssh_config.add_argument("workspace", metavar="NAMESPACE/NAME")
    ssh_config.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    ssh_config.add_argument(
        "--identity-file", help="the private key to log in with (adds IdentityFile)"
    )
    ssh_config.set_defaults(handler=_ssh_config)

    dev = commands.add_parser("dev", help="tools for developing and trying WWS offline")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    github = dev_commands.add_parser(
        "github", help="a local GitHub stand-in (OAuth, users, orgs, teams) from a YAML file"
    )
    github.add_argument("--users", required=True, help="the YAML file of users, orgs and teams")
    github.add_argument(
        "--listen", default="127.0.0.1:8090", help="HOST:PORT, port 0: any (default %(default)s)"
    )
    github.add_argument("--auto-approve", help="sign in as this login without the OAuth page")
    github.add_argument("--url-file", help="write the URL served to this file once listening")
    github.set_defaults(handler=_dev_github)

    webui = commands.add_parser("webui", help="the web UI")
    webui_commands = webui.add_subparsers(dest="webui_command", required=True)
    webui_serve = webui_commands.add_parser("serve", help="serve the web UI")
    webui_serve.add_argument("--kubeconfig", help="the UI's own identity (wws:webui)")
    webui_serve.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT")
    webui_serve.add_argument("--public-url", help="the URL people use (default: from --listen)")
    webui_serve.add_argument(
        "--github-url", help="GitHub's web URL: https://github.com, https://GHES-HOST, a stand-in"
    )
    webui_serve.add_argument(
        "--github-api-url", help="GitHub's REST URL (default: api.github.com or --github-url)"
    )
    webui_serve.add_argument("--github-client-id-file", help="file with the OAuth app's id")
    webui_serve.add_argument("--github-client-secret-file", help="file with the OAuth secret")
    webui_serve.add_argument(
        "--bootstrap-token-file", help="file with the secret of the one-time sign-in link"
    )
    webui_serve.add_argument(
        "--bootstrap-kubeconfig", help="credentials of the one-time sign-in (the admin's)"
    )
    webui_serve.add_argument("--signing-key", help="PEM file of the OIDC signing key")
    webui_serve.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    webui_serve.add_argument("--tls-key", help="the private key of --tls-cert")
    webui_serve.add_argument(
        "--issuer-listen", help="HOST:PORT: serve the OIDC issuer over HTTPS (--tls-cert) here"
    )
    webui_serve.set_defaults(handler=_webui_serve)

    up = commands.add_parser("up", help="store + controller + web UI on this machine")
    up.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    up.add_argument("--listen", default="127.0.0.1:6443", help="the store's HOST:PORT")
    up.add_argument(
        "--health-listen", default="127.0.0.1:8081", help="the controller's health + /metrics"
    )
    up.add_argument("--webui-listen", default="127.0.0.1:8080", help="the web UI's HOST:PORT")
    up.add_argument(
        "--webui-issuer-listen",
        help="HOST:PORT of the UI's OIDC issuer, https (default: the UI's port + 363)",
    )
    up.add_argument(
        "--dev-github", metavar="FILE", help="run the GitHub stand-in with these people"
    )
    up.add_argument("--github-url", help="GitHub's web URL (GitHub Enterprise: https://HOST)")
    up.add_argument("--github-client-id-file", help="file with the OAuth app's client id")
    up.add_argument("--github-client-secret-file", help="file with the OAuth app's secret")
    up.set_defaults(handler=_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logconfig.configure(level=args.log_level)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
