"""Access control of the store, in kube-apiserver's order: authenticate → impersonate →
authorize (RBAC) → admission (RBAC escalation checks, ValidatingAdmissionPolicies) → audit.

The HTTP layer calls :meth:`AccessControl.authenticate` and :meth:`authorize_request`; the
store calls :meth:`admit` on every write just before it commits (synchronously, so a write
stays atomic on the event loop). Who is asking travels in a context variable, so the store's
own writes (cascades, CRDs at start, the aggregation controller) run as the server itself.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from statestore import accessmetrics, requestinfo, resources
from statestore.admission import plugin as policy_plugin
from statestore.authn.authenticator import Authenticator
from statestore.authn.user import UserInfo
from statestore.errors import StatusError
from statestore.rbac import aggregation, bootstrap
from statestore.rbac import rules as rbac_rules
from statestore.rbac.attributes import Attributes
from statestore.rbac.authorizer import RBACAuthorizer
from statestore.storage import DELETED
from statestore.store import Event, Store
from wws import logconfig

log = logconfig.get(__name__)

_RBAC_PREFIX = f"{resources.RBAC_GROUP}/"
_FULL_AUTHORITY = [
    rbac_rules.PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),
    rbac_rules.PolicyRule(verbs=("*",), non_resource_urls=("*",)),
]


@dataclass
class RequestContext:
    """Who is asking, and what the write path found worth telling (warnings, audit)."""

    user: UserInfo
    #: The authenticated user when impersonating, else None.
    impersonator: UserInfo | None
    info: requestinfo.RequestInfo
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "wws_request", default=None
)

#: An admission plugin: (operation, info, namespace, name, object, old object, context)
#: → raise StatusError to refuse; add warnings / annotations to the context.
Plugin = Callable[
    [
        str,
        resources.ResourceInfo,
        str | None,
        str,
        dict[str, Any] | None,
        dict[str, Any] | None,
        RequestContext,
    ],
    None,
]


class AccessControl:
    def __init__(self, store: Store, authenticator: Authenticator) -> None:
        self.store = store
        self.authenticator = authenticator
        self.rbac = RBACAuthorizer(self._get_object)
        self.policies = policy_plugin.PolicyAdmission(
            list_objects=self._list_objects,
            get_object=self._get_object,
            registry=store.registry,
            decide=self._decide,
        )
        self.plugins: list[Plugin] = [self._rbac_admission, self._policy_admission]
        self._tasks: set[asyncio.Task[None]] = set()
        self._aggregation_pending = False
        store.on_event.append(self._on_event)
        store.admission = self.admit

    # -------------------------------------------------------------- start

    def _get_object(self, info: resources.ResourceInfo, namespace: str | None, name: str) -> Any:
        entry = self.store.get_entry(info, namespace, name)
        return entry.obj if entry is not None else None

    def _list_objects(self, info: resources.ResourceInfo) -> list[dict[str, Any]]:
        _, entries = self.store.list_entries(info, None)
        return [entry.obj for entry in entries]

    def _decide(self, attributes: Attributes) -> tuple[bool, str]:
        decision = self.rbac.authorize(attributes)
        return decision.allowed, decision.reason

    async def start(self) -> None:
        """Index the stored bindings, create the default roles, aggregate."""
        for info in (resources.ROLEBINDINGS, resources.CLUSTERROLEBINDINGS):
            _, entries = self.store.list_entries(info, None)
            for entry in entries:
                metadata = entry.obj["metadata"]
                self.rbac.index(info.key(metadata.get("namespace"), metadata["name"]), entry.obj)
        for info, objects in (
            (resources.CLUSTERROLES, bootstrap.cluster_roles()),
            (resources.CLUSTERROLEBINDINGS, bootstrap.cluster_role_bindings()),
        ):
            for obj in objects:
                if self.store.get_entry(info, None, obj["metadata"]["name"]) is None:
                    await self.store.create(info, "v1", None, obj)
        await self._aggregate()

    # -------------------------------------------------------------- authentication

    async def authenticate(self, headers: dict[bytes, bytes]) -> UserInfo:
        return await self.authenticator.authenticate(headers.get(b"authorization"))

    # -------------------------------------------------------------- authorization

    def allowed(self, attributes: Attributes) -> bool:
        return self.rbac.authorize(attributes).allowed

    def authorize_request(self, user: UserInfo, info: requestinfo.RequestInfo) -> str:
        """The reason the request is allowed; raises a 403 StatusError when it is not."""
        attributes = Attributes(
            user=user,
            verb=info.verb,
            resource_request=info.resource_request,
            group=info.group,
            version=info.version,
            resource=info.resource,
            subresource=info.subresource,
            namespace=info.namespace,
            name=info.name,
            path=info.path,
        )
        decision = self.rbac.authorize(attributes)
        if decision.allowed:
            accessmetrics.AUTHORIZATION.labels("allowed").inc()
            return decision.reason
        accessmetrics.AUTHORIZATION.labels("denied").inc()
        log.info(
            "access.forbidden",
            user=user.username,
            verb=info.verb,
            resource=info.resource or info.path,
            namespace=info.namespace,
            name=info.name,
        )
        raise forbidden(attributes, decision.reason)

    # -------------------------------------------------------------- admission

    def admit(
        self,
        operation: str,
        info: resources.ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
    ) -> list[str]:
        """Run the admission plugins for a write; returns the warnings for the client."""
        context = current.get()
        if context is None:
            return []
        before = len(context.warnings)
        for plugin in self.plugins:
            plugin(operation, info, namespace, name, obj, old, context)
        return context.warnings[before:]

    def _rbac_admission(
        self,
        operation: str,
        info: resources.ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        context: RequestContext,
    ) -> None:
        if info.group != resources.RBAC_GROUP or obj is None or operation == "DELETE":
            return
        user = context.user
        if user.is_master:  # EscalationAllowed: system:masters may grant anything
            return
        scope = namespace or ""
        if info in (resources.ROLES, resources.CLUSTERROLES):
            aggregation_changed = (obj.get("aggregationRule") or None) != (
                (old or {}).get("aggregationRule") or None
            )
            if (
                info is resources.CLUSTERROLES
                and obj.get("aggregationRule")
                and aggregation_changed
            ):
                held = [rule for _, rule in self.rbac.rules_for(user, "").rules]
                if rbac_rules.covers(held, _FULL_AUTHORITY):
                    raise forbidden_object(
                        info, name, "must have cluster-admin privileges to use the aggregationRule"
                    )
            if old is not None and (old.get("rules") or []) == (obj.get("rules") or []):
                return
            escalate = Attributes(
                user, "escalate", True, info.group, "v1", info.plural, "", scope, name
            )
            if self.allowed(escalate):
                return
            wanted = [rbac_rules.PolicyRule.from_dict(r) for r in obj.get("rules") or []]
            self._confirm_no_escalation(info, name, user, scope, wanted)
            return
        role_ref = obj.get("roleRef") or {}
        ref_info = resources.ROLES if role_ref.get("kind") == "Role" else resources.CLUSTERROLES
        bind = Attributes(
            user,
            "bind",
            True,
            info.group,
            "v1",
            ref_info.plural,
            "",
            scope,
            str(role_ref.get("name") or ""),
        )
        if self.allowed(bind):
            return
        try:
            granted = list(self.rbac.role_ref_rules(role_ref, scope))
        except LookupError as error:
            raise StatusError(
                404,
                "NotFound",
                str(error)
                .replace("role.rbac", "roles.rbac")
                .replace("clusterrole.rbac", "clusterroles.rbac"),
                name=str(role_ref.get("name") or ""),
                group=info.group,
                kind=ref_info.plural,
            ) from error
        self._confirm_no_escalation(info, name, user, scope, granted)

    def _policy_admission(
        self,
        operation: str,
        info: resources.ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        context: RequestContext,
    ) -> None:
        request_info = context.info
        outcome = self.policies(
            policy_plugin.Request(
                operation=operation,
                info=info,
                version=request_info.version or info.storage_version.name,
                subresource=request_info.subresource
                if request_info.resource == info.plural
                else "",
                namespace=namespace or "",
                name=name,
                obj=obj,
                old=old,
                user=context.user,
                dry_run=context.dry_run,
            )
        )
        context.warnings.extend(outcome.warnings)
        context.annotations.update(outcome.annotations)

    def _confirm_no_escalation(
        self,
        info: resources.ResourceInfo,
        name: str,
        user: UserInfo,
        namespace: str,
        wanted: list[rbac_rules.PolicyRule],
    ) -> None:
        ruleset = self.rbac.rules_for(user, namespace)
        missing = rbac_rules.covers([rule for _, rule in ruleset.rules], wanted)
        if not missing:
            return
        descriptions = sorted({rule.compact_string() for rule in rbac_rules.compact(missing)})
        groups = "[" + " ".join(f'"{g}"' for g in user.groups) + "]"
        message = (
            f'user "{user.username}" (groups={groups}) is attempting to grant RBAC permissions '
            "not currently held:\n" + "\n".join(descriptions)
        )
        if ruleset.errors:
            message += f"; resolution errors: [{', '.join(ruleset.errors)}]"
        raise forbidden_object(info, name, message)

    # -------------------------------------------------------------- the RBAC index

    def _on_event(self, event: Event) -> None:
        if event.key.startswith(policy_plugin.PREFIX):
            self.policies.changed()
            return
        if not event.key.startswith(_RBAC_PREFIX):
            return
        self.rbac.index(event.key, None if event.type == DELETED else event.obj)
        if "/clusterroles/" in event.key and not self._aggregation_pending:
            self._aggregation_pending = True
            # NB: an empty context: the aggregation controller writes as the server.
            task = asyncio.get_running_loop().create_task(
                self._aggregate(), context=contextvars.Context()
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _aggregate(self) -> None:
        """kube-controller-manager's clusterrole-aggregation controller, in the store."""
        self._aggregation_pending = False
        info = resources.CLUSTERROLES
        for _ in range(10):  # aggregated roles may aggregate others: settle in a few rounds
            _, entries = self.store.list_entries(info, None)
            roles = [entry.obj for entry in entries]
            changed = False
            for role in roles:
                if not role.get("aggregationRule"):
                    continue
                rules = aggregation.aggregated_rules(role, roles)
                if (role.get("rules") or []) == rules:
                    continue
                body = dict(role)
                body["rules"] = rules
                try:
                    await self.store.update(info, "v1", None, role["metadata"]["name"], body)
                    changed = True
                except StatusError as error:
                    log.warning(
                        "access.aggregation_failed", name=role["metadata"]["name"], error=str(error)
                    )
            if not changed:
                return


def forbidden(attributes: Attributes, reason: str = "") -> StatusError:
    return StatusError(
        403,
        "Forbidden",
        attributes.forbidden_message(reason),
        name=attributes.name or None,
        group=attributes.group,
        kind=attributes.resource or None,
    )


def forbidden_object(info: resources.ResourceInfo, name: str, reason: str) -> StatusError:
    return StatusError(
        403,
        "Forbidden",
        f'{info.group_resource} "{name}" is forbidden: {reason}',
        name=name,
        group=info.group,
        kind=info.plural,
    )
