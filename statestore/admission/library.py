"""The ``authorizer`` variable of admission CEL (k8s.io/apiserver/pkg/cel/library/authz.go):
``authorizer.group('wws.dev').resource('teams').namespace(ns).name(n).check('use').allowed()``
asks the store's authorizer about the requesting user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import celpy.celtypes as ct

from statestore.authn.user import UserInfo
from statestore.celfast import Fallback
from statestore.rbac.attributes import Attributes

Allowed = Callable[[Attributes], tuple[bool, str]]


@dataclass(frozen=True)
class _Query:
    user: UserInfo
    decide: Allowed
    path: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class Authorizer(ct.MapType):
    """A CEL value (a map, so ``authorizer.requestResource`` selects) that carries a query."""

    def __init__(self, query: _Query, request_resource: _Query | None = None) -> None:
        super().__init__({})
        self.query = query
        if request_resource is not None:
            self[ct.StringType("requestResource")] = Authorizer(request_resource)


class Decision(ct.MapType):
    def __init__(self, allowed: bool, reason: str) -> None:
        super().__init__({})
        self.allowed = allowed
        self.reason = reason


def new(user: UserInfo, decide: Allowed, request: Attributes | None) -> Authorizer:
    query = _Query(user, decide)
    resource = None
    if request is not None:
        resource = replace(
            query,
            group=request.group,
            resource=request.resource,
            subresource=request.subresource,
            namespace=request.namespace,
            name=request.name,
        )
    return Authorizer(query, resource)


def _with(target: Any, **changes: Any) -> Authorizer:
    if not isinstance(target, Authorizer):
        raise TypeError("no such overload")
    return Authorizer(replace(target.query, **changes))


def _check(target: Any, verb: Any) -> Decision:
    if not isinstance(target, Authorizer):
        raise TypeError("no such overload")
    query = target.query
    if query.path:
        attributes = Attributes(query.user, str(verb), False, path=query.path)
    else:
        attributes = Attributes(
            query.user,
            str(verb),
            True,
            query.group,
            "",
            query.resource,
            query.subresource,
            query.namespace,
            query.name,
        )
    allowed, reason = query.decide(attributes)
    return Decision(allowed, reason)


def _allowed(decision: Any) -> ct.BoolType:
    if not isinstance(decision, Decision):
        raise TypeError("no such overload")
    return ct.BoolType(decision.allowed)


def _reason(decision: Any) -> ct.StringType:
    if not isinstance(decision, Decision):
        raise TypeError("no such overload")
    return ct.StringType(decision.reason)


def _service_account(target: Any, namespace: Any, name: Any) -> Authorizer:
    if not isinstance(target, Authorizer):
        raise TypeError("no such overload")
    user = UserInfo(f"system:serviceaccount:{namespace}:{name}")
    return Authorizer(replace(target.query, user=user))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "group": lambda target, value: _with(target, group=str(value)),
    "resource": lambda target, value: _with(target, resource=str(value)),
    "subresource": lambda target, value: _with(target, subresource=str(value)),
    "namespace": lambda target, value: _with(target, namespace=str(value)),
    "name": lambda target, value: _with(target, name=str(value)),
    "path": lambda target, value: _with(target, path=str(value)),
    "check": _check,
    "allowed": _allowed,
    "reason": _reason,
    "errored": lambda decision: ct.BoolType(False),
    "error": lambda decision: ct.StringType(""),
    "serviceAccount": _service_account,
}


def _plain(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` for the CEL fast path: its receiver must be this library's value and its
    arguments strings (else cel-python decides), and its result is plain Python."""

    def call(target: Any, *args: Any) -> Any:
        if not isinstance(target, Authorizer | Decision) or not all(
            type(arg) is str for arg in args
        ):
            raise Fallback
        try:
            result = function(target, *args)
        except TypeError:
            raise Fallback from None
        if isinstance(result, ct.BoolType):
            return bool(result)
        if isinstance(result, ct.StringType):
            return str(result)
        return result

    call.__name__ = name
    return call


#: FUNCTIONS for the CEL fast path (``authorizer`` is given to it as is).
PLAIN_METHODS: dict[str, Callable[..., Any]] = {
    name: _plain(name, function) for name, function in FUNCTIONS.items()
}
