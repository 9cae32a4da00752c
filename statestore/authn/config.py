"""kube-apiserver's structured authentication configuration (``--authentication-config``).

``apiserver.config.k8s.io/v1`` (also ``v1beta1``, ``v1alpha1``) ``AuthenticationConfiguration``
with ``jwt`` authenticators: issuer (url, discoveryURL, certificateAuthority, audiences,
audienceMatchPolicy), claimValidationRules, claimMappings (username, groups, uid, extra) and
userValidationRules. Invalid files are refused at start with kube's field paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from statestore import celenv

GROUP = "apiserver.config.k8s.io"
VERSIONS = ("v1", "v1beta1", "v1alpha1")
_EXTRA_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[-a-z0-9._~%!$&'()*+,;=:@]+)+$")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    """A claim (with an optional prefix) or a CEL expression over ``claims``."""

    claim: str = ""
    prefix: str = ""
    expression: celenv.Program | None = None


@dataclass(frozen=True)
class ExtraMapping:
    key: str
    value: celenv.Program


@dataclass(frozen=True)
class ClaimRule:
    claim: str = ""
    required_value: str = ""
    expression: celenv.Program | None = None
    message: str = ""


@dataclass(frozen=True)
class JWTAuthenticator:
    issuer_url: str
    discovery_url: str
    certificate_authority: str
    audiences: tuple[str, ...]
    username: Mapping
    groups: Mapping | None = None
    uid: Mapping | None = None
    extra: tuple[ExtraMapping, ...] = ()
    claim_rules: tuple[ClaimRule, ...] = ()
    user_rules: tuple[ClaimRule, ...] = ()


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def _compile(expression: str, path: str, problems: _Problems) -> celenv.Program | None:
    try:
        return celenv.compile_expression(expression)
    except celenv.CompileError as error:
        problems.add(path, f'Invalid value: "{expression}": {error}')
        return None


def _mapping(
    raw: Any, path: str, problems: _Problems, *, prefixed: bool, required: bool
) -> Mapping | None:
    if raw is None or raw == {}:
        if required:
            problems.add(path, "Required value: claim or expression is required")
        return None
    if not isinstance(raw, dict):
        problems.add(path, "Invalid value: must be an object")
        return None
    claim, expression = str(raw.get("claim") or ""), str(raw.get("expression") or "")
    prefix = raw.get("prefix")
    if claim and expression:
        problems.add(path, 'Invalid value: "": claim and expression cannot both be set')
        return None
    if not claim and not expression:
        if required:
            problems.add(path, "Required value: claim or expression is required")
        return None
    if expression:
        if prefix is not None and prefixed:
            problems.add(
                f"{path}.prefix", "Invalid value: may not be specified when expression is set"
            )
        program = _compile(expression, f"{path}.expression", problems)
        return Mapping(expression=program) if program else None
    if prefixed and prefix is None:
        problems.add(f"{path}.prefix", "Required value: prefix is required when claim is set")
    return Mapping(claim=claim, prefix=str(prefix or ""))


def _authenticator(raw: Any, path: str, problems: _Problems) -> JWTAuthenticator | None:
    if not isinstance(raw, dict):
        problems.add(path, "Invalid value: must be an object")
        return None
    issuer = raw.get("issuer") or {}
    url = str(issuer.get("url") or "")
    parts = urlsplit(url)
    if not url:
        problems.add(f"{path}.issuer.url", "Required value")
    elif parts.scheme != "https":
        problems.add(f"{path}.issuer.url", f'Invalid value: "{url}": URL scheme must be https')
    elif parts.query or parts.fragment or parts.username:
        problems.add(
            f"{path}.issuer.url",
            f'Invalid value: "{url}": URL must not contain a query, fragment or user',
        )
    discovery = str(issuer.get("discoveryURL") or "")
    if discovery:
        if urlsplit(discovery).scheme != "https":
            problems.add(
                f"{path}.issuer.discoveryURL",
                f'Invalid value: "{discovery}": discoveryURL scheme must be https',
            )
        if discovery.rstrip("/") == url.rstrip("/"):
            problems.add(
                f"{path}.issuer.discoveryURL",
                f'Invalid value: "{discovery}": discoveryURL must be different from URL',
            )
    audiences = issuer.get("audiences") or []
    if not audiences:
        problems.add(
            f"{path}.issuer.audiences", "Required value: at least one issuer.audiences is required"
        )
    policy = issuer.get("audienceMatchPolicy") or ""
    if len(audiences) > 1 and policy != "MatchAny":
        problems.add(
            f"{path}.issuer.audienceMatchPolicy",
            f'Invalid value: "{policy}": audienceMatchPolicy must be MatchAny for multiple '
            "audiences",
        )
    mappings = raw.get("claimMappings") or {}
    mpath = f"{path}.claimMappings"
    username = _mapping(
        mappings.get("username"), f"{mpath}.username", problems, prefixed=True, required=True
    )
    groups = _mapping(
        mappings.get("groups"), f"{mpath}.groups", problems, prefixed=True, required=False
    )
    uid = _mapping(mappings.get("uid"), f"{mpath}.uid", problems, prefixed=False, required=False)
    extra: list[ExtraMapping] = []
    for index, item in enumerate(mappings.get("extra") or []):
        epath = f"{mpath}.extra[{index}]"
        key = str((item or {}).get("key") or "")
        if not key:
            problems.add(f"{epath}.key", "Required value")
        elif not _EXTRA_KEY.match(key):
            problems.add(
                f"{epath}.key",
                f'Invalid value: "{key}": must be a domain-prefixed path (such as "acme.io/foo")',
            )
        value = str((item or {}).get("valueExpression") or "")
        if not value:
            problems.add(f"{epath}.valueExpression", "Required value: valueExpression is required")
            continue
        program = _compile(value, f"{epath}.valueExpression", problems)
        if program and key:
            extra.append(ExtraMapping(key, program))
    claim_rules: list[ClaimRule] = []
    for index, item in enumerate(raw.get("claimValidationRules") or []):
        rpath = f"{path}.claimValidationRules[{index}]"
        item = item or {}
        if item.get("claim") and item.get("expression"):
            problems.add(rpath, "Invalid value: claim and expression cannot both be set")
        elif item.get("expression"):
            program = _compile(str(item["expression"]), f"{rpath}.expression", problems)
            if program:
                claim_rules.append(
                    ClaimRule(expression=program, message=str(item.get("message") or ""))
                )
        elif item.get("claim"):
            claim_rules.append(
                ClaimRule(
                    claim=str(item["claim"]), required_value=str(item.get("requiredValue") or "")
                )
            )
        else:
            problems.add(rpath, "Required value: claim or expression is required")
    user_rules: list[ClaimRule] = []
    for index, item in enumerate(raw.get("userValidationRules") or []):
        rpath = f"{path}.userValidationRules[{index}].expression"
        expression = str((item or {}).get("expression") or "")
        if not expression:
            problems.add(rpath, "Required value: expression is required")
            continue
        program = _compile(expression, rpath, problems)
        if program:
            user_rules.append(ClaimRule(expression=program, message=str(item.get("message") or "")))
    if username is None:
        return None
    return JWTAuthenticator(
        issuer_url=url,
        discovery_url=discovery,
        certificate_authority=str(issuer.get("certificateAuthority") or ""),
        audiences=tuple(str(a) for a in audiences),
        username=username,
        groups=groups,
        uid=uid,
        extra=tuple(extra),
        claim_rules=tuple(claim_rules),
        user_rules=tuple(user_rules),
    )


def parse(document: Any) -> list[JWTAuthenticator]:
    if not isinstance(document, dict):
        raise ConfigError("the authentication configuration must be a YAML object")
    api_version = str(document.get("apiVersion") or "")
    if document.get("kind") != "AuthenticationConfiguration" or api_version not in {
        f"{GROUP}/{v}" for v in VERSIONS
    }:
        raise ConfigError(
            f'no kind "{document.get("kind")}" is registered for version "{api_version}": '
            f"expected kind AuthenticationConfiguration in {GROUP}/{'|'.join(VERSIONS)}"
        )
    problems = _Problems()
    result: list[JWTAuthenticator] = []
    seen: set[str] = set()
    for index, raw in enumerate(document.get("jwt") or []):
        authenticator = _authenticator(raw, f"jwt[{index}]", problems)
        if authenticator is None:
            continue
        if authenticator.issuer_url in seen:
            problems.add(
                f"jwt[{index}].issuer.url",
                f'Duplicate value: "{authenticator.issuer_url}"',
            )
        seen.add(authenticator.issuer_url)
        result.append(authenticator)
    if problems.items:
        raise ConfigError("; ".join(problems.items))
    return result


def load(path: Path) -> list[JWTAuthenticator]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    return parse(document)
