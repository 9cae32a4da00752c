"""Access and identity reviews: answered at once, never stored.

``authentication.k8s.io/v1`` SelfSubjectReview (``kubectl auth whoami``) and
``authorization.k8s.io/v1`` SelfSubjectAccessReview (``kubectl auth can-i``),
SelfSubjectRulesReview (``kubectl auth can-i --list``), SubjectAccessReview and
LocalSubjectAccessReview (what the web UI asks on a person's behalf).
"""

from __future__ import annotations

from typing import Any

from statestore import resources
from statestore.authn.user import UserInfo
from statestore.errors import Cause, StatusError, bad_request, invalid
from statestore.rbac.attributes import Attributes
from statestore.rbac.authorizer import Decision, RBACAuthorizer


def _attributes(spec: dict[str, Any], user: UserInfo, kind: str) -> Attributes:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise invalid(
            kind=kind,
            name="",
            group=resources.AUTHZ_GROUP,
            causes=[
                Cause(
                    "spec.resourceAttributes",
                    f"Invalid value: {_show(spec)}: exactly one of nonResourceAttributes or "
                    "resourceAttributes must be specified",
                )
            ],
        )
    if resource is not None:
        if not isinstance(resource, dict):
            raise bad_request("spec.resourceAttributes must be an object")
        return Attributes(
            user=user,
            verb=str(resource.get("verb") or ""),
            resource_request=True,
            group=str(resource.get("group") or ""),
            version=str(resource.get("version") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
        )
    if not isinstance(non_resource, dict):
        raise bad_request("spec.nonResourceAttributes must be an object")
    return Attributes(
        user=user,
        verb=str(non_resource.get("verb") or ""),
        resource_request=False,
        path=str(non_resource.get("path") or ""),
    )


def _show(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _status(decision: Decision) -> dict[str, Any]:
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    if decision.evaluation_error:
        status["evaluationError"] = decision.evaluation_error
    return status


def _user_from_spec(spec: dict[str, Any]) -> UserInfo:
    extra = spec.get("extra") or {}
    return UserInfo(
        username=str(spec.get("user") or ""),
        uid=str(spec.get("uid") or ""),
        groups=tuple(str(g) for g in spec.get("groups") or []),
        extra={str(k): tuple(str(x) for x in v or []) for k, v in extra.items()},
    )


def _rules_status(authorizer: RBACAuthorizer, user: UserInfo, namespace: str) -> dict[str, Any]:
    if user.is_master:  # kube's privileged-group authorizer: everything
        return {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    ruleset = authorizer.rules_for(user, namespace)
    resource_rules: list[dict[str, Any]] = []
    non_resource_rules: list[dict[str, Any]] = []
    for _, rule in ruleset.rules:
        if rule.non_resource_urls:
            non_resource_rules.append(
                {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}
            )
        else:
            entry: dict[str, Any] = {"verbs": list(rule.verbs)}
            if rule.api_groups:
                entry["apiGroups"] = list(rule.api_groups)
            if rule.resources:
                entry["resources"] = list(rule.resources)
            if rule.resource_names:
                entry["resourceNames"] = list(rule.resource_names)
            resource_rules.append(entry)
    status: dict[str, Any] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if ruleset.errors:
        status["evaluationError"] = "; ".join(ruleset.errors)
    return status


def answer(
    info: resources.ResourceInfo,
    namespace: str | None,
    body: Any,
    user: UserInfo,
    authorizer: RBACAuthorizer,
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON or YAML object")
    result: dict[str, Any] = {
        "kind": info.kind,
        "apiVersion": f"{info.group}/v1",
        "metadata": {"creationTimestamp": None},
    }
    if namespace is not None:
        result["metadata"]["namespace"] = namespace
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise bad_request("spec must be an object")
    if info is resources.SELF_SUBJECT_REVIEWS:
        result["status"] = {"userInfo": user.to_dict()}
        return result
    result["spec"] = spec
    if info is resources.SELF_SUBJECT_RULES_REVIEWS:
        result["status"] = _rules_status(authorizer, user, str(spec.get("namespace") or ""))
        return result
    if info is resources.SELF_SUBJECT_ACCESS_REVIEWS:
        attributes = _attributes(spec, user, info.kind)
    else:
        subject = _user_from_spec(spec)
        if not subject.username and not subject.groups:
            raise invalid(
                kind=info.kind,
                name="",
                group=info.group,
                causes=[
                    Cause(
                        "spec.user",
                        'Invalid value: "": at least one of user or group must be specified',
                    )
                ],
            )
        attributes = _attributes(spec, subject, info.kind)
        if info is resources.LOCAL_SUBJECT_ACCESS_REVIEWS:
            given = (spec.get("resourceAttributes") or {}).get("namespace")
            if spec.get("nonResourceAttributes") is not None or given != namespace:
                raise invalid(
                    kind=info.kind,
                    name="",
                    group=info.group,
                    causes=[
                        Cause(
                            "spec.resourceAttributes.namespace",
                            f'Invalid value: "{given or ""}": must match metadata.namespace',
                        )
                    ],
                )
    if not attributes.verb:
        raise StatusError(
            422,
            "Invalid",
            f'{info.kind}.{info.group} "" is invalid: spec: verb is required',
            causes=[Cause("spec.resourceAttributes.verb", "Required value", "FieldValueRequired")],
        )
    result["status"] = _status(authorizer.authorize(attributes))
    return result
