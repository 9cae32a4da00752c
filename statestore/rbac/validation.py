"""Defaulting and validation of RBAC objects, with kube's field paths and wording
(pkg/apis/rbac/validation, pkg/apis/rbac/v1/defaults.go)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from statestore import labelselect
from statestore.errors import Cause
from statestore.rbac import GROUP

SUBJECT_KINDS = ("ServiceAccount", "User", "Group")

Check = Callable[[dict[str, Any]], list[Cause]]


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _required(path: str, detail: str = "") -> Cause:
    return Cause(
        path, f"Required value: {detail}" if detail else "Required value", "FieldValueRequired"
    )


def _unsupported(path: str, value: Any, supported: tuple[str, ...]) -> Cause:
    listed = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        path, f'Unsupported value: "{value}": supported values: {listed}', "FieldValueNotSupported"
    )


def _path_segment(name: str, path: str) -> list[Cause]:
    """ValidatePathSegmentName: RBAC names may hold ':' but no '/' or '%'."""
    for bad in ("/", "%"):
        if bad in name:
            return [Cause(path, f"Invalid value: \"{name}\": may not contain '{bad}'")]
    if name in (".", ".."):
        return [Cause(path, f"Invalid value: \"{name}\": may not be '{name}'")]
    return []


def default(obj: dict[str, Any]) -> None:
    """SetDefaults_RoleBinding/Subject: roleRef and User/Group subjects get the RBAC group."""
    role_ref = obj.get("roleRef")
    if isinstance(role_ref, dict) and not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = GROUP
    for subject in obj.get("subjects") or []:
        if (
            isinstance(subject, dict)
            and not subject.get("apiGroup")
            and subject.get("kind") in ("User", "Group")
        ):
            subject["apiGroup"] = GROUP


def _rules(obj: dict[str, Any], *, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    rules = obj.get("rules")
    if rules is None:
        return causes
    if not isinstance(rules, list):
        return [Cause("rules", "Invalid value: must be a list")]
    for index, rule in enumerate(rules):
        path = f"rules[{index}]"
        if not isinstance(rule, dict):
            causes.append(Cause(path, "Invalid value: must be an object"))
            continue
        for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            value = rule.get(key)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                causes.append(Cause(f"{path}.{key}", "Invalid value: must be a list of strings"))
        if not rule.get("verbs"):
            causes.append(_required(f"{path}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                causes.append(
                    Cause(
                        f"{path}.nonResourceURLs",
                        f"Invalid value: {_show(urls)}: namespaced rules cannot apply to "
                        "non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(
                    Cause(
                        f"{path}.nonResourceURLs",
                        f"Invalid value: {_show(urls)}: rules cannot apply to both regular "
                        "resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            causes.append(
                _required(f"{path}.apiGroups", "resource rules must supply at least one api group")
            )
        if not rule.get("resources"):
            causes.append(
                _required(f"{path}.resources", "resource rules must supply at least one resource")
            )
    return causes


def validate_role(obj: dict[str, Any]) -> list[Cause]:
    name = str(obj.get("metadata", {}).get("name") or "")
    return _path_segment(name, "metadata.name") + _rules(obj, namespaced=True)


def validate_cluster_role(obj: dict[str, Any]) -> list[Cause]:
    name = str(obj.get("metadata", {}).get("name") or "")
    causes = _path_segment(name, "metadata.name") + _rules(obj, namespaced=False)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        selectors = (
            (aggregation or {}).get("clusterRoleSelectors")
            if isinstance(aggregation, dict)
            else None
        )
        if not selectors:
            causes.append(
                _required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                )
            )
        else:
            for index, selector in enumerate(selectors):
                causes.extend(
                    labelselect.validate(selector, f"aggregationRule.clusterRoleSelectors[{index}]")
                )
    return causes


def _binding(obj: dict[str, Any], *, namespaced: bool) -> list[Cause]:
    default(obj)
    name = str(obj.get("metadata", {}).get("name") or "")
    causes = _path_segment(name, "metadata.name")
    role_ref = obj.get("roleRef")
    if not isinstance(role_ref, dict):
        role_ref = {}
        causes.append(_required("roleRef"))
    if role_ref.get("apiGroup") not in (None, "", GROUP):
        causes.append(_unsupported("roleRef.apiGroup", role_ref.get("apiGroup"), (GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if role_ref.get("kind") not in kinds:
        causes.append(_unsupported("roleRef.kind", role_ref.get("kind") or "", kinds))
    ref_name = role_ref.get("name")
    if not ref_name:
        causes.append(_required("roleRef.name"))
    else:
        causes.extend(_path_segment(str(ref_name), "roleRef.name"))
    subjects = obj.get("subjects") or []
    if not isinstance(subjects, list):
        return [*causes, Cause("subjects", "Invalid value: must be a list")]
    for index, subject in enumerate(subjects):
        path = f"subjects[{index}]"
        if not isinstance(subject, dict):
            causes.append(Cause(path, "Invalid value: must be an object"))
            continue
        if not subject.get("name"):
            causes.append(_required(f"{path}.name"))
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            if subject.get("apiGroup"):
                causes.append(_unsupported(f"{path}.apiGroup", subject.get("apiGroup"), ("",)))
            if not namespaced and not subject.get("namespace"):
                causes.append(_required(f"{path}.namespace"))
        elif kind in ("User", "Group"):
            if subject.get("apiGroup") != GROUP:
                causes.append(_unsupported(f"{path}.apiGroup", subject.get("apiGroup"), (GROUP,)))
        else:
            causes.append(_unsupported(f"{path}.kind", kind or "", SUBJECT_KINDS))
    return causes


def validate_role_binding(obj: dict[str, Any]) -> list[Cause]:
    return _binding(obj, namespaced=True)


def validate_cluster_role_binding(obj: dict[str, Any]) -> list[Cause]:
    return _binding(obj, namespaced=False)


def role_ref_change(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    if (old.get("roleRef") or {}) != (new.get("roleRef") or {}):
        return [
            Cause("roleRef", f"Invalid value: {_show(new.get('roleRef'))}: cannot change roleRef")
        ]
    return []
