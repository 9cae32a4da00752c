"""The structured AuthenticationConfiguration: refused with kube's field paths, and claims
mapped to users with claims, prefixes and CEL."""

from __future__ import annotations

from typing import Any

import pytest

from statestore.authn import config, oidc


def document(**jwt: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "issuer": {"url": "https://id.example.com", "audiences": ["wws"]},
        "claimMappings": {"username": {"claim": "login", "prefix": "github:"}},
    }
    base.update(jwt)
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [base],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"issuer": {"url": "http://id.example.com", "audiences": ["wws"]}},
            "jwt[0].issuer.url: Invalid value",
        ),
        ({"issuer": {"url": "https://id.example.com"}}, "jwt[0].issuer.audiences: Required value"),
        (
            {"issuer": {"url": "https://id.example.com", "audiences": ["a", "b"]}},
            "jwt[0].issuer.audienceMatchPolicy",
        ),
        (
            {"claimMappings": {"username": {"claim": "login"}}},
            "jwt[0].claimMappings.username.prefix: Required value",
        ),
        (
            {"claimMappings": {"username": {"expression": "claims.login +"}}},
            "jwt[0].claimMappings.username.expression: Invalid value",
        ),
        (
            {
                "claimMappings": {
                    "username": {"claim": "sub", "prefix": ""},
                    "extra": [{"key": "Emails", "valueExpression": "claims.emails"}],
                }
            },
            "jwt[0].claimMappings.extra[0].key",
        ),
    ],
)
def test_invalid_configurations_name_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(config.ConfigError, match=expected.replace(".", r"\.").replace("[", r"\[")):
        config.parse(document(**changes))


def test_claims_to_user_with_prefixes_expressions_and_rules() -> None:
    [authenticator] = config.parse(
        document(
            claimMappings={
                "username": {"expression": "'github:' + claims.login.lowerAscii()"},
                "groups": {"claim": "teams", "prefix": "github:"},
                "uid": {"claim": "sub"},
                "extra": [{"key": "wws.dev/emails", "valueExpression": "claims.emails"}],
            },
            claimValidationRules=[{"claim": "hd", "requiredValue": "example.com"}],
            userValidationRules=[
                {"expression": "!user.username.startsWith('system:')", "message": "no system users"}
            ],
        )
    )
    issuer = oidc.Issuer(authenticator)
    claims = {
        "login": "Alice",
        "teams": ["ops"],
        "sub": "42",
        "emails": ["a@x"],
        "hd": "example.com",
    }
    user = issuer.user_for(claims)
    assert user.username == "github:alice"
    assert user.groups == ("github:ops",)
    assert user.uid == "42"
    assert dict(user.extra) == {"wws.dev/emails": ("a@x",)}
    with pytest.raises(oidc.TokenRejected):
        issuer.user_for({**claims, "hd": "evil.com"})
    with pytest.raises(oidc.TokenRejected):
        issuer.user_for({**claims, "teams": [1]})
