"""The access table of docs/access.md, cell by cell, with real kubectl against the real store
and the real controller: ``kubectl auth can-i --as github:<login>`` for what RBAC decides,
and real requests (``--dry-run=server``: authenticated, authorized and admitted exactly like
the write itself, but not stored) for what the admission policies decide.

People of the organization: alice (owner), olga (admin), mia (member), tom (member of team
platform), tina (maintainer of platform), sam (member of platform, owns the shared
workspaces), and oscar (outsider).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.access.conftest import apply, audit_events, get
from tests.support.devgithub import ALICE_TOKEN, DevGitHub
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import REPO, StoreProcess
from tests.support.waiting import eventually

ACCESS = REPO / "deploy" / "access"
PEOPLE = ("alice", "olga", "mia", "tom", "tina", "oscar")
ROLE = {
    "alice": "owner",
    "olga": "admin",
    "mia": "member",
    "tom": "team member",
    "tina": "team maintainer",
    "oscar": "outsider",
}


PROBE = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: wws-test-probe}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations: [{expression: "object.metadata.name != 'wws-probe'"}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: wws-test-probe}
spec: {policyName: wws-test-probe, validationActions: [Deny]}
"""


def _enforces_policies(kubectl: Kubectl) -> bool:
    """Whether the API server enforces ValidatingAdmissionPolicies: a probe policy that
    refuses one ConfigMap name, tried with a dry run."""
    if kubectl.run("apply", "-f", "-", stdin=PROBE, check=False).returncode != 0:
        return False
    try:
        for _ in range(20):  # the policy takes effect shortly after it is written
            probe = kubectl.run(
                "-n",
                "default",
                "create",
                "configmap",
                "wws-probe",
                "--dry-run=server",
                check=False,
            )
            if probe.returncode != 0:
                return True
            time.sleep(0.1)
        return False
    finally:
        kubectl.run("delete", "-f", "-", stdin=PROBE, check=False)


@pytest.fixture(scope="module")
def policies(kubectl: Kubectl) -> bool:
    """Apply deploy/access as an administrator does; whether the policies are enforced."""
    kubectl.run("apply", "-f", str(ACCESS / "roles.yaml"))
    if not _enforces_policies(kubectl):
        return False
    kubectl.run("apply", "-f", str(ACCESS / "policies.yaml"))
    return True


def _workspace(org: str, name: str, owner: str, team: str | None = None) -> str:
    team_line = f"\n  team: {team}" if team else ""
    return f"""
apiVersion: wws.dev/v1alpha1
kind: Workspace
metadata: {{name: {name}, namespace: {org}}}
spec:
  owner: {owner}{team_line}
  running: false
"""


@pytest.fixture(scope="module")
def acme(kubectl: Kubectl, controller: object, policies: bool) -> Iterator[str]:
    name = unique("acme")
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {name}}}
spec:
  members:
  - {{user: alice, role: owner}}
  - {{user: olga, role: admin}}
  - {{user: mia}}
  - {{user: tom}}
  - {{user: tina}}
  - {{user: sam}}
""",
    )
    eventually(
        lambda: kubectl.run("get", "namespace", name, check=False).returncode == 0,
        "the namespace",
    )
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: platform, namespace: {name}}}
spec:
  members: [{{user: tom}}, {{user: tina, role: maintainer}}, {{user: sam}}]
""",
    )
    manifests = [_workspace(name, f"own-{login}", login) for login in PEOPLE]
    manifests += [
        _workspace(name, "shared", "sam", team="platform"),
        _workspace(name, "other", "sam"),
    ]
    apply(kubectl, "---".join(manifests))
    # the rules are in place once the maintainer may open the shared workspace
    eventually(
        lambda: _can(kubectl, name, "tina", "create", "workspaces/shared", "--subresource=connect"),
        "the access rules",
    )
    yield name
    kubectl.run("delete", "organization", name, "--timeout=30s", check=False)


def _can(kubectl: Kubectl, namespace: str, login: str, *args: str) -> bool:
    result = kubectl.run(
        "auth", "can-i", *args, "-n", namespace, "--as", f"github:{login}", check=False
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), (args, result.stdout, result.stderr)
    return answer == "yes"


def _can_cluster(kubectl: Kubectl, login: str, *args: str) -> bool:
    result = kubectl.run("auth", "can-i", *args, "--as", f"github:{login}", check=False)
    return result.stdout.strip() == "yes"


def _write(kubectl: Kubectl, login: str, *args: str, stdin: str | None = None) -> bool:
    """A real write as ``login`` (not stored): allowed or denied (and then denied how)."""
    result = kubectl.run(
        *args, "--dry-run=server", "--as", f"github:{login}", stdin=stdin, check=False
    )
    if result.returncode == 0:
        return True
    assert "forbidden" in result.stderr.lower() or "denied" in result.stderr.lower(), (
        args,
        result.stderr,
    )
    return False


# Which workspace is "own", "team-shared", "others'" for each person.
def _targets(login: str) -> dict[str, str]:
    return {"own": f"own-{login}", "team": "shared", "others": "other"}


EVERYTHING = {"own", "team", "others"}
WORKSPACE_RIGHTS: dict[str, dict[str, set[str]]] = {
    # role → verb → the targets it may act on
    "owner": {v: EVERYTHING for v in ("get", "create", "update", "delete", "startstop", "connect")},
    "admin": {v: EVERYTHING for v in ("get", "create", "update", "delete", "startstop", "connect")},
    "member": {
        "get": EVERYTHING,
        "create": {"own"},
        "update": {"own"},
        "delete": {"own"},
        "startstop": {"own"},
        "connect": {"own"},
    },
    "team member": {
        "get": EVERYTHING,
        "create": {"own", "team"},
        "update": {"own"},
        "delete": {"own"},
        "startstop": {"own", "team"},
        "connect": {"own", "team"},
    },
    "team maintainer": {
        "get": EVERYTHING,
        "create": {"own", "team"},
        "update": {"own", "team"},
        "delete": {"own", "team"},
        "startstop": {"own", "team"},
        "connect": {"own", "team"},
    },
    "outsider": {v: set() for v in ("get", "create", "update", "delete", "startstop", "connect")},
}


def _new_workspace(org: str, login: str, target: str) -> str:
    owner = "sam" if target == "others" else login
    return _workspace(
        org, f"new-{login}-{target}", owner, team="platform" if target == "team" else None
    )


def _cell(kubectl: Kubectl, org: str, login: str, verb: str, target: str) -> bool:
    name = _targets(login)[target]
    if verb == "get":
        via_rbac = _can(kubectl, org, login, "get", f"workspaces/{name}")
        real = kubectl.run(
            "-n", org, "get", "workspace", name, "--as", f"github:{login}", check=False
        )
        assert via_rbac == (real.returncode == 0), (login, verb, target, real.stderr)
        return via_rbac
    if verb == "connect":
        return _can(kubectl, org, login, "create", f"workspaces/{name}", "--subresource=connect")
    if verb == "create":
        return _write(kubectl, login, "create", "-f", "-", stdin=_new_workspace(org, login, target))
    if verb == "update":
        patch = json.dumps({"spec": {"shell": "zsh" if login < "n" else "fish"}})
        return _write(
            kubectl, login, "-n", org, "patch", "workspace", name, "--type=merge", "-p", patch
        )
    if verb == "startstop":
        patch = json.dumps({"spec": {"running": True}})
        return _write(
            kubectl, login, "-n", org, "patch", "workspace", name, "--type=merge", "-p", patch
        )
    if verb == "delete":
        return _write(kubectl, login, "-n", org, "delete", "workspace", name)
    raise AssertionError(verb)


def test_workspace_matrix(kubectl: Kubectl, acme: str, policies: bool) -> None:
    if not policies:
        pytest.skip("the API server does not enforce ValidatingAdmissionPolicies")
    wrong: list[str] = []
    for login in PEOPLE:
        rights = WORKSPACE_RIGHTS[ROLE[login]]
        for verb, allowed in rights.items():
            for target in ("own", "team", "others"):
                got = _cell(kubectl, acme, login, verb, target)
                if got != (target in allowed):
                    wrong.append(f"{login} ({ROLE[login]}) {verb} {target}: got {got}")
        can_list = _can(kubectl, acme, login, "list", "workspaces")
        if can_list != (ROLE[login] != "outsider"):
            wrong.append(f"{login} list: got {can_list}")
    assert wrong == [], "\n".join(wrong)
    # finalizers are the controller's (and admins'): nobody else adds or removes one
    finalizer = json.dumps({"metadata": {"finalizers": ["example.com/keep"]}})
    for login, may in (("alice", True), ("mia", False), ("tina", False)):
        workspace = "own-mia" if login == "mia" else "shared"
        done = _write(
            kubectl,
            login,
            "-n",
            acme,
            "patch",
            "workspace",
            workspace,
            "--type=merge",
            "-p",
            finalizer,
        )
        assert done == may, login
    # a team member starts a team workspace but cannot relabel it
    relabel = json.dumps({"metadata": {"labels": {"x": "y"}}, "spec": {"running": True}})
    assert not _write(
        kubectl, "tom", "-n", acme, "patch", "workspace", "shared", "--type=merge", "-p", relabel
    )


OBJECT_RIGHTS: dict[str, set[str]] = {
    # "what" → the roles allowed
    "get organization": {"owner", "admin", "member", "team member", "team maintainer"},
    "update organization": {"owner"},
    "delete organization": {"owner"},
    "list teams": {"owner", "admin", "member", "team member", "team maintainer"},
    "get team": {"owner", "admin", "member", "team member", "team maintainer"},
    "update team": {"owner", "admin", "team maintainer"},
    "create teams": {"owner", "admin"},
    "delete team": {"owner", "admin"},
    "list invitations": {"owner", "admin"},
    "create invitations": {"owner", "admin"},
    "delete invitations": {"owner", "admin"},
    "list organizations": set(),
}


def _object_cell(kubectl: Kubectl, org: str, login: str, what: str) -> bool:
    verb, kind = what.split()
    if kind == "organization":
        return _can_cluster(kubectl, login, verb, f"organizations/{org}")
    if kind == "organizations":
        return _can_cluster(kubectl, login, verb, "organizations")
    if kind == "team":
        return _can(kubectl, org, login, verb, "teams/platform")
    return _can(kubectl, org, login, verb, kind)


def test_organization_team_and_invitation_matrix(kubectl: Kubectl, acme: str) -> None:
    wrong = [
        f"{login} ({ROLE[login]}) {what}: got {got}"
        for login in PEOPLE
        for what, roles in OBJECT_RIGHTS.items()
        if (got := _object_cell(kubectl, acme, login, what)) != (ROLE[login] in roles)
    ]
    assert wrong == [], "\n".join(wrong)
    # real requests agree with can-i
    assert (
        kubectl.run("get", "organization", acme, "--as", "github:mia", check=False).returncode == 0
    )
    denied = kubectl.run("get", "organization", acme, "--as", "github:oscar", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    assert (
        kubectl.run("-n", acme, "get", "workspaces", "--as", "github:oscar", check=False).returncode
        != 0
    )


def _wait_can(kubectl: Kubectl, org: str, login: str, want: bool, *args: str) -> None:
    """Until RBAC answers ``want``. NB: how fast (the 2 s target) is measured by
    ``benchmarks/access.py``, not here: a loaded test machine must not fail a timing."""
    eventually(
        lambda: _can(kubectl, org, login, *args) == want,
        f"{login} {'can' if want else 'cannot'} {' '.join(args)}",
        timeout=15,
    )


def test_membership_changes_change_the_matrix_within_two_seconds(
    kubectl: Kubectl, acme: str
) -> None:
    # YAML edit: mia leaves the organization: every binding naming her goes.
    organization = get(kubectl, "organization", acme)
    members = [m for m in organization["spec"]["members"] if m["user"] != "mia"]
    kubectl.run(
        "patch",
        "organization",
        acme,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"members": members}}),
    )
    _wait_can(kubectl, acme, "mia", False, "get", "workspaces")
    assert not _can(kubectl, acme, "mia", "create", "workspaces/own-mia", "--subresource=connect")
    everything = kubectl.out("get", "rolebindings,clusterrolebindings", "-A", "-o", "json")
    assert "github:mia" not in everything

    # An invitation accepted: mia is back, through it.
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Invitation
metadata: {{name: mia, namespace: {acme}}}
spec: {{invitee: mia, teams: [{{name: platform}}]}}
""",
    )
    eventually(
        lambda: (
            get(kubectl, "-n", acme, "invitation", "mia").get("status", {}).get("phase")
            == "Pending"
        ),
        "the pending invitation",
    )
    kubectl.run(
        "-n",
        acme,
        "patch",
        "invitation",
        "mia",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"acceptedBy": "github:mia"}}',
        "--as",
        "github:mia",
    )
    _wait_can(kubectl, acme, "mia", True, "create", "workspaces/shared", "--subresource=connect")

    # The invitation deleted: access taken back.
    kubectl.run("-n", acme, "delete", "invitation", "mia")
    _wait_can(kubectl, acme, "mia", False, "get", "workspaces")


def test_github_team_change_changes_the_matrix(
    kubectl: Kubectl, acme: str, github: DevGitHub
) -> None:
    token = base64.b64encode(ALICE_TOKEN.encode()).decode()
    apply(
        kubectl,
        f"""
apiVersion: v1
kind: Secret
metadata: {{name: github-token, namespace: {acme}}}
data: {{token: {token}}}
""",
    )
    kubectl.run(
        "patch",
        "organization",
        acme,
        "--type=merge",
        "-p",
        json.dumps(
            {
                "spec": {
                    "github": {
                        "org": "acme",
                        "apiURL": github.url,
                        "tokenSecretRef": {"name": "github-token"},
                        "syncInterval": "1s",
                    }
                }
            }
        ),
    )
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: web, namespace: {acme}}}
spec: {{githubTeam: acme/web}}
""",
    )
    # dave: a member of the GitHub organization and of its team web
    _wait_can(kubectl, acme, "dave", True, "use", "teams/web")
    github.remove_team_member("acme", "web", "dave")
    _wait_can(kubectl, acme, "dave", False, "use", "teams/web")
    github.remove_org_member("acme", "dave")
    _wait_can(kubectl, acme, "dave", False, "get", "workspaces")


def test_deleting_the_organization_leaves_nothing_behind(
    kubectl: Kubectl, controller: object, policies: bool
) -> None:
    name = unique("gone")
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Organization
metadata: {{name: {name}}}
spec: {{members: [{{user: alice, role: owner}}, {{user: bob}}]}}
""",
    )
    eventually(lambda: kubectl.run("get", "namespace", name, check=False).returncode == 0, "ns")
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: t, namespace: {name}}}
spec: {{members: [{{user: bob}}]}}
""",
    )
    selector = f"wws.dev/organization={name}"
    kinds = "roles,rolebindings,clusterroles,clusterrolebindings"
    eventually(
        lambda: (
            len(json.loads(kubectl.out("get", kinds, "-A", "-l", selector, "-o", "json"))["items"])
            >= 8
        ),
        "the organization's RBAC objects",
    )
    kubectl.run("delete", "organization", name)
    eventually(
        lambda: (
            json.loads(kubectl.out("get", kinds, "-A", "-l", selector, "-o", "json"))["items"] == []
        ),
        "nothing left",
        timeout=5,
    )
    assert not _can(kubectl, name, "bob", "get", "workspaces")


# --- accepting invitations as oneself -----------------------------------------------------------


def _accept_as(
    store: StoreProcess, org: str, name: str, login: str, emails: list[str], accepted_by: str
) -> tuple[int, str]:
    """PATCH the invitation's status as ``github:<login>`` with verified ``emails``, the way
    the web UI calls the API for a person (impersonation with the e-mails as extra)."""
    headers = {
        "Authorization": f"Bearer {store.token}",
        "Content-Type": "application/merge-patch+json",
        "Impersonate-User": f"github:{login}",
        "Impersonate-Group": "system:authenticated",
    }
    request = urllib.request.Request(
        f"{store.url}/apis/wws.dev/v1alpha1/namespaces/{org}/invitations/{name}/status",
        data=json.dumps({"status": {"acceptedBy": accepted_by}}).encode(),
        method="PATCH",
        headers=headers,
    )
    for email in emails:
        request.add_header("Impersonate-Extra-wws.dev%2Femails", email)
    try:
        with urllib.request.urlopen(request, context=store.ssl_context(), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _invitation(kubectl: Kubectl, org: str, name: str, spec: str) -> None:
    apply(
        kubectl,
        f"""
apiVersion: wws.dev/v1alpha1
kind: Invitation
metadata: {{name: {name}, namespace: {org}}}
spec: {spec}
""",
    )
    eventually(
        lambda: get(kubectl, "-n", org, "invitation", name).get("status", {}).get("phase"),
        f"invitation {name} looked at",
    )


def test_only_the_invitee_accepts_by_login(
    kubectl: Kubectl, store: StoreProcess, acme: str, policies: bool
) -> None:
    if not policies:
        pytest.skip("the API server does not enforce ValidatingAdmissionPolicies")
    _invitation(kubectl, acme, "oscar", "{invitee: oscar}")
    patch = '{"status": {"acceptedBy": "github:mallory"}}'
    wrong = kubectl.run(
        "-n",
        acme,
        "patch",
        "invitation",
        "oscar",
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
        "--as",
        "github:mallory",
        check=False,
    )
    assert wrong.returncode != 0
    # mallory may not even read it; with the raw PATCH she meets the policy
    status, body = _accept_as(store, acme, "oscar", "mallory", [], "github:mallory")
    assert status == 403 and "not addressed to you" in body, body
    # nobody accepts for somebody else, not even an owner
    status, body = _accept_as(store, acme, "oscar", "alice", [], "github:oscar")
    assert status == 403 and "their own user name" in body, body
    status, body = _accept_as(store, acme, "oscar", "oscar", [], "github:mallory")
    assert status == 403, body
    assert "acceptedBy" not in get(kubectl, "-n", acme, "invitation", "oscar")["status"]

    kubectl.run(
        "-n",
        acme,
        "patch",
        "invitation",
        "oscar",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"acceptedBy": "github:oscar"}}',
        "--as",
        "github:oscar",
    )
    _wait_can(kubectl, acme, "oscar", True, "get", "workspaces")

    # the audit log shows the acceptance as oscar's
    def accepted() -> list[dict[str, Any]]:
        return [
            event
            for event in audit_events(store)
            if event.get("stage") == "ResponseComplete"
            and event.get("objectRef", {}).get("resource") == "invitations"
            and event.get("objectRef", {}).get("subresource") == "status"
            and event.get("objectRef", {}).get("name") == "oscar"
            and event.get("responseStatus", {}).get("code") == 200
            and event.get("verb") == "patch"
            and event.get("user", {}).get("username") != "wws:controller"
        ]

    events = eventually(accepted, "the acceptance in the audit log")
    assert [e["impersonatedUser"]["username"] for e in events] == ["github:oscar"]
    assert events[0]["requestObject"] == {"status": {"acceptedBy": "github:oscar"}}
    # once accepted, it cannot be taken over
    status, _ = _accept_as(store, acme, "oscar", "oscar", [], "github:mallory")
    assert status == 403
    kubectl.run("-n", acme, "delete", "invitation", "oscar")
    _wait_can(kubectl, acme, "oscar", False, "get", "workspaces")


def test_an_invitation_by_email_is_accepted_with_a_verified_address(
    kubectl: Kubectl, store: StoreProcess, acme: str, policies: bool
) -> None:
    if not policies:
        pytest.skip("the API server does not enforce ValidatingAdmissionPolicies")
    _invitation(kubectl, acme, "by-mail", "{invitee: Erin@Example.com, role: admin}")
    status, body = _accept_as(
        store, acme, "by-mail", "mallory", ["mallory@evil.example"], "github:mallory"
    )
    assert status == 403 and "not addressed to you" in body, body
    status, body = _accept_as(
        store, acme, "by-mail", "erin", ["erin@old.example", "erin@example.com"], "github:erin"
    )
    assert status == 200, body
    _wait_can(kubectl, acme, "erin", True, "manage", "workspaces")
    kubectl.run("-n", acme, "delete", "invitation", "by-mail")
    _wait_can(kubectl, acme, "erin", False, "get", "workspaces")


def test_an_expired_invitation_cannot_be_accepted(
    kubectl: Kubectl, store: StoreProcess, acme: str, policies: bool
) -> None:
    if not policies:
        pytest.skip("the API server does not enforce ValidatingAdmissionPolicies")
    _invitation(kubectl, acme, "late", "{invitee: oscar, expiresAfter: 1s}")
    eventually(
        lambda: get(kubectl, "-n", acme, "invitation", "late")["status"].get("phase") == "Expired",
        "the expiry",
        timeout=10,
    )
    status, body = _accept_as(store, acme, "late", "oscar", [], "github:oscar")
    assert status == 403 and "expired" in body, body
    assert not _can(kubectl, acme, "oscar", "get", "workspaces")
