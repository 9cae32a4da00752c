"""The RBAC authorizer over the store's Roles and bindings, with an index by subject.

kube-apiserver walks every ClusterRoleBinding (and every RoleBinding of the namespace) per
request; here bindings are indexed by subject (user, group, service account), so a request
looks up only the bindings that name its user or one of its groups. The rules a user holds
in a namespace are cached until any RBAC object changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from statestore import resources
from statestore.authn.user import UserInfo
from statestore.rbac.attributes import Attributes
from statestore.rbac.rules import PolicyRule

SubjectKey = tuple[str, str]  # ("User" | "Group", name); service accounts are users
CACHE_SIZE = 20_000


@dataclass(frozen=True)
class Source:
    """Where a rule came from, worded as kube's RBAC reasons word it."""

    kind: str  # "ClusterRoleBinding" | "RoleBinding"
    binding: str
    namespace: str
    role_kind: str
    role_name: str
    subject: dict[str, Any]

    def __str__(self) -> str:
        name = f"{self.binding}/{self.namespace}" if self.kind == "RoleBinding" else self.binding
        return f'{self.kind} "{name}" of {self.role_kind} "{self.role_name}" to {self._subject()}'

    def _subject(self) -> str:
        kind, name = self.subject.get("kind", ""), self.subject.get("name", "")
        if kind == "ServiceAccount":
            return f'{kind} "{name}/{self.subject.get("namespace") or self.namespace}"'
        return f'{kind} "{name}"'


@dataclass
class RuleSet:
    rules: list[tuple[Source, PolicyRule]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    evaluation_error: str = ""


def subject_key(subject: dict[str, Any], binding_namespace: str) -> SubjectKey | None:
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "User":
        return ("User", name)
    if kind == "Group":
        return ("Group", name)
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        if not namespace:
            return None
        return ("User", f"system:serviceaccount:{namespace}:{name}")
    return None


def user_keys(user: UserInfo) -> list[SubjectKey]:
    return [("User", user.username), *(("Group", g) for g in user.groups)]


class RBACAuthorizer:
    def __init__(
        self, get_object: Callable[[resources.ResourceInfo, str | None, str], Any]
    ) -> None:
        #: ``get_object(info, namespace, name)`` → the stored object or None
        self._get = get_object
        self._cluster: dict[SubjectKey, set[str]] = {}
        self._namespaced: dict[tuple[str, SubjectKey], set[str]] = {}
        self._indexed: dict[str, tuple[SubjectKey, ...]] = {}
        self._role_rules: dict[str, tuple[str, tuple[PolicyRule, ...]]] = {}
        self._cache: dict[tuple[str, tuple[str, ...], str], RuleSet] = {}

    # -------------------------------------------------------------- the index

    def index(self, key: str, obj: dict[str, Any] | None) -> None:
        """Record a change of an RBAC object (``obj`` None: deleted)."""
        self._cache.clear()
        _, plural, namespace, name = key.split("/", 3)
        if plural in ("roles", "clusterroles"):
            self._role_rules.pop(key, None)
            return
        cluster = plural == "clusterrolebindings"
        for subject in self._indexed.pop(key, ()):
            if cluster:
                self._cluster.get(subject, set()).discard(name)
            else:
                self._namespaced.get((namespace, subject), set()).discard(name)
        if obj is None:
            return
        found: list[SubjectKey] = []
        for subject in obj.get("subjects") or []:
            if isinstance(subject, dict):
                subject_id = subject_key(subject, namespace)
                if subject_id is not None:
                    found.append(subject_id)
        for subject_id in found:
            if cluster:
                self._cluster.setdefault(subject_id, set()).add(name)
            else:
                self._namespaced.setdefault((namespace, subject_id), set()).add(name)
        self._indexed[key] = tuple(found)

    # -------------------------------------------------------------- rules

    def _rules_of(
        self, info: resources.ResourceInfo, namespace: str | None, name: str
    ) -> tuple[PolicyRule, ...] | None:
        obj = self._get(info, namespace, name)
        if obj is None:
            return None
        key = info.key(namespace, name)
        version = str(obj.get("metadata", {}).get("resourceVersion", ""))
        cached = self._role_rules.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        rules = tuple(
            PolicyRule.from_dict(rule) for rule in obj.get("rules") or [] if isinstance(rule, dict)
        )
        self._role_rules[key] = (version, rules)
        return rules

    def role_ref_rules(self, role_ref: dict[str, Any], namespace: str) -> tuple[PolicyRule, ...]:
        """The rules a binding's roleRef grants; raises LookupError with kube's message."""
        kind, name = role_ref.get("kind"), str(role_ref.get("name") or "")
        if kind == "Role":
            rules = self._rules_of(resources.ROLES, namespace, name)
            if rules is None:
                raise LookupError(f'role.rbac.authorization.k8s.io "{name}" not found')
            return rules
        if kind == "ClusterRole":
            rules = self._rules_of(resources.CLUSTERROLES, None, name)
            if rules is None:
                raise LookupError(f'clusterrole.rbac.authorization.k8s.io "{name}" not found')
            return rules
        raise LookupError(f'unsupported role reference kind: "{kind}"')

    def _visit(
        self,
        info: resources.ResourceInfo,
        namespace: str,
        names: Iterable[str],
        user: UserInfo,
        result: RuleSet,
    ) -> None:
        for name in sorted(names):
            binding = self._get(info, namespace or None, name)
            if binding is None:
                continue
            subject = _matching_subject(binding, user, namespace)
            if subject is None:
                continue
            role_ref = binding.get("roleRef") or {}
            try:
                rules = self.role_ref_rules(role_ref, namespace)
            except LookupError as error:
                result.errors.append(str(error))
                continue
            source = Source(
                info.kind,
                name,
                namespace,
                str(role_ref.get("kind")),
                str(role_ref.get("name")),
                subject,
            )
            result.rules.extend((source, rule) for rule in rules)

    def rules_for(self, user: UserInfo, namespace: str) -> RuleSet:
        cache_key = (user.username, user.groups, namespace)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        result = RuleSet()
        keys = user_keys(user)
        cluster_names: set[str] = set()
        for key in keys:
            cluster_names |= self._cluster.get(key, set())
        self._visit(resources.CLUSTERROLEBINDINGS, "", cluster_names, user, result)
        if namespace:
            names: set[str] = set()
            for key in keys:
                names |= self._namespaced.get((namespace, key), set())
            self._visit(resources.ROLEBINDINGS, namespace, names, user, result)
        if len(self._cache) > CACHE_SIZE:
            self._cache.clear()
        self._cache[cache_key] = result
        return result

    # -------------------------------------------------------------- decisions

    def authorize(self, attributes: Attributes) -> Decision:
        user = attributes.user
        if user.is_master:
            return Decision(True)
        ruleset = self.rules_for(user, attributes.namespace)
        for source, rule in ruleset.rules:
            if rule.allows(attributes):
                return Decision(True, f"RBAC: allowed by {source}")
        if ruleset.errors:
            return Decision(False, "RBAC: " + _aggregate(ruleset.errors))
        return Decision(False)


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's wording."""
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


def _matching_subject(
    binding: dict[str, Any], user: UserInfo, namespace: str
) -> dict[str, Any] | None:
    wanted = set(user_keys(user))
    for subject in binding.get("subjects") or []:
        if isinstance(subject, dict) and subject_key(subject, namespace) in wanted:
            return subject
    return None
