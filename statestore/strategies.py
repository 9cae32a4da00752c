"""Per-kind write rules, as kube-apiserver's registry strategies.

The store's write path is the same for every kind: identity, metadata, schema, concurrency,
commit. What differs by kind is asked of the kind's strategy: what to reset before a create or
an update (``prepare_for_create``/``prepare_for_update``), what else to validate
(``validate``/``validate_update``), what the server fills in after validation
(``canonicalize``), whether ``generation`` is tracked, and how a deletion begins and whether
it waits for a cascade (``begin_deletion``, ``cascades``, ``held``).

Custom resources use :class:`Strategy` itself; built-in kinds have a subclass each.
"""

from __future__ import annotations

import copy
from typing import Any, Final, Protocol

from statestore import celcost, objects, resources, schema
from statestore.admission import compiled as admission_compiled
from statestore.errors import Cause, StatusError
from statestore.rbac import validation as rbac_validation
from statestore.resources import ResourceInfo, VersionInfo
from wws import logconfig

log = logconfig.get(__name__)

NAMESPACE_FINALIZER: Final = "kubernetes"
IMMORTAL_NAMESPACES: Final = frozenset({"default", "kube-system", "kube-public"})
CRD_FINALIZER: Final = "customresourcecleanup.apiextensions.k8s.io"


class Context(Protocol):
    """What a strategy may ask of the store: what is served, and whether a collection is empty."""

    @property
    def registry(self) -> resources.Registry: ...

    def has_objects(self, group: str, plural: str) -> bool: ...


class Strategy:
    """Custom resources: spec and status apart, generation tracked, no server-side extras."""

    #: Names are DNS-1123 labels (63 characters, no dots) instead of subdomains.
    name_is_label = False
    #: ``metadata.generation`` counts spec changes.
    tracks_generation = True
    #: With a ``/status`` subresource, the main resource ignores ``status`` (and ``/status``
    #: everything else); a built-in kind decides this in its own prepare methods.
    status_apart = True

    def name_causes(self, name: Any) -> list[Cause]:
        """What is wrong with a new object's name (DNS-1123 subdomain or label by default)."""
        return objects.check_name(name, label=self.name_is_label)

    def prepare_for_create(self, obj: dict[str, Any], version: VersionInfo | None) -> None:
        """Reset what a client may not set on create (status, when it has its own endpoint)."""
        if self.status_apart and version is not None and version.status_subresource:
            obj.pop("status", None)

    def prepare_for_update(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        version: VersionInfo | None,
        subresource: str | None,
    ) -> None:
        """Carry over from ``old`` what this request may not change."""
        has_status = bool(version and version.status_subresource)
        if subresource == "status":
            # /status changes only status, whatever else the body says.
            status = new.get("status")
            new.clear()
            new.update(copy.deepcopy(old))
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif has_status and self.status_apart:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)

    def validate(
        self, obj: dict[str, Any], *, context: Context
    ) -> tuple[dict[str, Any], list[Cause]]:
        """Checks beyond the schema and metadata; returns the (possibly defaulted) object."""
        return obj, []

    def validate_update(self, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
        """Checks that compare the update with the stored object (immutable fields)."""
        return []

    def canonicalize(
        self, obj: dict[str, Any], *, old: dict[str, Any] | None, subresource: str | None
    ) -> list[Cause]:
        """What the server fills in after validation; causes for what only now shows."""
        return []

    def held(self, obj: dict[str, Any]) -> bool:
        """Whether an object being deleted waits for something besides metadata.finalizers."""
        return False

    def validate_delete(self, obj: dict[str, Any]) -> StatusError | None:
        """Why ``obj`` may not be deleted at all, if it may not."""
        return None

    def cascades(self, obj: dict[str, Any], *, context: Context) -> bool:
        """Whether deleting ``obj`` starts a server-side cascade (and so is not immediate)."""
        return False

    def begin_deletion(self, obj: dict[str, Any]) -> None:
        """Mark an object whose deletion waits (finalizers or a cascade)."""

    def observe(self, obj: dict[str, Any], *, deleted: bool, registry: resources.Registry) -> bool:
        """React to a stored change (at start, or once durable); whether what is served changed."""
        return False


class BuiltinStrategy(Strategy):
    """Core kinds without special rules (Event, ConfigMap): no generation."""

    tracks_generation = False
    status_apart = False


class SecretStrategy(BuiltinStrategy):
    """``stringData`` is merged into ``data`` (base64), ``type`` defaults to Opaque."""

    def validate(
        self, obj: dict[str, Any], *, context: Context
    ) -> tuple[dict[str, Any], list[Cause]]:
        return obj, objects.normalize_secret(obj)


class NamespaceStrategy(BuiltinStrategy):
    """Names are labels; spec.finalizers holds deletion until the contents are gone."""

    name_is_label = True

    def prepare_for_create(self, obj: dict[str, Any], version: VersionInfo | None) -> None:
        objects.normalize_namespace(obj)

    def prepare_for_update(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        version: VersionInfo | None,
        subresource: str | None,
    ) -> None:
        super().prepare_for_update(old, new, version=version, subresource=subresource)
        if "spec" not in new:
            new["spec"] = copy.deepcopy(old.get("spec", {}))
        if subresource != "status":
            new["status"] = copy.deepcopy(old.get("status", {}))

    def held(self, obj: dict[str, Any]) -> bool:
        return NAMESPACE_FINALIZER in (obj.get("spec", {}).get("finalizers") or [])

    def validate_delete(self, obj: dict[str, Any]) -> StatusError | None:
        """The namespaces the system lives in stay (kube's NamespaceLifecycle admission)."""
        name = obj["metadata"]["name"]
        if name in IMMORTAL_NAMESPACES:
            return StatusError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                name=name,
                kind="namespaces",
            )
        return None

    def cascades(self, obj: dict[str, Any], *, context: Context) -> bool:
        return True

    def begin_deletion(self, obj: dict[str, Any]) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"


class CRDStrategy(BuiltinStrategy):
    """CustomResourceDefinitions: defaulted and validated as kube-apiserver does; status is
    the server's (established at once); deletion waits until every instance is gone."""

    tracks_generation = True

    def validate(
        self, obj: dict[str, Any], *, context: Context
    ) -> tuple[dict[str, Any], list[Cause]]:
        obj = schema.crd_defaults(obj)
        causes = schema.validate_crd(obj)
        if not causes:  # the cost of rules is estimated once they all compile
            causes = celcost.crd_causes(obj)
        spec = obj.get("spec", {})
        group, plural = spec.get("group"), spec.get("names", {}).get("plural")
        existing = context.registry.get(group, plural) if group and plural else None
        if existing is not None and existing.builtin:
            causes.append(Cause("spec.group", f'Invalid value: "{group}": is served by the store'))
        return obj, causes

    def validate_update(self, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
        spec_old, spec_new = old.get("spec", {}), new.get("spec", {})
        for immutable in ("group", "scope"):
            if spec_new.get(immutable) != spec_old.get(immutable):
                return [Cause(f"spec.{immutable}", "Invalid value: field is immutable")]
        return []

    def canonicalize(
        self, obj: dict[str, Any], *, old: dict[str, Any] | None, subresource: str | None
    ) -> list[Cause]:
        if subresource == "status":
            return []
        obj["status"] = objects.crd_status(obj)
        if old is not None:
            # A condition that keeps its status keeps its lastTransitionTime, so an update that
            # changes nothing (a restart re-applying --crds) stores nothing and tells no one.
            before = {c.get("type"): c for c in (old.get("status") or {}).get("conditions") or ()}
            for condition in obj["status"]["conditions"]:
                previous = before.get(condition["type"])
                if previous is not None and previous.get("status") == condition["status"]:
                    condition["lastTransitionTime"] = previous.get("lastTransitionTime")
            return []
        name = obj["metadata"]["name"]
        if name != f"{obj['spec']['names']['plural']}.{obj['spec']['group']}":
            return [
                Cause(
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            ]
        return []

    def cascades(self, obj: dict[str, Any], *, context: Context) -> bool:
        return context.has_objects(obj["spec"]["group"], obj["spec"]["names"]["plural"])

    def begin_deletion(self, obj: dict[str, Any]) -> None:
        finalizers = obj["metadata"].get("finalizers") or []
        if CRD_FINALIZER not in finalizers:
            obj["metadata"]["finalizers"] = [*finalizers, CRD_FINALIZER]

    def observe(self, obj: dict[str, Any], *, deleted: bool, registry: resources.Registry) -> bool:
        """A CRD's served versions appear (and go) with it."""
        if deleted:
            registry.remove(obj["spec"]["group"], obj["spec"]["names"]["plural"])
            return True
        try:
            registry.add(resources.from_crd(obj))
        except (KeyError, TypeError) as error:
            log.warning("store.crd_unusable", name=obj["metadata"]["name"], error=str(error))
        return True


class RBACStrategy(BuiltinStrategy):
    """Roles, ClusterRoles and their bindings: names are path segments (``system:view``),
    rules and subjects validated as kube does; a binding's roleRef never changes."""

    def __init__(self, check: rbac_validation.Check, *, binding: bool = False) -> None:
        self._check = check
        self._binding = binding

    def name_causes(self, name: Any) -> list[Cause]:
        if not name:
            return objects.check_name(name, label=False)
        return []  # checked by the kind's validation (ValidatePathSegmentName)

    def validate(
        self, obj: dict[str, Any], *, context: Context
    ) -> tuple[dict[str, Any], list[Cause]]:
        return obj, self._check(obj)

    def validate_update(self, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
        return rbac_validation.role_ref_change(old, new) if self._binding else []


class AdmissionPolicyStrategy(BuiltinStrategy):
    """ValidatingAdmissionPolicies and bindings: every CEL expression must compile (422 with
    its field path and position), fields as kube validates them."""

    tracks_generation = True

    def __init__(self, check: admission_compiled.Check) -> None:
        self._check = check

    def validate(
        self, obj: dict[str, Any], *, context: Context
    ) -> tuple[dict[str, Any], list[Cause]]:
        return obj, self._check(obj)


CUSTOM: Final = Strategy()
_BY_RESOURCE: Final[dict[tuple[str, str], Strategy]] = {
    (resources.NAMESPACES.group, resources.NAMESPACES.plural): NamespaceStrategy(),
    (resources.SECRETS.group, resources.SECRETS.plural): SecretStrategy(),
    (resources.CONFIGMAPS.group, resources.CONFIGMAPS.plural): BuiltinStrategy(),
    (resources.EVENTS.group, resources.EVENTS.plural): BuiltinStrategy(),
    (resources.CRDS.group, resources.CRDS.plural): CRDStrategy(),
    (resources.RBAC_GROUP, "roles"): RBACStrategy(rbac_validation.validate_role),
    (resources.RBAC_GROUP, "clusterroles"): RBACStrategy(rbac_validation.validate_cluster_role),
    (resources.RBAC_GROUP, "rolebindings"): RBACStrategy(
        rbac_validation.validate_role_binding, binding=True
    ),
    (resources.RBAC_GROUP, "clusterrolebindings"): RBACStrategy(
        rbac_validation.validate_cluster_role_binding, binding=True
    ),
}
_BY_RESOURCE[(resources.ADMISSION_GROUP, "validatingadmissionpolicies")] = AdmissionPolicyStrategy(
    admission_compiled.validate_policy
)
_BY_RESOURCE[(resources.ADMISSION_GROUP, "validatingadmissionpolicybindings")] = (
    AdmissionPolicyStrategy(admission_compiled.validate_binding)
)
for _review in (
    resources.SELF_SUBJECT_ACCESS_REVIEWS,
    resources.SELF_SUBJECT_RULES_REVIEWS,
    resources.SUBJECT_ACCESS_REVIEWS,
    resources.LOCAL_SUBJECT_ACCESS_REVIEWS,
    resources.SELF_SUBJECT_REVIEWS,
):
    _BY_RESOURCE[(_review.group, _review.plural)] = BuiltinStrategy()


def for_resource(info: ResourceInfo) -> Strategy:
    """The strategy of ``info``'s kind: its own for a built-in kind, the generic one otherwise."""
    return _BY_RESOURCE.get((info.group, info.plural), CUSTOM)


def for_group_resource(group: str, plural: str) -> Strategy:
    return _BY_RESOURCE.get((group, plural), CUSTOM)
