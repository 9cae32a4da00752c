"""ClusterRole aggregation (kube-controller-manager's clusterrole-aggregation controller):
a ClusterRole with an ``aggregationRule`` holds the union of the rules of every ClusterRole
its selectors match, kept up to date as those change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from statestore import labelselect


def aggregated_rules(
    role: dict[str, Any], all_roles: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rules ``role`` should hold: matched roles' rules in name order, duplicates dropped."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    own = role["metadata"]["name"]
    rules: list[dict[str, Any]] = []
    for other in sorted(all_roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == own:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(labelselect.matches(selector, labels) for selector in selectors):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules
