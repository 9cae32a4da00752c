"""Prometheus metrics of the store's access control, named after kube-apiserver's
(``apiserver_authentication_attempts``, ``apiserver_authorization_decisions_total``,
``apiserver_validating_admission_policy_check_total``, ``apiserver_audit_event_total``).
Served at ``GET /metrics``, which RBAC guards as kube does (non-resource URL ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

AUTHENTICATION = Counter(
    "wws_store_authentication_attempts",
    "Requests by authentication result (success, failure) and authenticator.",
    ["result", "authenticator"],
    registry=REGISTRY,
)
TOKEN_VERIFICATIONS = Counter(
    "wws_store_authentication_token_verifications",
    "JWT signature and claim checks actually run (a token verified once is then served "
    "from the cache until it expires), by result (verified, rejected).",
    ["result"],
    registry=REGISTRY,
)
AUTHN_CONFIG_RELOADS = Counter(
    "wws_store_authentication_config_controller_automatic_reloads",
    "Reloads of --authentication-config after the file changed, by status (success, failure).",
    ["status"],
    registry=REGISTRY,
)
AUTHN_CONFIG_RELOAD_TIME = Gauge(
    "wws_store_authentication_config_controller_automatic_reload_last_timestamp_seconds",
    "When --authentication-config was last reloaded successfully (epoch seconds).",
    registry=REGISTRY,
)
AUTHORIZATION = Counter(
    "wws_store_authorization_decisions",
    "Authorization decisions (allowed, denied).",
    ["decision"],
    registry=REGISTRY,
)
POLICY_CHECKS = Counter(
    "wws_store_validating_admission_policy_checks",
    "ValidatingAdmissionPolicy failures by policy and the action taken (deny, warn, audit).",
    ["policy", "action"],
    registry=REGISTRY,
)
AUDIT_EVENTS = Counter(
    "wws_store_audit_events",
    "Audit events written, by level.",
    ["level"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
