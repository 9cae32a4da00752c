"""PolicyRules: matching a request (evaluation_helpers.go) and covering other rules
(component-helpers' ``Covers``, for privilege-escalation checks)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from statestore.rbac.attributes import Attributes

ALL = "*"


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PolicyRule:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or ()
            return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()

        return cls(
            verbs=strings("verbs"),
            api_groups=strings("apiGroups"),
            resources=strings("resources"),
            resource_names=strings("resourceNames"),
            non_resource_urls=strings("nonResourceURLs"),
        )

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"verbs": list(self.verbs)}
        if self.api_groups:
            result["apiGroups"] = list(self.api_groups)
        if self.resources:
            result["resources"] = list(self.resources)
        if self.resource_names:
            result["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            result["nonResourceURLs"] = list(self.non_resource_urls)
        return result

    # -------------------------------------------------------------- matching

    def verb_matches(self, verb: str) -> bool:
        return ALL in self.verbs or verb in self.verbs

    def group_matches(self, group: str) -> bool:
        return ALL in self.api_groups or group in self.api_groups

    def resource_matches(self, combined: str, subresource: str) -> bool:
        for resource in self.resources:
            if resource in (ALL, combined):
                return True
            # "*/scale" matches the scale subresource of every resource
            if (
                subresource
                and len(resource) == len(subresource) + 2
                and resource.startswith("*/")
                and resource.endswith(subresource)
            ):
                return True
        return False

    def name_matches(self, name: str) -> bool:
        return not self.resource_names or name in self.resource_names

    def url_matches(self, path: str) -> bool:
        for url in self.non_resource_urls:
            if url in (ALL, path):
                return True
            if url.endswith("*") and path.startswith(url.rstrip("*")):
                return True
        return False

    def allows(self, attributes: Attributes) -> bool:
        """RuleAllows of kube's RBAC authorizer."""
        if attributes.resource_request:
            combined = attributes.resource
            if attributes.subresource:
                combined = f"{attributes.resource}/{attributes.subresource}"
            return (
                self.verb_matches(attributes.verb)
                and self.group_matches(attributes.group)
                and self.resource_matches(combined, attributes.subresource)
                and self.name_matches(attributes.name)
            )
        return self.verb_matches(attributes.verb) and self.url_matches(attributes.path)

    def compact_string(self) -> str:
        """``CompactString`` of k8s.io/kubernetes/pkg/apis/rbac/v1 (escalation messages)."""

        def quoted(values: tuple[str, ...]) -> str:
            return "[" + " ".join(_go_quote(v) for v in values) + "]"

        parts = []
        if self.api_groups:
            parts.append(f"APIGroups:{quoted(self.api_groups)}")
        if self.resources:
            parts.append(f"Resources:{quoted(self.resources)}")
        if self.non_resource_urls:
            parts.append(f"NonResourceURLs:{quoted(self.non_resource_urls)}")
        if self.resource_names:
            parts.append(f"ResourceNames:{quoted(self.resource_names)}")
        if self.verbs:
            parts.append(f"Verbs:{quoted(self.verbs)}")
        return "{" + ", ".join(parts) + "}"


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ covering


def breakdown(rule: PolicyRule) -> Iterator[PolicyRule]:
    """One rule per (verb, group, resource[, name]), or per (verb, URL)."""
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    for name in rule.resource_names:
                        yield PolicyRule((verb,), (group,), (resource,), (name,))
                else:
                    yield PolicyRule((verb,), (group,), (resource,))
    for url in rule.non_resource_urls:
        for verb in rule.verbs:
            yield PolicyRule(verbs=(verb,), non_resource_urls=(url,))


def _has_all(values: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    return set(wanted) <= set(values)


def _resources_cover(owned: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if ALL in owned or _has_all(owned, wanted):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, sub: str) -> bool:
    return owner == sub or (owner.endswith("*") and sub.startswith(owner.rstrip("*")))


def rule_covers(owner: PolicyRule, sub: PolicyRule) -> bool:
    verbs = ALL in owner.verbs or _has_all(owner.verbs, sub.verbs)
    groups = ALL in owner.api_groups or _has_all(owner.api_groups, sub.api_groups)
    resources = _resources_cover(owner.resources, sub.resources)
    urls = all(
        any(_url_covers(o, s) for o in owner.non_resource_urls) for s in sub.non_resource_urls
    )
    if not sub.resource_names:
        names = not owner.resource_names
    else:
        names = not owner.resource_names or _has_all(owner.resource_names, sub.resource_names)
    return verbs and groups and resources and names and urls


def covers(owned: list[PolicyRule], wanted: Iterable[PolicyRule]) -> list[PolicyRule]:
    """The parts of ``wanted`` that ``owned`` does not cover (empty: all covered)."""
    missing: list[PolicyRule] = []
    for rule in wanted:
        for sub in breakdown(rule):
            if not any(rule_covers(owner, sub) for owner in owned):
                missing.append(sub)
    return missing


def compact(rules: list[PolicyRule]) -> list[PolicyRule]:
    """Merge single-resource rules that differ only in verbs (kube's ``CompactRules``)."""
    merged: dict[tuple[Any, ...], list[str]] = {}
    others: list[PolicyRule] = []
    for rule in rules:
        if rule.non_resource_urls or len(rule.api_groups) != 1 or len(rule.resources) != 1:
            others.append(rule)
            continue
        key = (rule.api_groups, rule.resources, rule.resource_names)
        verbs = merged.setdefault(key, [])
        verbs.extend(v for v in rule.verbs if v not in verbs)
    result = [PolicyRule(tuple(v), k[0], k[1], k[2]) for k, v in merged.items()]
    return result + others
