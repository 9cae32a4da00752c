"""kube-apiserver's audit ``Policy`` (``--audit-policy-file``): the first rule that matches a
request decides its level (None, Metadata, Request, RequestResponse) and the stages left out.
The same file works with ``kube-apiserver --audit-policy-file``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from statestore.authn.user import UserInfo
from statestore.requestinfo import RequestInfo

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class GroupResources:
    group: str
    resources: tuple[str, ...]
    resource_names: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()

    def matches(self, user: UserInfo, info: RequestInfo) -> bool:
        if self.users and user.username not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(user.groups):
            return False
        if self.verbs and info.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            if not info.resource_request:
                return False
            if self.namespaces and info.namespace not in self.namespaces:
                return False
            if self.resources and not any(_resource_matches(r, info) for r in self.resources):
                return False
        if self.non_resource_urls:
            if info.resource_request:
                return False
            if not any(_url_matches(url, info.path) for url in self.non_resource_urls):
                return False
        return True


def _resource_matches(rule: GroupResources, info: RequestInfo) -> bool:
    if rule.group != info.group:
        return False
    if not rule.resources:
        return True
    combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    for resource in rule.resources:
        if rule.resource_names and info.name not in rule.resource_names:
            continue
        if resource in (combined, "*"):
            return True
        if info.subresource and resource == f"*/{info.subresource}":
            return True
        if resource.endswith("/*") and resource[:-2] == info.resource:
            return True
    return False


def _url_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: tuple[str, ...] = ()

    def level(self, user: UserInfo, info: RequestInfo) -> tuple[str, frozenset[str]]:
        """The level of a request and the stages not to record."""
        for rule in self.rules:
            if rule.matches(user, info):
                return rule.level, frozenset(self.omit_stages) | frozenset(rule.omit_stages)
        return "None", frozenset()


def _strings(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise PolicyError(f"{path}: must be a list of strings")
    return tuple(raw)


def _stages(raw: Any, path: str) -> tuple[str, ...]:
    stages = _strings(raw, path)
    for stage in stages:
        if stage not in STAGES:
            raise PolicyError(
                f'{path}: Unsupported value: "{stage}": supported values: '
                + ", ".join(f'"{s}"' for s in STAGES)
            )
    return stages


def parse(document: Any) -> Policy:
    if not isinstance(document, dict) or document.get("kind") != "Policy":
        raise PolicyError("the audit policy must be an audit.k8s.io/v1 Policy")
    if document.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
        raise PolicyError(f'unsupported audit policy apiVersion "{document.get("apiVersion")}"')
    rules: list[Rule] = []
    for index, raw in enumerate(document.get("rules") or []):
        path = f"rules[{index}]"
        if not isinstance(raw, dict):
            raise PolicyError(f"{path}: must be an object")
        level = raw.get("level")
        if level not in LEVELS:
            raise PolicyError(
                f'{path}.level: Unsupported value: "{level}": supported values: '
                + ", ".join(f'"{s}"' for s in LEVELS)
            )
        resources = []
        for r_index, item in enumerate(raw.get("resources") or []):
            item = item if isinstance(item, dict) else {}
            resources.append(
                GroupResources(
                    group=str(item.get("group") or ""),
                    resources=_strings(
                        item.get("resources"), f"{path}.resources[{r_index}].resources"
                    ),
                    resource_names=_strings(
                        item.get("resourceNames"), f"{path}.resources[{r_index}].resourceNames"
                    ),
                )
            )
        urls = _strings(raw.get("nonResourceURLs"), f"{path}.nonResourceURLs")
        if urls and (resources or raw.get("namespaces")):
            raise PolicyError(
                f"{path}: rules cannot apply to both regular resources and non-resource URLs"
            )
        rules.append(
            Rule(
                level=str(level),
                users=_strings(raw.get("users"), f"{path}.users"),
                user_groups=_strings(raw.get("userGroups"), f"{path}.userGroups"),
                verbs=_strings(raw.get("verbs"), f"{path}.verbs"),
                resources=tuple(resources),
                namespaces=_strings(raw.get("namespaces"), f"{path}.namespaces"),
                non_resource_urls=urls,
                omit_stages=_stages(raw.get("omitStages"), f"{path}.omitStages"),
            )
        )
    return Policy(tuple(rules), _stages(document.get("omitStages"), "omitStages"))


def load(path: Path) -> Policy:
    try:
        return parse(yaml.safe_load(path.read_text()))
    except OSError as error:
        raise PolicyError(f"cannot read {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise PolicyError(f"{path} is not valid YAML: {error}") from error
