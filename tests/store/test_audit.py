"""The audit log: audit.k8s.io/v1 Events as JSON lines, filtered by kube's Policy format,
Secrets never above Metadata, the impersonated user named, rotation by size."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kubeapi import Api, widget, widgets
from tests.support.names import unique
from tests.support.storeproc import REPO, StoreProcess

CRDS = Path(__file__).parent / "crds"
POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/api*", "/openapi*", "/version*"]},
        {"level": "RequestResponse"},  # everything, Secrets included: the store caps them
    ],
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    folder = tmp_path_factory.mktemp("audited")
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    process = StoreProcess(
        folder / "data",
        crds_dir=CRDS,
        extra_args=(
            "--audit-log-path",
            str(folder / "audit" / "audit.log"),
            "--audit-policy-file",
            str(policy),
            "--audit-log-maxsize",
            "1",
            "--audit-log-maxbackup",
            "2",
        ),
    ).start()
    try:
        yield process
    finally:
        process.stop()


def events(store: StoreProcess) -> list[dict[str, Any]]:
    log = store.data_dir.parent / "audit" / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


def event(store: StoreProcess, audit_id: str) -> dict[str, Any]:
    """The ResponseComplete event of a request (written just after its response)."""
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in events(store) if e["auditID"] == audit_id]
        if found or time.monotonic() > deadline:
            [only] = found
            return only
        time.sleep(0.05)


def test_create_by_an_impersonated_user(audited: StoreProcess) -> None:
    api = Api(audited)
    try:
        namespace = api.namespace(unique("ns"))
        api.create(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "bob"},
                "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "name": "github:bob"}],
            },
        )
        response = api.request(
            "POST",
            widgets(namespace),
            json=widget("w1", size=2),
            headers={"Impersonate-User": "github:bob", "Impersonate-Group": "devs"},
        )
        assert response.status_code == 201, response.text
        audit_id = response.headers["audit-id"]
    finally:
        api.close()
    found = event(audited, audit_id)
    assert found["kind"] == "Event" and found["apiVersion"] == "audit.k8s.io/v1"
    assert found["stage"] == "ResponseComplete"
    assert found["level"] == "RequestResponse"
    assert found["verb"] == "create"
    assert found["user"]["username"] == "wws:admin"
    assert found["impersonatedUser"] == {
        "username": "github:bob",
        "groups": ["devs", "system:authenticated"],
    }
    assert found["objectRef"] == {
        "resource": "widgets",
        "namespace": namespace,
        "apiGroup": "test.wws.dev",
        "apiVersion": "v1",
    }
    assert found["responseStatus"]["code"] == 201
    assert found["requestObject"]["spec"] == {"size": 2}
    assert found["responseObject"]["metadata"]["name"] == "w1"
    assert found["sourceIPs"] == ["127.0.0.1"]
    assert found["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert found["requestReceivedTimestamp"] <= found["stageTimestamp"]
    assert not [e for e in events(audited) if e["stage"] == "RequestReceived"]


def test_secrets_never_above_metadata_and_denials(audited: StoreProcess) -> None:
    api = Api(audited)
    try:
        namespace = api.namespace(unique("ns"))
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "stringData": {"password": "hunter2-do-not-log"},
        }
        created = api.request("POST", f"/api/v1/namespaces/{namespace}/secrets", json=secret)
        assert created.status_code == 201
        denied = api.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/secrets/s",
            headers={"Impersonate-User": "github:eve"},
        )
        assert denied.status_code == 403
    finally:
        api.close()
    log = (audited.data_dir.parent / "audit" / "audit.log").read_text()
    assert "hunter2" not in log
    create = event(audited, created.headers["audit-id"])
    assert create["level"] == "Metadata" and "requestObject" not in create
    forbid = event(audited, denied.headers["audit-id"])
    assert forbid["responseStatus"]["code"] == 403
    assert forbid["responseStatus"]["reason"] == "Forbidden"
    assert forbid["annotations"]["authorization.k8s.io/decision"] == "forbid"


def test_rotation_by_size(audited: StoreProcess) -> None:
    api = Api(audited)
    try:
        namespace = api.namespace(unique("ns"))
        big = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "big"},
            "data": {"a": "x" * 300_000},
        }
        api.create(f"/api/v1/namespaces/{namespace}/configmaps", big)
        for _ in range(8):
            response = api.get(f"/api/v1/namespaces/{namespace}/configmaps/big")
            assert response.status_code == 200
    finally:
        api.close()
    event(audited, response.headers["audit-id"])  # the last line, written after its rotation
    folder = audited.data_dir.parent / "audit"
    rotated = sorted(folder.glob("audit-*.log"))
    assert 1 <= len(rotated) <= 2  # --audit-log-maxbackup 2
    for path in [folder / "audit.log", *rotated]:
        assert path.stat().st_size <= 1024 * 1024
        assert path.stat().st_mode & 0o777 == 0o600
        for line in path.read_text().splitlines():
            assert json.loads(line)["kind"] == "Event"


def test_default_policy_of_wws_up_parses() -> None:
    from statestore.audit import policy

    parsed = policy.load(REPO / "deploy" / "audit-policy.yaml")
    assert parsed.omit_stages == ("RequestReceived",)


def test_unauthenticated_requests_are_audited_without_a_user(audited: StoreProcess) -> None:
    import httpx

    with httpx.Client(base_url=audited.url, verify=audited.ssl_context()) as http:
        response = http.get("/api/v1/namespaces", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    found = event(audited, response.headers["audit-id"])
    assert found["user"] == {}
    assert found["responseStatus"]["code"] == 401
    assert found["verb"] == "list"


def test_policy_audit_action_and_annotations_reach_the_log(audited: StoreProcess) -> None:
    api = Api(audited)
    admission = "/apis/admissionregistration.k8s.io/v1"
    name = unique("audit")
    try:
        namespace = api.namespace(unique("ns"))
        api.create(
            f"{admission}/validatingadmissionpolicies",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": ["test.wws.dev"],
                                "apiVersions": ["*"],
                                "operations": ["CREATE"],
                                "resources": ["widgets"],
                            }
                        ],
                        "objectSelector": {"matchLabels": {"audit": name}},
                    },
                    "matchConditions": [{"name": "small", "expression": "object.spec.size < 100"}],
                    "validations": [{"expression": "object.spec.size < 3", "message": "big"}],
                    "auditAnnotations": [
                        {"key": "size", "valueExpression": "string(object.spec.size)"}
                    ],
                },
            },
        )
        api.create(
            f"{admission}/validatingadmissionpolicybindings",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {"policyName": name, "validationActions": ["Audit"]},
            },
        )
        body = widget("w", size=5)
        body["metadata"]["labels"] = {"audit": name}
        response = api.request("POST", widgets(namespace), json=body)
        assert response.status_code == 201, response.text  # Audit only: allowed
        unlabelled = api.request("POST", widgets(namespace), json=widget("v", size=5))
        assert unlabelled.status_code == 201
    finally:
        api.delete(f"{admission}/validatingadmissionpolicybindings/{name}")
        api.delete(f"{admission}/validatingadmissionpolicies/{name}")
        api.close()
    annotations = event(audited, response.headers["audit-id"])["annotations"]
    assert annotations[f"{name}/size"] == "5"
    [failure] = json.loads(annotations["validation.policy.admission.k8s.io/validation_failure"])
    assert failure == {
        "message": "big",
        "policy": name,
        "binding": name,
        "expressionIndex": 0,
        "validationActions": ["Audit"],
    }
    other = event(audited, unlabelled.headers["audit-id"]).get("annotations", {})
    assert "validation.policy.admission.k8s.io/validation_failure" not in other
