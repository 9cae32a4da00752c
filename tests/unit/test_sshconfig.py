"""``wws ssh-config``'s block, and its one-line refusals."""

from __future__ import annotations

import pytest

from tests.unit.test_reconcile_workspace import after, make, running
from wws import sshconfig


def running_workspace(**spec: object) -> dict[str, object]:
    ws = make({"owner": "Alice-Dev", **spec})
    _, status = after(ws, running)
    body = ws.to_dict()
    body["status"] = status.to_dict()
    return body


def test_the_block_names_host_port_user_and_a_stable_host_key_alias() -> None:
    block = sshconfig.render(running_workspace(), identity_file="~/.ssh/id_ed25519")
    lines = [line.strip() for line in block.splitlines()]
    assert "Host wws-acme-alice-api" in lines
    assert "HostName 127.0.0.1" in lines
    assert "Port 42022" in lines
    assert "User alice-dev" in lines
    assert "HostKeyAlias wws-acme-alice-api" in lines
    assert "IdentityFile ~/.ssh/id_ed25519" in lines
    assert "IdentityFile" not in sshconfig.render(running_workspace())


def test_a_stopped_workspace_or_one_without_ssh_is_refused() -> None:
    stopped = running_workspace()
    stopped["spec"]["running"] = False  # type: ignore[index]
    with pytest.raises(sshconfig.SSHConfigError, match="is not running"):
        sshconfig.render(stopped)
    with pytest.raises(sshconfig.SSHConfigError, match="SSH turned off"):
        sshconfig.render(running_workspace(editors={"ssh": False}))
    new = make().to_dict()
    with pytest.raises(sshconfig.SSHConfigError, match=r"not running \(phase unknown\)"):
        sshconfig.render(new)


@pytest.mark.parametrize("target", ["acme", "acme/", "/x", "Acme/x", "acme/x/y"])
def test_the_target_is_namespace_slash_name(target: str) -> None:
    with pytest.raises(sshconfig.SSHConfigError, match="NAMESPACE/NAME"):
        sshconfig.parse_target(target)
    assert sshconfig.parse_target("acme/alice-api") == ("acme", "alice-api")
