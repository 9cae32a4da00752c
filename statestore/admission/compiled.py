"""ValidatingAdmissionPolicies and their bindings: validated at create (422 with the field
path and the position of a CEL expression that does not compile) and compiled once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from statestore import celenv, labelselect
from statestore.admission import library
from statestore.errors import Cause

OPERATIONS = ("*", "CREATE", "UPDATE", "DELETE", "CONNECT")
FAILURE_POLICIES = ("Fail", "Ignore")
ACTIONS = ("Deny", "Warn", "Audit")
REASONS = ("Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge")
SCOPES = ("*", "Cluster", "Namespaced")
#: The variables admission gives the CEL fast path as plain JSON (``variables`` as
#: celfast.Variables, ``authorizer`` as the library's object with its PLAIN_METHODS).
PLAIN = frozenset(
    {"object", "oldObject", "request", "params", "namespaceObject", "variables", "authorizer"}
)


@dataclass(frozen=True)
class Rule:
    api_groups: tuple[str, ...]
    api_versions: tuple[str, ...]
    operations: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    scope: str = "*"


@dataclass(frozen=True)
class Match:
    rules: tuple[Rule, ...] = ()
    excluded: tuple[Rule, ...] = ()
    namespace_selector: dict[str, Any] | None = None
    object_selector: dict[str, Any] | None = None
    given: bool = False  # a binding's matchResources narrows only when set


@dataclass(frozen=True)
class Validation:
    program: celenv.Program
    message: str = ""
    message_expression: celenv.Program | None = None
    reason: str = "Invalid"
    field_path: str = ""


@dataclass(frozen=True)
class Policy:
    name: str
    match: Match
    failure_policy: str = "Fail"
    param_kind: tuple[str, str] | None = None  # (apiVersion, kind)
    conditions: tuple[tuple[str, celenv.Program], ...] = ()
    variables: tuple[tuple[str, celenv.Program], ...] = ()
    validations: tuple[Validation, ...] = ()
    audit_annotations: tuple[tuple[str, celenv.Program], ...] = ()

    def programs(self) -> list[celenv.Program]:
        """Every CEL expression of the policy."""
        found = [program for _, program in (*self.conditions, *self.variables)]
        for validation in self.validations:
            found.append(validation.program)
            if validation.message_expression is not None:
                found.append(validation.message_expression)
        found.extend(program for _, program in self.audit_annotations)
        return found


@dataclass(frozen=True)
class Binding:
    name: str
    policy_name: str
    actions: tuple[str, ...]
    match: Match
    param_name: str = ""
    param_namespace: str = ""
    param_selector: dict[str, Any] | None = None
    param_missing: str = "Deny"  # parameterNotFoundAction
    has_param_ref: bool = False


@dataclass
class _Causes:
    items: list[Cause] = field(default_factory=list)

    def add(self, path: str, message: str, reason: str = "FieldValueInvalid") -> None:
        self.items.append(Cause(path, message, reason))

    def required(self, path: str, detail: str = "") -> None:
        self.add(
            path, f"Required value: {detail}" if detail else "Required value", "FieldValueRequired"
        )

    def unsupported(self, path: str, value: Any, supported: tuple[str, ...]) -> None:
        listed = ", ".join(f'"{s}"' for s in supported)
        self.add(
            path,
            f'Unsupported value: "{value}": supported values: {listed}',
            "FieldValueNotSupported",
        )


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _compile(expression: Any, path: str, causes: _Causes) -> celenv.Program | None:
    if not isinstance(expression, str) or not expression.strip():
        causes.required(path)
        return None
    try:
        return celenv.compile_expression(
            expression,
            functions=library.FUNCTIONS,
            plain=PLAIN,
            plain_methods=library.PLAIN_METHODS,
        )
    except celenv.CompileError as error:
        causes.add(path, f'Invalid value: "{expression}": {error}')
        return None


def _rules(raw: Any, path: str, causes: _Causes) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for index, item in enumerate(raw or []):
        here = f"{path}[{index}]"
        if not isinstance(item, dict):
            causes.add(here, "Invalid value: must be an object")
            continue
        operations = _strings(item.get("operations"))
        for operation in operations:
            if operation not in OPERATIONS:
                causes.unsupported(f"{here}.operations", operation, OPERATIONS)
        if not _strings(item.get("apiGroups")):
            causes.required(f"{here}.apiGroups")
        if not _strings(item.get("apiVersions")):
            causes.required(f"{here}.apiVersions")
        if not operations:
            causes.required(f"{here}.operations")
        if not _strings(item.get("resources")):
            causes.required(f"{here}.resources")
        scope = str(item.get("scope") or "*")
        if scope not in SCOPES:
            causes.unsupported(f"{here}.scope", scope, SCOPES)
        rules.append(
            Rule(
                api_groups=_strings(item.get("apiGroups")),
                api_versions=_strings(item.get("apiVersions")),
                operations=operations,
                resources=_strings(item.get("resources")),
                resource_names=_strings(item.get("resourceNames")),
                scope=scope,
            )
        )
    return tuple(rules)


def _match(raw: Any, path: str, causes: _Causes, *, required: bool) -> Match:
    if raw is None:
        if required:
            causes.required(path)
        return Match()
    if not isinstance(raw, dict):
        causes.add(path, "Invalid value: must be an object")
        return Match()
    if required and not raw.get("resourceRules"):
        causes.required(f"{path}.resourceRules")
    causes.items.extend(
        labelselect.validate(raw.get("namespaceSelector"), f"{path}.namespaceSelector")
    )
    causes.items.extend(labelselect.validate(raw.get("objectSelector"), f"{path}.objectSelector"))
    return Match(
        rules=_rules(raw.get("resourceRules"), f"{path}.resourceRules", causes),
        excluded=_rules(raw.get("excludeResourceRules"), f"{path}.excludeResourceRules", causes),
        namespace_selector=raw.get("namespaceSelector") or None,
        object_selector=raw.get("objectSelector") or None,
        given=True,
    )


def _named(
    raw: Any, path: str, key: str, causes: _Causes
) -> tuple[tuple[str, celenv.Program], ...]:
    found: list[tuple[str, celenv.Program]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw or []):
        here = f"{path}[{index}]"
        item = item if isinstance(item, dict) else {}
        name = str(item.get("name") or item.get("key") or "")
        if not name:
            causes.required(f"{here}.{'key' if key == 'valueExpression' else 'name'}")
        elif name in seen:
            causes.add(f"{here}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
        seen.add(name)
        program = _compile(item.get(key), f"{here}.{key}", causes)
        if program is not None and name:
            found.append((name, program))
    return tuple(found)


#: Policies compiled by their name and spec: validating a policy at create compiles it, and
#: the admission plugin then finds it here instead of parsing every expression again
#: (cel-python's parser: milliseconds an expression).
_COMPILED: dict[str, tuple[Policy | None, list[Cause]]] = {}
_COMPILED_SIZE = 256


def compile_policy(obj: dict[str, Any]) -> tuple[Policy | None, list[Cause]]:
    try:
        key = json.dumps([(obj.get("metadata") or {}).get("name"), obj.get("spec")], sort_keys=True)
    except (TypeError, ValueError):
        return _compile_policy(obj)
    found = _COMPILED.get(key)
    if found is None:
        found = _compile_policy(obj)
        if len(_COMPILED) >= _COMPILED_SIZE:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = found
    return found[0], list(found[1])


def _compile_policy(obj: dict[str, Any]) -> tuple[Policy | None, list[Cause]]:
    causes = _Causes()
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return None, causes.items
    failure = str(spec.get("failurePolicy") or "Fail")
    if failure not in FAILURE_POLICIES:
        causes.unsupported("spec.failurePolicy", failure, FAILURE_POLICIES)
    match = _match(spec.get("matchConstraints"), "spec.matchConstraints", causes, required=True)
    param_kind = None
    raw_param = spec.get("paramKind")
    if raw_param is not None:
        if (
            not isinstance(raw_param, dict)
            or not raw_param.get("apiVersion")
            or not raw_param.get("kind")
        ):
            causes.required("spec.paramKind", "apiVersion and kind are required")
        else:
            param_kind = (str(raw_param["apiVersion"]), str(raw_param["kind"]))
    conditions = _named(spec.get("matchConditions"), "spec.matchConditions", "expression", causes)
    variables = _named(spec.get("variables"), "spec.variables", "expression", causes)
    validations: list[Validation] = []
    raw_validations = spec.get("validations") or []
    raw_audit = spec.get("auditAnnotations") or []
    if not raw_validations and not raw_audit:
        causes.required(
            "spec.validations", "validations or auditAnnotations must contain at least one item"
        )
    for index, item in enumerate(raw_validations):
        here = f"spec.validations[{index}]"
        item = item if isinstance(item, dict) else {}
        program = _compile(item.get("expression"), f"{here}.expression", causes)
        message_expression = None
        if item.get("messageExpression"):
            message_expression = _compile(
                item["messageExpression"], f"{here}.messageExpression", causes
            )
        reason = str(item.get("reason") or "Invalid")
        if reason not in REASONS:
            causes.unsupported(f"{here}.reason", reason, REASONS)
        message = str(item.get("message") or "")
        if "\n" in message.strip():
            causes.add(
                f"{here}.message",
                f'Invalid value: "{message}": message must not contain line breaks',
            )
        if program is not None:
            validations.append(
                Validation(
                    program=program,
                    message=message.strip(),
                    message_expression=message_expression,
                    reason=reason,
                    field_path=str(item.get("fieldPath") or ""),
                )
            )
    audit = _named(raw_audit, "spec.auditAnnotations", "valueExpression", causes)
    if causes.items:
        return None, causes.items
    policy = Policy(
        name=str(obj.get("metadata", {}).get("name") or ""),
        match=match,
        failure_policy=failure,
        param_kind=param_kind,
        conditions=conditions,
        variables=variables,
        validations=tuple(validations),
        audit_annotations=audit,
    )
    return policy, []


def compile_binding(obj: dict[str, Any]) -> tuple[Binding | None, list[Cause]]:
    causes = _Causes()
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.required("spec")
        return None, causes.items
    policy_name = str(spec.get("policyName") or "")
    if not policy_name:
        causes.required("spec.policyName")
    actions = _strings(spec.get("validationActions"))
    if not actions:
        causes.required("spec.validationActions")
    for action in actions:
        if action not in ACTIONS:
            causes.unsupported("spec.validationActions", action, ACTIONS)
    if len(set(actions)) != len(actions):
        causes.add(
            "spec.validationActions", f"Duplicate value: {list(actions)}", "FieldValueDuplicate"
        )
    if "Deny" in actions and "Warn" in actions:
        causes.add(
            "spec.validationActions",
            'Forbidden: may not contain both "Deny" and "Warn"',
            "FieldValueForbidden",
        )
    match = _match(spec.get("matchResources"), "spec.matchResources", causes, required=False)
    param_ref = spec.get("paramRef")
    name = namespace = ""
    selector = None
    missing = "Deny"
    if param_ref is not None:
        param_ref = param_ref if isinstance(param_ref, dict) else {}
        name, namespace = str(param_ref.get("name") or ""), str(param_ref.get("namespace") or "")
        selector = param_ref.get("selector")
        if bool(name) == (selector is not None):
            causes.required("spec.paramRef", "one of name or selector must be specified")
        missing = str(param_ref.get("parameterNotFoundAction") or "")
        if missing not in ("Allow", "Deny"):
            causes.unsupported("spec.paramRef.parameterNotFoundAction", missing, ("Allow", "Deny"))
    if causes.items:
        return None, causes.items
    return (
        Binding(
            name=str(obj.get("metadata", {}).get("name") or ""),
            policy_name=policy_name,
            actions=actions,
            match=match,
            param_name=name,
            param_namespace=namespace,
            param_selector=selector,
            param_missing=missing,
            has_param_ref=param_ref is not None,
        ),
        [],
    )


def validate_policy(obj: dict[str, Any]) -> list[Cause]:
    return compile_policy(obj)[1]


def validate_binding(obj: dict[str, Any]) -> list[Cause]:
    return compile_binding(obj)[1]


Check = Callable[[dict[str, Any]], list[Cause]]
