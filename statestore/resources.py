"""What the store serves: built-in kinds plus one entry per established CustomResourceDefinition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

CRD_GROUP = "apiextensions.k8s.io"
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class VersionInfo:
    name: str
    served: bool = True
    storage: bool = True
    #: ``openAPIV3Schema`` of the version; ``None`` means "anything goes" (built-in kinds).
    schema: dict[str, Any] | None = None
    status_subresource: bool = False
    printer_columns: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: tuple[VersionInfo, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    builtin: bool = False
    verbs: tuple[str, ...] = ALL_VERBS
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """``plural.group`` as Kubernetes names a resource in messages (``plural`` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def version(self, name: str) -> VersionInfo | None:
        for version in self.versions:
            if version.name == name and version.served:
                return version
        return None

    @property
    def storage_version(self) -> VersionInfo:
        for version in self.versions:
            if version.storage:
                return version
        return self.versions[0]

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def key_prefix(self, namespace: str | None = None) -> str:
        """Storage keys are ``group/plural/namespace/name``; one prefix selects a collection."""
        if namespace is None:
            return f"{self.group}/{self.plural}/"
        return f"{self.group}/{self.plural}/{namespace}/"

    def key(self, namespace: str | None, name: str) -> str:
        return f"{self.group}/{self.plural}/{namespace or ''}/{name}"


def _builtin(
    group: str,
    version: str,
    plural: str,
    singular: str,
    kind: str,
    *,
    namespaced: bool,
    short_names: tuple[str, ...] = (),
    schema: dict[str, Any] | None = None,
    status: bool = False,
    verbs: tuple[str, ...] | None = None,
) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        plural=plural,
        singular=singular,
        kind=kind,
        namespaced=namespaced,
        versions=(VersionInfo(name=version, schema=schema, status_subresource=status),),
        short_names=short_names,
        builtin=True,
        verbs=verbs if verbs is not None else ALL_VERBS,
    )


NAMESPACES = _builtin(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    status=True,
    # As in kube: a namespace is deleted one at a time, never as a collection.
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
EVENTS = _builtin("", "v1", "events", "event", "Event", namespaced=True, short_names=("ev",))
SECRETS = _builtin("", "v1", "secrets", "secret", "Secret", namespaced=True)
CONFIGMAPS = _builtin(
    "", "v1", "configmaps", "configmap", "ConfigMap", namespaced=True, short_names=("cm",)
)
CRDS = _builtin(
    CRD_GROUP,
    "v1",
    "customresourcedefinitions",
    "customresourcedefinition",
    "CustomResourceDefinition",
    namespaced=False,
    short_names=("crd", "crds"),
    status=True,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = _builtin(RBAC_GROUP, "v1", "roles", "role", "Role", namespaced=True)
CLUSTERROLES = _builtin(
    RBAC_GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", namespaced=False
)
ROLEBINDINGS = _builtin(
    RBAC_GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding", namespaced=True
)
CLUSTERROLEBINDINGS = _builtin(
    RBAC_GROUP,
    "v1",
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    namespaced=False,
)
ADMISSION_GROUP = "admissionregistration.k8s.io"
VALIDATING_POLICIES = _builtin(
    ADMISSION_GROUP,
    "v1",
    "validatingadmissionpolicies",
    "validatingadmissionpolicy",
    "ValidatingAdmissionPolicy",
    namespaced=False,
)
VALIDATING_POLICY_BINDINGS = _builtin(
    ADMISSION_GROUP,
    "v1",
    "validatingadmissionpolicybindings",
    "validatingadmissionpolicybinding",
    "ValidatingAdmissionPolicyBinding",
    namespaced=False,
)


def _review(group: str, plural: str, kind: str, *, namespaced: bool = False) -> ResourceInfo:
    """A create-only kind that is answered, never stored (access and identity reviews)."""
    return ResourceInfo(
        group=group,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        versions=(VersionInfo(name="v1"),),
        builtin=True,
        verbs=("create",),
        extra={"review": True},
    )


AUTHZ_GROUP = "authorization.k8s.io"
AUTHN_GROUP = "authentication.k8s.io"
SELF_SUBJECT_ACCESS_REVIEWS = _review(
    AUTHZ_GROUP, "selfsubjectaccessreviews", "SelfSubjectAccessReview"
)
SELF_SUBJECT_RULES_REVIEWS = _review(
    AUTHZ_GROUP, "selfsubjectrulesreviews", "SelfSubjectRulesReview"
)
SUBJECT_ACCESS_REVIEWS = _review(AUTHZ_GROUP, "subjectaccessreviews", "SubjectAccessReview")
LOCAL_SUBJECT_ACCESS_REVIEWS = _review(
    AUTHZ_GROUP, "localsubjectaccessreviews", "LocalSubjectAccessReview", namespaced=True
)
SELF_SUBJECT_REVIEWS = _review(AUTHN_GROUP, "selfsubjectreviews", "SelfSubjectReview")

BUILTINS: tuple[ResourceInfo, ...] = (
    NAMESPACES,
    EVENTS,
    SECRETS,
    CONFIGMAPS,
    CRDS,
    ROLES,
    CLUSTERROLES,
    ROLEBINDINGS,
    CLUSTERROLEBINDINGS,
    VALIDATING_POLICIES,
    VALIDATING_POLICY_BINDINGS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    SUBJECT_ACCESS_REVIEWS,
    LOCAL_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
)


def from_crd(crd: dict[str, Any]) -> ResourceInfo:
    """The served resource an (already validated) CRD object describes."""
    spec = crd["spec"]
    names = spec["names"]
    versions = []
    for version in spec.get("versions", []):
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        versions.append(
            VersionInfo(
                name=version["name"],
                served=bool(version.get("served", True)),
                storage=bool(version.get("storage", False)),
                schema=schema,
                status_subresource="status" in subresources,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return ResourceInfo(
        group=spec["group"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=tuple(versions),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
    )


class Registry:
    """Resources by (group, plural); rebuilt from CRDs whenever one is written or deleted."""

    def __init__(self) -> None:
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        for info in BUILTINS:
            self._resources[(info.group, info.plural)] = info

    def add(self, info: ResourceInfo) -> None:
        self._resources[(info.group, info.plural)] = info

    def remove(self, group: str, plural: str) -> None:
        info = self._resources.get((group, plural))
        if info is not None and not info.builtin:
            del self._resources[(group, plural)]

    def get(self, group: str, plural: str) -> ResourceInfo | None:
        return self._resources.get((group, plural))

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._resources.values()))

    def groups(self) -> dict[str, list[str]]:
        """Group name → served versions (storage version first, as the preferred one)."""
        found: dict[str, list[str]] = {}
        for info in self:
            if not info.group:
                continue
            versions = found.setdefault(info.group, [])
            ordered = sorted(info.versions, key=lambda v: not v.storage)
            for version in ordered:
                if version.served and version.name not in versions:
                    versions.append(version.name)
        return found

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [info for info in self if info.group == group and info.version(version)]
