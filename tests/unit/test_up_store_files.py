"""What ``wws up`` writes for the store before starting it: the token file of WWS's
identities, the audit policy, and the AuthenticationConfiguration that trusts the web UI."""

from __future__ import annotations

from pathlib import Path

from statestore.audit import policy
from statestore.authn import config, tokenfile
from wws import up


def test_token_file_audit_policy_and_authentication_config(tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = up._prepare_store(store, tmp_path, "https://127.0.0.1:8443")
    tokens = tokenfile.load(store / "tokens.csv")
    users = {user.username: user for user in tokens.values()}
    assert set(users) == {"wws:admin", "wws:controller", "wws:webui"}
    assert users["wws:admin"].groups == ("system:masters",)
    assert (store / "tokens.csv").stat().st_mode & 0o777 == 0o600
    admin_token = (store / "token").read_text().strip()
    assert tokens[admin_token].username == "wws:admin"  # older kubeconfigs keep working
    policy.load(tmp_path / "audit-policy.yaml")
    [issuer] = config.load(store / "authentication.yaml")
    assert issuer.issuer_url == "https://127.0.0.1:8443"
    assert issuer.audiences == ("wws",)
    assert issuer.certificate_authority == (store / "tls" / "ca.crt").read_text()
    assert issuer.username.claim == "login" and issuer.username.prefix == "github:"
    assert [mapping.key for mapping in issuer.extra] == ["wws.dev/emails"]
    for flag, value in (
        ("--token-auth-file", store / "tokens.csv"),
        ("--authentication-config", store / "authentication.yaml"),
        ("--audit-policy-file", tmp_path / "audit-policy.yaml"),
    ):
        assert args[args.index(flag) + 1] == str(value)
    # a second start keeps the tokens (kubeconfigs handed out stay valid)
    up._prepare_store(store, tmp_path, "https://127.0.0.1:8443")
    assert tokenfile.load(store / "tokens.csv") == tokens
