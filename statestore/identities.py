"""WWS's own identities in the store's static token file, each with a kubeconfig.

``wws:admin`` is in ``system:masters`` (everything, as the kubeconfig of old); the controller
and the web UI have identities of their own, given rights by the ClusterRoles in ``deploy/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from statestore.authn import tokenfile
from statestore.authn.user import MASTERS, UserInfo

TOKEN_FILE = "tokens.csv"


@dataclass(frozen=True)
class Identity:
    user: UserInfo
    kubeconfig: str  # file name in the data dir


ADMIN = Identity(UserInfo("wws:admin", "wws-admin", (MASTERS,)), "kubeconfig")
CONTROLLER = Identity(UserInfo("wws:controller", "wws-controller"), "controller.kubeconfig")
WEBUI = Identity(UserInfo("wws:webui", "wws-webui"), "webui.kubeconfig")
ALL = (ADMIN, CONTROLLER, WEBUI)


def ensure_token_file(path: Path, *, admin_token: str | None = None) -> None:
    """Write (or complete) the token file with a token for each WWS identity, mode 0600."""
    keep = {ADMIN.user.username: admin_token} if admin_token else None
    tokenfile.ensure(path, [identity.user for identity in ALL], keep=keep)


def tokens_by_user(tokens: dict[str, UserInfo]) -> dict[str, str]:
    return {user.username: token for token, user in tokens.items()}
