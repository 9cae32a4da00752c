"""RBAC rule evaluation and covering, case by case as kube's evaluation_helpers and
component-helpers/auth/rbac/validation decide them."""

from __future__ import annotations

import pytest

from statestore.authn.user import UserInfo
from statestore.rbac.attributes import Attributes
from statestore.rbac.rules import PolicyRule, covers

BOB = UserInfo("github:bob", groups=("system:authenticated",))


def resource(
    verb: str, group: str, res: str, sub: str = "", name: str = "", ns: str = "acme"
) -> Attributes:
    return Attributes(BOB, verb, True, group, "v1", res, sub, ns, name)


def path(verb: str, url: str) -> Attributes:
    return Attributes(BOB, verb, False, path=url)


@pytest.mark.parametrize(
    ("rule", "attributes", "allowed"),
    [
        (PolicyRule(("get",), ("",), ("pods",)), resource("get", "", "pods"), True),
        (PolicyRule(("get",), ("",), ("pods",)), resource("get", "", "pods", "log"), False),
        (PolicyRule(("get",), ("",), ("pods/log",)), resource("get", "", "pods", "log"), True),
        (
            PolicyRule(("*",), ("*",), ("*",)),
            resource("delete", "wws.dev", "workspaces", "status"),
            True,
        ),
        (
            PolicyRule(("get",), ("apps",), ("*/scale",)),
            resource("get", "apps", "deployments", "scale"),
            True,
        ),
        (
            PolicyRule(("get",), ("apps",), ("*/scale",)),
            resource("get", "apps", "deployments"),
            False,
        ),
        (PolicyRule(("get",), ("",), ("pods/*",)), resource("get", "", "pods", "log"), False),
        (
            PolicyRule(("get",), ("wws.dev",), ("workspaces",)),
            resource("get", "", "workspaces"),
            False,
        ),
        # resourceNames: never for create (no name), lists only when pinned to the name
        (
            PolicyRule(("create",), ("",), ("configmaps",), ("one",)),
            resource("create", "", "configmaps"),
            False,
        ),
        (
            PolicyRule(("list",), ("",), ("configmaps",), ("one",)),
            resource("list", "", "configmaps"),
            False,
        ),
        (
            PolicyRule(("list",), ("",), ("configmaps",), ("one",)),
            resource("list", "", "configmaps", name="one"),
            True,
        ),
        (
            PolicyRule(("create",), ("wws.dev",), ("workspaces/connect",), ("a",)),
            resource("create", "wws.dev", "workspaces", "connect", "a"),
            True,
        ),
        # non-resource URLs: exact, or a prefix ending in *
        (PolicyRule(verbs=("get",), non_resource_urls=("/api/*",)), path("get", "/api/v1"), True),
        (PolicyRule(verbs=("get",), non_resource_urls=("/api/*",)), path("get", "/apis"), False),
        (
            PolicyRule(verbs=("get",), non_resource_urls=("/version",)),
            path("get", "/version/"),
            False,
        ),
        (PolicyRule(verbs=("get",), non_resource_urls=("*",)), path("get", "/metrics"), True),
        (PolicyRule(verbs=("get",), non_resource_urls=("*",)), resource("get", "", "pods"), False),
    ],
)
def test_rule_allows(rule: PolicyRule, attributes: Attributes, allowed: bool) -> None:
    assert rule.allows(attributes) is allowed


def test_covers_breaks_rules_down_and_reports_what_is_missing() -> None:
    owned = [
        PolicyRule(("get", "list"), ("",), ("configmaps",)),
        PolicyRule(("get",), ("apps",), ("*/scale",)),
        PolicyRule(("get",), ("",), ("secrets",), ("one",)),
        PolicyRule(verbs=("get",), non_resource_urls=("/api/*",)),
    ]
    assert covers(owned, [PolicyRule(("get",), ("",), ("configmaps",))]) == []
    assert covers(owned, [PolicyRule(("get",), ("apps",), ("deployments/scale",))]) == []
    assert covers(owned, [PolicyRule(("get",), ("",), ("secrets",), ("one",))]) == []
    assert covers(owned, [PolicyRule(verbs=("get",), non_resource_urls=("/api/v1",))]) == []
    # a rule with resourceNames does not cover the whole resource
    assert covers(owned, [PolicyRule(("get",), ("",), ("secrets",))]) == [
        PolicyRule(("get",), ("",), ("secrets",))
    ]
    missing = covers(owned, [PolicyRule(("get", "delete"), ("",), ("configmaps",))])
    assert missing == [PolicyRule(("delete",), ("",), ("configmaps",))]
    assert (
        missing[0].compact_string()
        == '{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}'
    )


def test_forbidden_messages_in_kube_wording() -> None:
    assert resource("delete", "wws.dev", "workspaces", name="x").forbidden_message() == (
        'workspaces.wws.dev "x" is forbidden: User "github:bob" cannot delete resource '
        '"workspaces" in API group "wws.dev" in the namespace "acme"'
    )
    assert resource("list", "", "namespaces", ns="").forbidden_message() == (
        'namespaces is forbidden: User "github:bob" cannot list resource "namespaces" in API '
        'group "" at the cluster scope'
    )
    assert path("get", "/metrics").forbidden_message() == (
        'forbidden: User "github:bob" cannot get path "/metrics"'
    )
