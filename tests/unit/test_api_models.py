"""The pydantic models of api/: what they accept, what they refuse and how they say so."""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Annotated, Any

import pydantic
import pytest

from api import (
    formats,
    invitation,
    languages,
    meta,
    organization,
    resources,
    team,
    units,
    workspace,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0123456789abcdefABCDEF alice@laptop"


def _error(model: type[pydantic.BaseModel], data: dict[str, Any]) -> pydantic.ValidationError:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(data)
    return caught.value


def test_workspace_defaults_are_what_users_expect() -> None:
    spec = workspace.WorkspaceSpec.model_validate({"owner": "alice"})
    assert spec.provider == "podman"
    assert spec.running is True
    assert spec.image == "localhost/wws/workspace:bookworm"
    assert spec.shell == "zsh"
    assert (spec.resources.cpu, spec.resources.memory, spec.resources.disk) == ("2", "4Gi", "20Gi")
    assert spec.home.size == "10Gi"
    assert spec.home.retention is None
    assert spec.editors.code_server is True
    assert spec.editors.ssh is True
    assert spec.idle.timeout == "30m"
    assert spec.ssh.publish_address == "127.0.0.1"
    assert spec.dotfiles is None
    assert spec.bootstrap is None
    assert spec.github is None
    assert spec.languages == []


def test_workspace_full_spec_in_camel_case_round_trips() -> None:
    body = {
        "owner": "alice",
        "team": "platform",
        "provider": "kvm",
        "running": False,
        "image": "registry.example.com:5000/team/image:1.2",
        "resources": {"cpu": "500m", "memory": "1.5Gi", "disk": "40Gi"},
        "home": {"size": "20Gi", "retention": "168h"},
        "shell": "fish",
        "git": {"userName": "Alice Liddell", "userEmail": "alice@example.com"},
        "github": {"tokenSecretRef": {"name": "alice-github", "key": "token"}},
        "ssh": {"authorizedKeys": [KEY], "publishAddress": "0.0.0.0", "hostPort": 42022},
        "dotfiles": {"repo": "https://github.com/alice/dotfiles", "timeout": "2m"},
        "bootstrap": {"script": "make setup", "timeout": "1h30m"},
        "languages": [{"name": "python", "version": "3.11"}, {"name": "go"}],
        "editors": {"codeServer": False, "ssh": True},
        "idle": {"timeout": "0"},
        "ports": [{"name": "web", "port": 8000, "protocol": "http"}],
    }
    spec = workspace.WorkspaceSpec.model_validate(body)
    assert spec.github is not None
    assert spec.github.token_secret_ref.name == "alice-github"
    assert spec.ssh.authorized_keys == [KEY]
    assert spec.to_dict() == body


def test_snake_case_names_are_accepted_too() -> None:
    spec = workspace.WorkspaceSpec(owner="alice", editors=workspace.Editors(code_server=False))
    assert spec.to_dict()["editors"] == {"codeServer": False, "ssh": True}


def test_whole_object_from_the_api_server_parses_and_keeps_metadata() -> None:
    obj = {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {
            "name": "alice-api",
            "namespace": "acme",
            "uid": "6d1c1f0e-0000-4000-8000-000000000000",
            "generation": 3,
            "resourceVersion": "42",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "annotations": {workspace.RESTARTED_AT_ANNOTATION: "2024-05-01T11:00:00Z"},
            "finalizers": ["wws.dev/container"],
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"owner": "alice"},
        "status": {
            "phase": "Running",
            "observedGeneration": 3,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Running",
                    "message": "",
                    "lastTransitionTime": "2024-05-01T10:00:05Z",
                    "observedGeneration": 3,
                }
            ],
            "endpoints": {"codeServer": "/w/acme/alice-api/", "ssh": "ssh -p 42022 alice@host"},
            "lastActivityTime": "2024-05-01T10:30:00Z",
            "someFieldOfANewerController": True,
        },
    }
    ws = workspace.Workspace.model_validate(obj)
    assert ws.metadata.name == "alice-api"
    assert ws.metadata.generation == 3
    assert ws.metadata.annotations[workspace.RESTARTED_AT_ANNOTATION] == "2024-05-01T11:00:00Z"
    assert ws.status.phase is workspace.Phase.RUNNING
    ready = meta.find_condition(ws.status.conditions, meta.READY)
    assert ready is not None
    assert ready.status is meta.ConditionStatus.TRUE
    assert ready.last_transition_time == datetime.datetime(
        2024, 5, 1, 10, 0, 5, tzinfo=datetime.UTC
    )
    assert meta.find_condition(ws.status.conditions, "HomeReady") is None
    assert ws.status.endpoints.code_server == "/w/acme/alice-api/"
    dumped = ws.to_dict()
    assert dumped["metadata"]["managedFields"] == [{"manager": "kubectl"}]
    assert dumped["status"]["conditions"][0]["lastTransitionTime"] == "2024-05-01T10:00:05Z"
    assert workspace.WorkspaceSpec.model_validate(obj["spec"]) == ws.spec


def test_status_is_optional_and_defaults_to_empty() -> None:
    ws = workspace.Workspace.model_validate({"metadata": {"name": "x"}, "spec": {"owner": "bob"}})
    assert ws.kind == "Workspace"
    assert ws.api_version == "wws.dev/v1alpha1"
    assert ws.status.phase is None
    assert ws.status.conditions == []


def test_organization_and_team_parse_with_defaults() -> None:
    org = organization.Organization.model_validate({"metadata": {"name": "acme"}})
    assert org.spec.policy.providers == ["podman", "kvm"]
    assert org.spec.members == []
    member = organization.OrganizationMember(user="bob")
    assert member.role == "member"
    t = team.Team.model_validate(
        {
            "metadata": {"name": "platform", "namespace": "acme"},
            "spec": {"githubTeam": "acme/platform"},
        }
    )
    assert t.spec.github_team == "acme/platform"
    assert team.TeamMember(user="bob").role == "member"


def test_invitation_defaults_and_kinds_of_invitee() -> None:
    by_login = invitation.Invitation.model_validate(
        {"metadata": {"name": "carol", "namespace": "acme"}, "spec": {"invitee": "carol"}}
    )
    assert by_login.spec.role == "member" and by_login.spec.expires_after == "7d"
    assert not by_login.spec.by_email and by_login.spec.teams == []
    by_email = invitation.InvitationSpec(invitee="carol@example.com", expires_after="12h")
    assert by_email.by_email
    assert meta.user_name("Carol") == "github:carol"


def test_resources_lists_every_kind() -> None:
    assert [model.RESOURCE.kind for model in resources.ALL] == [
        "Organization",
        "Team",
        "Workspace",
        "Invitation",
    ]
    assert resources.by_kind("Workspace") is workspace.Workspace
    assert workspace.Workspace.RESOURCE.short_names == ("ws",)
    assert organization.Organization.RESOURCE.namespaced is False


# -- refusals: each names the field ------------------------------------------------------------

WORKSPACE_REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({}, "owner", "required"),
    ({"owner": "-alice"}, "owner", "GitHub login"),
    ({"owner": "alice-"}, "owner", "GitHub login"),
    ({"owner": "al--ice"}, "owner", "GitHub login"),
    ({"owner": "al_ice"}, "owner", "GitHub login"),
    ({"owner": "a" * 40}, "owner", "39"),
    ({"owner": "alice", "team": "Platform"}, "team", "DNS-1123"),
    ({"owner": "alice", "team": "plat.form"}, "team", "DNS-1123"),
    ({"owner": "alice", "team": "a" * 64}, "team", "63"),
    ({"owner": "alice", "provider": "docker"}, "provider", "podman"),
    ({"owner": "alice", "shell": "tcsh"}, "shell", "zsh"),
    ({"owner": "alice", "running": "perhaps"}, "running", "bool"),
    ({"owner": "alice", "image": "Not An Image"}, "image", "image reference"),
    ({"owner": "alice", "image": "debian:"}, "image", "image reference"),
    ({"owner": "alice", "resources": {"cpu": 2.5}}, "resources.cpu", "quote"),
    ({"owner": "alice", "resources": {"cpu": "two"}}, "resources.cpu", "quantity"),
    ({"owner": "alice", "resources": {"memory": "4GB"}}, "resources.memory", "quantity"),
    ({"owner": "alice", "resources": {"disk": "-1Gi"}}, "resources.disk", "quantity"),
    ({"owner": "alice", "home": {"size": "10 Gi"}}, "home.size", "quantity"),
    ({"owner": "alice", "home": {"retention": "7 days"}}, "home.retention", "duration"),
    ({"owner": "alice", "idle": {"timeout": "1.5h"}}, "idle.timeout", "duration"),
    ({"owner": "alice", "idle": {"timeout": "30m1h"}}, "idle.timeout", "duration"),
    ({"owner": "alice", "idle": {"timeout": ""}}, "idle.timeout", "duration"),
    ({"owner": "alice", "languages": [{"name": "ruby"}]}, "languages.0.name", "go, node, python"),
    (
        {"owner": "alice", "languages": [{"name": "python", "version": "2.7"}]},
        "languages.0.version",
        "known versions: 3.11",
    ),
    (
        {"owner": "alice", "languages": [{"name": "python", "version": 3.11}]},
        "languages.0.version",
        "quote",
    ),
    ({"owner": "alice", "languages": [{"name": "go"}, {"name": "go"}]}, "languages", "'go'"),
    ({"owner": "alice", "dotfiles": {"repo": "not a url"}}, "dotfiles.repo", "repository"),
    ({"owner": "alice", "dotfiles": {}}, "dotfiles.repo", "required"),
    ({"owner": "alice", "bootstrap": {"script": ""}}, "bootstrap.script", "at least 1"),
    ({"owner": "alice", "github": {"tokenSecretRef": {"name": "Bad_Name"}}}, "name", "subdomain"),
    ({"owner": "alice", "github": {"tokenSecretRef": {"name": "s", "key": "a/b"}}}, "key", "key"),
    ({"owner": "alice", "git": {"userEmail": "not-an-email"}}, "git.userEmail", "e-mail"),
    ({"owner": "alice", "git": {"userName": "a\nb"}}, "git.userName", "git user name"),
    ({"owner": "alice", "ssh": {"authorizedKeys": ["hunter2"]}}, "ssh.authorizedKeys.0", "OpenSSH"),
    ({"owner": "alice", "ssh": {"publishAddress": "localhost"}}, "ssh.publishAddress", "IP"),
    ({"owner": "alice", "ssh": {"publishAddress": "999.1.1.1"}}, "ssh.publishAddress", "IP"),
    ({"owner": "alice", "ssh": {"hostPort": 70000}}, "ssh.hostPort", "65535"),
    ({"owner": "alice", "ports": [{"name": "web", "port": 0}]}, "ports.0.port", "1"),
    (
        {"owner": "alice", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]},
        "ports",
        "80",
    ),
    ({"owner": "alice", "runing": True}, "runing", "Extra inputs"),
    ({"owner": "alice", "editors": {"vim": True}}, "editors.vim", "Extra inputs"),
]


@pytest.mark.parametrize(("data", "field", "words"), WORKSPACE_REFUSALS)
def test_workspace_spec_refuses_with_the_field_named(
    data: dict[str, Any], field: str, words: str
) -> None:
    error = _error(workspace.WorkspaceSpec, data)
    text = str(error)
    locations = [".".join(str(part) for part in detail["loc"]) for detail in error.errors()]
    assert any(location.endswith(field) for location in locations), (field, text)
    assert words in text, text


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (organization.OrganizationSpec, {"members": [{"user": "-x"}]}, "members.0.user"),
        (
            organization.OrganizationSpec,
            {"members": [{"user": "a", "role": "god"}]},
            "members.0.role",
        ),
        (organization.OrganizationSpec, {"members": [{"user": "a"}, {"user": "a"}]}, "members"),
        (organization.OrganizationSpec, {"github": {"org": "acme inc"}}, "github.org"),
        (
            organization.OrganizationSpec,
            {"policy": {"providers": ["docker"]}},
            "policy.providers.0",
        ),
        (
            organization.OrganizationSpec,
            {"policy": {"maxRunningWorkspacesPerUser": -1}},
            "policy.maxRunningWorkspacesPerUser",
        ),
        (
            organization.OrganizationSpec,
            {"policy": {"maxIdleTimeout": "8 hours"}},
            "policy.maxIdleTimeout",
        ),
        (organization.OrganizationSpec, {"policy": {"quota": {"cpu": "lots"}}}, "policy.quota.cpu"),
        (team.TeamSpec, {"githubTeam": "platform"}, "githubTeam"),
        (team.TeamSpec, {"members": [{"user": "bob", "role": "owner"}]}, "members.0.role"),
        (team.TeamSpec, {"quota": {"maxWorkspaces": -1}}, "quota.maxWorkspaces"),
        (team.TeamSpec, {"quota": {"memory": "32 GiB"}}, "quota.memory"),
        (invitation.InvitationSpec, {"invitee": "not a login"}, "invitee"),
        (invitation.InvitationSpec, {"invitee": "a", "role": "boss"}, "role"),
        (invitation.InvitationSpec, {"invitee": "a", "teams": [{"name": "A"}]}, "teams.0.name"),
        (
            invitation.InvitationSpec,
            {"invitee": "a", "teams": [{"name": "x", "role": "owner"}]},
            "teams.0.role",
        ),
        (invitation.InvitationSpec, {"invitee": "a", "expiresAfter": "0"}, "expiresAfter"),
        (invitation.InvitationSpec, {"invitee": "a", "expiresAfter": "1w"}, "expiresAfter"),
        (
            organization.OrganizationSpec,
            {"github": {"org": "acme", "apiURL": "github.example"}},
            "github.apiURL",
        ),
    ],
)
def test_organization_and_team_refuse_with_the_field_named(
    model: type[pydantic.BaseModel], data: dict[str, Any], field: str
) -> None:
    error = _error(model, data)
    locations = [".".join(str(part) for part in detail["loc"]) for detail in error.errors()]
    assert any(location.startswith(field) for location in locations), str(error)


def test_condition_refuses_a_bad_status_and_reason() -> None:
    base = {
        "type": "Ready",
        "status": "True",
        "reason": "Running",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }
    meta.Condition.model_validate(base)
    assert "status" in str(_error(meta.Condition, {**base, "status": "yes"}))
    assert "reason" in str(_error(meta.Condition, {**base, "reason": "not one word"}))


# -- formats: accepted and refused values, and RE2-style semantics of the same pattern --------

FORMAT_CASES: dict[str, tuple[formats.StringFormat, list[str], list[str]]] = {
    "github login": (
        formats.GITHUB_LOGIN,
        ["a", "alice", "Alice-B", "a1-b2-c3", "a" * 39],
        ["", "-a", "a-", "a--b", "a_b", "a.b", "a" * 40, "al ice"],
    ),
    "dns label": (
        formats.DNS_LABEL,
        ["a", "platform", "alice-api", "0abc", "a" * 63],
        ["", "A", "-a", "a-", "a.b", "a_b", "a" * 64],
    ),
    "dns subdomain": (
        formats.DNS_SUBDOMAIN,
        ["a", "github-token", "a.b.c", "a" * 63 + "." + "b" * 63],
        ["", "A", "a..b", ".a", "a.", "a_b"],
    ),
    "quantity": (
        formats.QUANTITY,
        ["2", "500m", "0.5", ".5", "4Gi", "1.5Gi", "64Gi", "1Ti", "100M", "1e3", "20E"],
        ["", "Gi", "4GB", "4gi", "-1", "+1", "4 Gi", "2cpu", "1.2.3"],
    ),
    "duration": (
        formats.DURATION,
        ["0", "30m", "8h", "1h30m", "90s", "7d", "1d12h", "0s", "120s"],
        ["", "1.5h", "30", "m", "30m1h", "-5m", "1w", "30 m", "5ms"],
    ),
    "image": (
        formats.IMAGE,
        [
            "localhost/wws/workspace:bookworm",
            "debian",
            "debian:bookworm",
            "docker.io/library/debian:12",
            "registry:5000/a/b_c/d-e:v1.2",
            "quay.io/org/img@sha256:" + "a" * 64,
            "img:tag@sha256:" + "0" * 64,
        ],
        ["", "Debian", "a b", "debian:", ":tag", "a//b", "-a/b", "a/b:" + "t" * 129],
    ),
    "ip": (
        formats.IP_ADDRESS,
        ["127.0.0.1", "0.0.0.0", "10.1.2.3", "::1", "::", "fe80::1"],
        ["", "localhost", "256.0.0.1", "1.2.3", "1.2.3.4.5", ":::1:::", "1:2"],
    ),
    "ssh key": (
        formats.SSH_PUBLIC_KEY,
        [
            KEY,
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==",
            "ecdsa-sha2-nistp256 AAAAE2VjZHNh bob@host",
            "sk-ssh-ed25519@openssh.com AAAAGnNr",
            "ssh-ed25519-cert-v01@openssh.com AAAAIHNz",
        ],
        ["", "hunter2", "ssh-ed25519", "ssh-ed25519 !!!!", "rsa AAAA", KEY + "\nssh-rsa AAAA"],
    ),
    "repository": (
        formats.GIT_REPOSITORY,
        [
            "https://github.com/alice/dotfiles",
            "http://127.0.0.1:8080/dotfiles.git",
            "ssh://git@github.com/alice/dotfiles.git",
            "git@github.com:alice/dotfiles.git",
        ],
        ["", "alice/dotfiles", "ftp://x/y", "https://a b", "file:///tmp/x"],
    ),
    "github team": (
        formats.GITHUB_TEAM,
        ["acme/platform", "a-b/team_1.x"],
        ["acme", "/x", "acme/", "a--b/x"],
    ),
    "email": (
        formats.EMAIL,
        ["a@b", "alice@example.com", "1+a@users.noreply.github.com"],
        ["a", "a@", "@b", "a b@c"],
    ),
    "http url": (
        formats.HTTP_URL,
        ["https://api.github.com", "http://127.0.0.1:8090/api/v3", "https://h/api/v3/"],
        ["", "api.github.com", "ftp://x", "https://a b", "https://x/?q"],
    ),
    "invitee": (
        formats.INVITEE,
        ["alice", "Alice-B", "alice@example.com", "1+a@users.noreply.github.com"],
        ["", "-a", "a--b", "a b", "a@", "@b", "a@b@c"],
    ),
    "secret key": (formats.SECRET_KEY, ["token", ".dot", "a-b_c.d"], ["", "a/b", "a b"]),
    "condition type": (
        formats.CONDITION_TYPE,
        ["Ready", "HomeReady", "wws.dev/Custom"],
        ["", "Not Ready", "-x"],
    ),
    "reason": (
        formats.REASON,
        ["Running", "ImageNotFound", "A", "a_b:c"],
        ["", "1x", "two words", "x,"],
    ),
    "language version": (
        formats.LANGUAGE_VERSION,
        ["3.11", "20", "1.80.0", "stable"],
        ["", ".1", "3 11", "a" * 33],
    ),
}


def _rust_regex_matches(pattern: str, value: str) -> bool:
    """Does pydantic-core's Rust ``regex`` (RE2 semantics: no lookaround) match ``value``?"""
    adapter: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(
        Annotated[str, pydantic.Field(pattern=pattern)],
        config=pydantic.ConfigDict(regex_engine="rust-regex"),
    )
    try:
        adapter.validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


@pytest.mark.parametrize("case", sorted(FORMAT_CASES))
def test_format_accepts_and_refuses(case: str) -> None:
    fmt, good, bad = FORMAT_CASES[case]
    for value in good:
        assert fmt.check(value) == value
        assert _rust_regex_matches(fmt.pattern, value), (case, value)
    for value in bad:
        with pytest.raises(ValueError):
            fmt.check(value)


def test_every_format_is_covered_and_re2_compatible() -> None:
    assert {id(fmt) for fmt, _, _ in FORMAT_CASES.values()} | {id(formats.GIT_USER_NAME)} == {
        id(fmt) for fmt in formats.ALL
    }
    for fmt in formats.ALL:
        assert fmt.pattern.startswith("^") and fmt.pattern.endswith("$"), fmt.pattern
        assert not re.search(r"\(\?[=!<]|\\[1-9]", fmt.pattern), f"not RE2: {fmt.pattern}"
        # NB: compiling under the Rust engine fails for lookaround and backreferences.
        assert _rust_regex_matches(fmt.pattern, fmt.example), fmt.example
        assert fmt.check(fmt.example) == fmt.example


def test_rust_and_python_agree_on_the_refused_values_that_fit_the_length() -> None:
    for case, (fmt, _, bad) in FORMAT_CASES.items():
        for value in bad:
            if fmt.min_length <= len(value) <= fmt.max_length and "\n" not in value:
                assert not _rust_regex_matches(fmt.pattern, value) or fmt.extra_check, (case, value)


def test_whole_number_quantities_may_be_unquoted_but_fractions_must_be_quoted() -> None:
    # As in Kubernetes: `cpu: 2` is fine (int-or-string); `cpu: 0.5` must be "0.5" or "500m".
    assert formats.QUANTITY.check(2) == "2"
    with pytest.raises(ValueError, match="quote"):
        formats.QUANTITY.check(2.5)
    with pytest.raises(ValueError, match="quote"):
        formats.QUANTITY.check(True)


# -- languages registry --------------------------------------------------------------------------


def test_language_registry_has_the_built_in_languages() -> None:
    known = languages.known()
    assert list(known) == sorted(known)
    assert {"python", "node", "go", "rust"} <= set(known)
    for name, definition in known.items():
        assert definition.name == name
        assert re.fullmatch(r"[a-z][a-z0-9]*", name)
        assert definition.default_version in (*definition.versions, None)
    assert "python (3.11)" in languages.describe_known()


def test_language_version_defaults_to_none_meaning_the_languages_default() -> None:
    language = workspace.Language(name="python")
    assert language.version is None
    assert languages.known()["python"].default_version == "3.11"


# -- units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("2", decimal.Decimal(2)),
        ("500m", decimal.Decimal("0.5")),
        ("4Gi", decimal.Decimal(4 * 2**30)),
        ("1.5Gi", decimal.Decimal(3 * 2**29)),
        ("100M", decimal.Decimal(100_000_000)),
        ("1e3", decimal.Decimal(1000)),
        (".5", decimal.Decimal("0.5")),
    ],
)
def test_parse_quantity(text: str, number: decimal.Decimal) -> None:
    assert units.parse_quantity(text) == number


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("30m", 1800), ("8h", 28800), ("1h30m", 5400), ("90s", 90), ("1d12h", 129600)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert units.parse_duration(text) == datetime.timedelta(seconds=seconds)


def test_parse_refuses_bad_values() -> None:
    with pytest.raises(ValueError):
        units.parse_quantity("4GB")
    with pytest.raises(ValueError):
        units.parse_duration("1.5h")
