"""The ValidatingAdmissionPolicy admission plugin (k8s.io/apiserver/pkg/admission/plugin/
policy/validating): each binding's policy is matched against the write and its CEL run over
``object``, ``oldObject``, ``request``, ``params``, ``namespaceObject``, ``variables`` and
``authorizer``; failures Deny (a Status with the validation's reason), Warn (a ``Warning``
header) or Audit (an audit annotation); expressions that fail to evaluate follow the policy's
``failurePolicy``.

Size (~600 lines): one plugin object, because matching (rules, selectors, conditions), the
params it finds and the per-request caches (compiled policies, shared inputs, one authorizer
answer per check) are one decision; its compiling, CEL environment and ``authorizer`` library
are in ``compiled``, ``statestore.celenv`` and ``library``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import celpy.celtypes as ct
from celpy.evaluation import CELEvalError

from statestore import accessmetrics, celenv, celfast, labelselect, resources
from statestore.admission import compiled, library
from statestore.authn.user import UserInfo
from statestore.errors import Cause, StatusError
from statestore.rbac.attributes import Attributes
from wws import logconfig

log = logconfig.get(__name__)

PREFIX = f"{resources.ADMISSION_GROUP}/"
AUDIT_FAILURE_KEY = "validation.policy.admission.k8s.io/validation_failure"
_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


@dataclass(frozen=True)
class Request:
    """One write as admission sees it."""

    operation: str  # CREATE | UPDATE | DELETE
    info: resources.ResourceInfo
    version: str
    subresource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    user: UserInfo
    dry_run: bool


@dataclass
class Outcome:
    warnings: list[str]
    annotations: dict[str, str]


class _Variables(ct.MapType):
    """``variables``: each evaluated when first used (and once), as kube's are."""

    def __init__(
        self, programs: tuple[tuple[str, celenv.Program], ...], activation: dict[str, Any]
    ) -> None:
        super().__init__({})
        self._programs = dict(programs)
        self._activation = activation
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        key = str(key)
        if key not in self._programs:
            raise KeyError(key)
        if key not in self._values:
            try:
                self._values[key] = self._programs[key]._program.evaluate(self._activation)
            except Exception as error:
                self._values[key] = CELEvalError(celenv.short_error(error))
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return str(key) in self._programs


class _Inputs:
    """What one policy's expressions see for one request and one params object: plain JSON
    for the fast path; celpy values (with ``variables`` and ``authorizer``) made only when an
    expression needs cel-python."""

    def __init__(
        self,
        base: dict[str, Any],
        params: Any,
        variables: tuple[tuple[str, celenv.Program], ...],
        cel_base: Callable[[], dict[str, Any]],
    ) -> None:
        self.values = dict(base)  # NB: also the fast path's scratch dict (evaluate_in)
        self.values["params"] = params
        self.values["variables"] = celfast.Variables(self._variable) if variables else None
        self.variables = variables
        self._programs = dict(variables) if variables else {}
        self._cel_base = cel_base
        self._cel: dict[str, Any] | None = None

    def cel(self) -> dict[str, Any]:
        if self._cel is None:
            activation = dict(self._cel_base())
            activation["params"] = celenv.to_cel(self.values["params"])
            activation["variables"] = _Variables(self.variables, activation)
            self._cel = activation
        return self._cel

    def run(self, program: celenv.Program) -> Any:
        return program.run(self.values, self.cel, scratch=True)

    def _variable(self, name: str) -> Any:
        program = self._programs.get(name)
        if program is None:
            raise celfast.Fallback  # no such variable: cel-python's error
        try:
            return program.run(self.values, self.cel, scratch=True)
        except celenv.EvaluationError:
            raise celfast.Fallback from None


class _Failure(Exception):
    def __init__(self, message: str, reason: str = "Invalid", field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field


def _rule_matches(rule: compiled.Rule, request: Request) -> bool:
    info = request.info
    if "*" not in rule.operations and request.operation not in rule.operations:
        return False
    if "*" not in rule.api_groups and info.group not in rule.api_groups:
        return False
    if "*" not in rule.api_versions and request.version not in rule.api_versions:
        return False
    if (rule.scope == "Cluster" and info.namespaced) or (
        rule.scope == "Namespaced" and not info.namespaced
    ):
        return False
    if rule.resource_names and request.name not in rule.resource_names:
        return False
    sub = request.subresource
    for resource in rule.resources:
        if resource == "*/*":
            return True
        if not sub and resource in ("*", info.plural):
            return True
        if sub and resource in (f"{info.plural}/{sub}", f"*/{sub}", f"{info.plural}/*"):
            return True
    return False


@dataclass(frozen=True)
class _Pair:
    binding: compiled.Binding
    policy: compiled.Policy
    uses_namespace: bool  # whether namespaceObject must be read for the fast path
    uses_authorizer: bool  # whether the fast path needs the authorizer object
    selects: bool  # whether either has a label selector (checked per request)


def _uses_namespace(binding: compiled.Binding, policy: compiled.Policy) -> bool:
    return any("namespaceObject" in program.expression for program in policy.programs())


def _uses_authorizer(policy: compiled.Policy) -> bool:
    return any("authorizer" in program.expression for program in policy.programs())


def _version_key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("name") or ""), str(metadata.get("resourceVersion") or "")


def _attributes(request: Request) -> Attributes:
    """The write as the authorizer library's ``requestResource`` sees it."""
    return Attributes(
        request.user,
        {"CREATE": "create", "UPDATE": "update", "DELETE": "delete"}.get(request.operation, ""),
        True,
        request.info.group,
        request.version,
        request.info.plural,
        request.subresource,
        request.namespace,
        request.name,
    )


class PolicyAdmission:
    def __init__(
        self,
        *,
        list_objects: Callable[[resources.ResourceInfo], list[dict[str, Any]]],
        get_object: Callable[[resources.ResourceInfo, str | None, str], dict[str, Any] | None],
        registry: resources.Registry,
        decide: library.Allowed,
    ) -> None:
        self._list = list_objects
        self._get = get_object
        self._registry = registry
        self._decide = decide
        self._pairs: list[tuple[compiled.Binding, compiled.Policy]] | None = None
        #: Compiled policies and bindings by (name, resourceVersion): a change compiles only
        #: the objects that changed.
        self._policy_cache: dict[tuple[str, str], compiled.Policy | None] = {}
        self._binding_cache: dict[tuple[str, str], compiled.Binding | None] = {}
        #: The pairs whose resource rules match a kind of write (operation, group, version,
        #: resource, subresource, scope): rules are matched once per kind of write, not per
        #: request; label selectors are still checked per request.
        self._by_write: dict[tuple[str, str, str, str, str, bool], list[_Pair]] = {}
        self._names_matter = False  # a rule with resourceNames: no per-kind cache
        self._param_infos: dict[tuple[str, str], resources.ResourceInfo] = {}

    def changed(self) -> None:
        """A policy or binding changed: compile again (what changed) on the next write."""
        self._pairs = None
        self._by_write = {}

    def _compiled(self) -> list[tuple[compiled.Binding, compiled.Policy]]:
        if self._pairs is None:
            policies: dict[str, compiled.Policy] = {}
            policy_cache: dict[tuple[str, str], compiled.Policy | None] = {}
            for obj in self._list(resources.VALIDATING_POLICIES):
                key = _version_key(obj)
                if key in self._policy_cache:
                    policy = self._policy_cache[key]
                else:
                    policy = compiled.compile_policy(obj)[0]
                policy_cache[key] = policy
                if policy is not None:
                    policies[policy.name] = policy
            binding_cache: dict[tuple[str, str], compiled.Binding | None] = {}
            pairs = []
            for obj in self._list(resources.VALIDATING_POLICY_BINDINGS):
                key = _version_key(obj)
                if key in self._binding_cache:
                    binding = self._binding_cache[key]
                else:
                    binding = compiled.compile_binding(obj)[0]
                binding_cache[key] = binding
                if binding is not None and binding.policy_name in policies:
                    pairs.append((binding, policies[binding.policy_name]))
            self._policy_cache, self._binding_cache = policy_cache, binding_cache
            self._pairs = sorted(pairs, key=lambda pair: pair[0].name)
            self._names_matter = any(
                rule.resource_names
                for binding, policy in self._pairs
                for match in (policy.match, binding.match)
                for rule in (*match.rules, *match.excluded)
            )
        return self._pairs

    def _applicable(self, request: Request) -> list[_Pair]:
        """The pairs whose resource rules match this write (selectors not yet checked)."""
        pairs = self._compiled()
        info = request.info
        key = (
            request.operation,
            info.group,
            request.version,
            info.plural,
            request.subresource,
            info.namespaced,
        )
        found = None if self._names_matter else self._by_write.get(key)
        if found is None:
            found = [
                _Pair(
                    binding,
                    policy,
                    _uses_namespace(binding, policy),
                    _uses_authorizer(policy),
                    any(
                        match.object_selector is not None or match.namespace_selector is not None
                        for match in (policy.match, binding.match)
                    ),
                )
                for binding, policy in pairs
                if self._rules_match(policy.match, request)
                and self._rules_match(binding.match, request)
            ]
            if not self._names_matter and len(self._by_write) < 1024:
                self._by_write[key] = found
        return found

    # -------------------------------------------------------------- matching

    def _labels_match(self, match: compiled.Match, request: Request) -> bool:
        if match.object_selector is not None:
            subject = request.obj if request.obj is not None else request.old
            labels = ((subject or {}).get("metadata") or {}).get("labels") or {}
            if not labelselect.matches(match.object_selector, labels):
                return False
        if match.namespace_selector is not None:
            if request.info is resources.NAMESPACES:
                subject = request.obj if request.obj is not None else request.old
                labels = ((subject or {}).get("metadata") or {}).get("labels") or {}
            elif request.info.namespaced:
                namespace = self._get(resources.NAMESPACES, None, request.namespace) or {}
                labels = (namespace.get("metadata") or {}).get("labels") or {}
            else:
                return True  # cluster-scoped objects are not selected by namespace
            if not labelselect.matches(match.namespace_selector, labels):
                return False
        return True

    def _rules_match(self, match: compiled.Match, request: Request) -> bool:
        if not match.given:
            return True
        if not any(_rule_matches(rule, request) for rule in match.rules):
            return False
        return not any(_rule_matches(rule, request) for rule in match.excluded)

    def _selected(self, match: compiled.Match, request: Request) -> bool:
        if match.object_selector is None and match.namespace_selector is None:
            return True
        return self._labels_match(match, request)

    # -------------------------------------------------------------- params

    def _params(
        self, binding: compiled.Binding, policy: compiled.Policy, request: Request
    ) -> list[Any]:
        """The params objects to evaluate with (``[None]`` without a paramKind)."""
        if policy.param_kind is None:
            return [None]
        if not binding.has_param_ref:
            raise _Failure(f"failed to configure binding: no paramRef in binding '{binding.name}'")
        info = self._param_info(policy.param_kind)
        api_version, kind = policy.param_kind
        if info is None:
            raise _Failure(
                f"failed to configure policy: paramKind {api_version}/{kind} is not served"
            )
        namespace = binding.param_namespace or (request.namespace if info.namespaced else "")
        if info.namespaced and not namespace:
            raise _Failure(
                "cannot use a namespaced paramKind without a namespace for a cluster-scoped request"
            )
        found: list[dict[str, Any]] = []
        if binding.param_name:
            obj = self._get(info, namespace or None, binding.param_name)
            if obj is not None:
                found.append(obj)
        else:
            for obj in self._list(info):
                if info.namespaced and obj["metadata"].get("namespace") != namespace:
                    continue
                if labelselect.matches(binding.param_selector, obj["metadata"].get("labels")):
                    found.append(obj)
        if not found:
            if binding.param_missing == "Deny":
                raise _Failure(
                    "failed to configure binding: no params found for policy binding with "
                    "`Deny` parameterNotFoundAction",
                )
            return []
        return found

    def _param_info(self, param_kind: tuple[str, str]) -> resources.ResourceInfo | None:
        known = self._param_infos.get(param_kind)
        # NB: CRDs come and go: a remembered kind counts only while the registry serves it.
        if known is not None and self._registry.get(known.group, known.plural) is known:
            return known
        api_version, kind = param_kind
        info = next(
            (
                i
                for i in self._registry
                if i.kind == kind and any(i.api_version(v.name) == api_version for v in i.versions)
            ),
            None,
        )
        if info is not None:
            self._param_infos[param_kind] = info
        return info

    # -------------------------------------------------------------- evaluation

    def _request_value(self, request: Request) -> dict[str, Any]:
        info = request.info
        gvk = {"group": info.group, "version": request.version, "kind": info.kind}
        gvr = {"group": info.group, "version": request.version, "resource": info.plural}
        return {
            "uid": "",
            "kind": gvk,
            "resource": gvr,
            "subResource": request.subresource,
            "requestKind": gvk,
            "requestResource": gvr,
            "requestSubResource": request.subresource,
            "name": request.name,
            "namespace": request.namespace,
            "operation": request.operation,
            "userInfo": request.user.to_dict() | {"groups": list(request.user.groups)},
            "dryRun": request.dry_run,
        }

    def __call__(self, request: Request) -> Outcome:
        outcome = Outcome([], {})
        applicable = self._applicable(request)
        if not applicable:
            return outcome
        audit_failures: list[dict[str, Any]] = []
        namespace_object = None
        if (
            request.info.namespaced
            and request.namespace
            and any(pair.uses_namespace for pair in applicable)
        ):
            namespace_object = self._get(resources.NAMESPACES, None, request.namespace)
        plain: dict[str, Any] = {
            "object": request.obj,
            "oldObject": request.old,
            "request": self._request_value(request),
            "namespaceObject": namespace_object,
            "authorizer": None,
        }
        if any(pair.uses_authorizer for pair in applicable):
            plain["authorizer"] = library.new(request.user, self._decide, _attributes(request))
        shared: dict[str, Any] = {}

        def cel_base() -> dict[str, Any]:
            # NB: celpy values only when an expression leaves the fast path; made once and
            # shared by every policy of this request.
            if not shared:
                shared.update(
                    {
                        key: celenv.to_cel(value)
                        for key, value in plain.items()
                        if key != "authorizer"
                    }
                )
                shared["authorizer"] = plain["authorizer"] or library.new(
                    request.user, self._decide, _attributes(request)
                )
                shared["namespaceObject"] = celenv.to_cel(
                    self._get(resources.NAMESPACES, None, request.namespace)
                    if request.info.namespaced and request.namespace
                    else None
                )
            return shared

        # Policies without params or variables see the same inputs: one for all of them.
        shared_inputs = _Inputs(plain, None, (), cel_base)
        for pair in applicable:
            binding, policy = pair.binding, pair.policy
            if pair.selects and (
                not self._selected(policy.match, request)
                or not self._selected(binding.match, request)
            ):
                continue
            try:
                if policy.param_kind is None and not policy.variables:
                    self._evaluate(binding, policy, request, shared_inputs, outcome, audit_failures)
                    continue
                for params in self._params(binding, policy, request):
                    inputs = _Inputs(plain, params, policy.variables, cel_base)
                    self._evaluate(binding, policy, request, inputs, outcome, audit_failures)
            except _Failure as failure:
                self._fail(
                    binding, policy, request, failure, outcome, audit_failures, config_error=True
                )
        if audit_failures:
            outcome.annotations[AUDIT_FAILURE_KEY] = json.dumps(
                audit_failures, separators=(",", ":")
            )
        return outcome

    def _evaluate(
        self,
        binding: compiled.Binding,
        policy: compiled.Policy,
        request: Request,
        inputs: _Inputs,
        outcome: Outcome,
        audit_failures: list[dict[str, Any]],
    ) -> None:
        for _, condition in policy.conditions:
            try:
                result = inputs.run(condition)
            except celenv.EvaluationError as error:
                self._fail(
                    binding,
                    policy,
                    request,
                    _Failure(
                        f"failed to evaluate matchCondition '{condition.expression}': {error}"
                    ),
                    outcome,
                    audit_failures,
                    config_error=True,
                )
                return
            if result is not True:
                return
        for index, validation in enumerate(policy.validations):
            try:
                result = inputs.run(validation.program)
                if not isinstance(result, bool):
                    raise celenv.EvaluationError(f"expected a bool, got {type(result).__name__}")
            except celenv.EvaluationError as error:
                if policy.failure_policy == "Ignore":
                    continue
                failure = _Failure(
                    f"expression '{validation.program.expression}' resulted in error: {error}",
                    validation.reason,
                    validation.field_path,
                )
                self._fail(binding, policy, request, failure, outcome, audit_failures, index=index)
                continue
            if result:
                continue
            message = (
                validation.message or f"failed expression: {validation.program.expression.strip()}"
            )
            if validation.message_expression is not None:
                try:
                    text = inputs.run(validation.message_expression)
                    if isinstance(text, str) and text.strip() and "\n" not in text.strip():
                        message = text.strip()
                except celenv.EvaluationError as error:
                    log.info(
                        "admission.message_expression_failed", policy=policy.name, error=str(error)
                    )
            failure = _Failure(message, validation.reason, validation.field_path)
            self._fail(binding, policy, request, failure, outcome, audit_failures, index=index)
        for key, program in policy.audit_annotations:
            try:
                value = inputs.run(program)
            except celenv.EvaluationError as error:
                log.info(
                    "admission.audit_annotation_failed",
                    policy=policy.name,
                    key=key,
                    error=str(error),
                )
                continue
            if isinstance(value, str):
                outcome.annotations[f"{policy.name}/{key}"] = value

    def _fail(
        self,
        binding: compiled.Binding,
        policy: compiled.Policy,
        request: Request,
        failure: _Failure,
        outcome: Outcome,
        audit_failures: list[dict[str, Any]],
        *,
        index: int | None = None,
        config_error: bool = False,
    ) -> None:
        if config_error and policy.failure_policy == "Ignore":
            return
        for action in binding.actions:
            accessmetrics.POLICY_CHECKS.labels(policy.name, action.lower()).inc()
        if "Deny" in binding.actions:
            message = (
                f"ValidatingAdmissionPolicy '{policy.name}' with binding '{binding.name}' "
                f"denied request: {failure.message}"
            )
            info = request.info
            if request.name:
                full = f'{info.group_resource} "{request.name}" is forbidden: {message}'
            else:
                full = f"{info.group_resource} is forbidden: {message}"
            log.info(
                "admission.denied",
                policy=policy.name,
                binding=binding.name,
                namespace=request.namespace,
                name=request.name,
            )
            raise StatusError(
                _CODES.get(failure.reason, 422),
                failure.reason,
                full,
                name=request.name or None,
                group=info.group,
                kind=info.plural,
                causes=[Cause(failure.field, message, "")],
            )
        if "Warn" in binding.actions:
            outcome.warnings.append(
                f"Validation failed for ValidatingAdmissionPolicy '{policy.name}' with binding "
                f"'{binding.name}': {failure.message}"
            )
        if "Audit" in binding.actions:
            entry: dict[str, Any] = {
                "message": failure.message,
                "policy": policy.name,
                "binding": binding.name,
                "validationActions": list(binding.actions),
            }
            if index is not None:
                entry["expressionIndex"] = index
            audit_failures.append(entry)
