"""The agent's side of a Workspace's status, without a runtime: the report merged into the
conditions, what Ready needs, stale reports, the agent's deadline, GitHubReady, endpoints
and the agent's config files."""

from __future__ import annotations

import datetime
import json
from typing import Any

from api import meta
from api.workspace import Phase, Workspace, WorkspaceStatus
from providers import agent, base
from reconcilers import workspace
from tests.unit.test_reconcile_workspace import T0, UID, cond, evolve, make, running

GOOD = {kind: ("True", "Fine", "") for kind in agent.CONDITION_TYPES}


def report(
    ws: Workspace,
    *,
    generation: int | None = None,
    at: datetime.datetime = T0,
    started: datetime.datetime = T0,
    boot: str = "boot-1",
    languages: list[dict[str, Any]] | None = None,
    **changed: tuple[str, str, str],
) -> workspace.AgentSnapshot:
    def iso(when: datetime.datetime) -> str:
        return when.isoformat().replace("+00:00", "Z")

    conds = {**GOOD, **changed}
    snapshot = workspace.agent_snapshot(
        {
            "version": 1,
            "generation": ws.metadata.generation if generation is None else generation,
            "bootId": boot,
            "startedAt": iso(started),
            "updatedAt": iso(at),
            "conditions": [
                {"type": kind, "status": s, "reason": r, "message": m}
                for kind, (s, r, m) in conds.items()
            ],
            "languages": languages or [],
        }
    )
    assert snapshot is not None
    return snapshot


def status_of(
    ws: Workspace,
    snapshot: workspace.AgentSnapshot | None,
    *,
    at: datetime.datetime = T0,
    observed: base.Observed | None = None,
    github: workspace.GitHubToken | None = None,
) -> WorkspaceStatus:
    plan = workspace.plan(ws)
    outcome = workspace.Outcome(
        observed if observed is not None else running(plan), agent=snapshot, github=github
    )
    return workspace.status_after(ws, plan, outcome, at=at)


def test_every_agent_condition_is_copied_with_the_generation_the_agent_applied() -> None:
    ws = make()
    status = status_of(ws, report(ws))
    assert cond(status, "Ready").status == "True"
    for kind in agent.CONDITION_TYPES:
        found = cond(status, kind)
        assert (found.status, found.reason, found.observed_generation) == ("True", "Fine", 1)
    assert status.agent is not None
    assert (status.agent.boot_id, status.agent.generation) == ("boot-1", 1)


def test_before_the_first_report_the_workspace_runs_but_is_not_ready() -> None:
    ws = make()
    status = status_of(ws, None, at=T0 + datetime.timedelta(seconds=5))
    assert status.phase is Phase.RUNNING  # the container runs, as a Pod's phase says
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason) == ("False", "WaitingForAgent")
    assert cond(status, "UserReady").status == "Unknown"
    assert status.message == "UserReady: waiting for the workspace agent's first report"


def test_an_agent_that_does_not_report_is_failed_after_its_deadline() -> None:
    ws = make()
    late = T0 + datetime.timedelta(minutes=2, seconds=1)
    status = status_of(ws, None, at=late)
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason) == ("False", "AgentNotReporting")
    assert "has not reported within 2m" in ready.message
    assert "agent.log" in ready.message
    assert cond(status, "SSHReady").reason == "AgentNotReporting"
    assert status.phase is Phase.FAILED
    assert status.message is not None and "not reported" in status.message

    # An agent that stops reporting (no heartbeat) is the same.
    ws = make()
    silent = status_of(ws, report(ws, at=T0), at=T0 + datetime.timedelta(minutes=3))
    assert cond(silent, "Ready").reason == "AgentNotReporting"
    assert "has not reported since" in cond(silent, "Ready").message


def test_a_report_of_an_older_generation_never_makes_the_new_one_ready() -> None:
    ws = make()
    first = status_of(ws, report(ws))
    ws = evolve(ws, first, bootstrap={"script": "make setup"})
    assert ws.metadata.generation == 2
    stale = status_of(ws, report(ws, generation=1), at=T0 + datetime.timedelta(seconds=2))
    ready = cond(stale, "Ready")
    assert (ready.status, ready.reason, ready.observed_generation) == (
        "False",
        "ApplyingChanges",
        2,
    )
    assert "applying generation 2" in ready.message
    assert cond(stale, "UserReady").observed_generation == 1
    assert stale.phase is Phase.RUNNING
    assert not workspace.agent_settled(ws, stale)

    ws = evolve(ws, stale)
    fresh = status_of(ws, report(ws), at=T0 + datetime.timedelta(seconds=3))
    assert cond(fresh, "Ready").status == "True"
    assert cond(fresh, "Ready").observed_generation == 2
    assert workspace.agent_settled(ws, fresh)


def test_a_report_of_a_previous_boot_counts_for_nothing() -> None:
    ws = make()
    restarted = T0 + datetime.timedelta(minutes=10)
    ws = evolve(ws, status_of(ws, report(ws, at=restarted), at=restarted))
    plan = workspace.plan(ws)
    observed = running(plan, started_at=restarted)
    old = report(ws, started=T0, at=restarted - datetime.timedelta(seconds=20), boot="old")
    status = status_of(ws, old, at=restarted + datetime.timedelta(seconds=1), observed=observed)
    assert cond(status, "Ready").reason == "WaitingForAgent"
    assert cond(status, "UserReady").status == "Unknown"
    assert status.agent is not None and status.agent.boot_id == "boot-1"  # kept
    # The agent of this boot starts in the same second as the container: it counts.
    this = report(ws, started=restarted, at=restarted + datetime.timedelta(seconds=1))
    observed = running(plan, started_at=restarted + datetime.timedelta(microseconds=600_000))
    status = status_of(ws, this, at=restarted + datetime.timedelta(seconds=2), observed=observed)
    assert cond(status, "Ready").status == "True"


def test_dotfiles_and_bootstrap_failures_are_reported_but_leave_the_workspace_ready() -> None:
    ws = make()
    dotfiles = (
        "False",
        "CloneFailed",
        "yadm clone failed; log: /home/alice/.wws/logs/dotfiles.log",
    )
    bootstrap = ("False", "Failed", "exit code 3; log: /home/alice/.wws/logs/bootstrap.log")
    status = status_of(ws, report(ws, DotfilesReady=dotfiles, BootstrapReady=bootstrap))
    assert cond(status, "Ready").status == "True"
    assert status.phase is Phase.RUNNING
    assert cond(status, "DotfilesReady").reason == "CloneFailed"
    assert "bootstrap.log" in cond(status, "BootstrapReady").message
    assert status.message is not None and "dotfiles.log" in status.message


def test_a_failed_language_fails_ready_but_not_the_workspace() -> None:
    ws = make({"languages": [{"name": "python"}]})
    failed = ("False", "InstallFailed", "python: apt failed; log: ~/.wws/logs/languages/python.log")
    languages = [{"name": "python", "state": "Failed", "message": "apt failed"}]
    status = status_of(ws, report(ws, LanguagesReady=failed, languages=languages))
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason) == ("False", "InstallFailed")
    assert ready.message.startswith("LanguagesReady: python: apt failed")
    assert status.languages[0].state == "Failed"
    # A settled failure of the agent is no stuck start: no StartTimeout, no Failed phase.
    ws = evolve(ws, status)
    later = T0 + datetime.timedelta(minutes=6)
    status = status_of(ws, report(ws, at=later, LanguagesReady=failed), at=later)
    assert cond(status, "Ready").reason == "InstallFailed"
    assert status.phase is Phase.RUNNING
    assert workspace.agent_settled(ws, status)


def test_work_in_progress_past_the_start_deadline_is_a_start_timeout() -> None:
    ws = make()
    installing = ("Unknown", "Installing", "python")
    status = status_of(ws, report(ws, LanguagesReady=installing))
    ws = evolve(ws, status)
    later = T0 + datetime.timedelta(minutes=6)
    status = status_of(ws, report(ws, at=later, LanguagesReady=installing), at=later)
    assert cond(status, "Ready").reason == "StartTimeout"
    assert status.phase is Phase.FAILED


def test_languages_and_their_versions_come_from_the_report() -> None:
    ws = make({"languages": [{"name": "python", "version": "3.11"}, {"name": "go"}]})
    languages = [
        {"name": "python", "state": "Installed", "version": "3.11.2", "message": ""},
        {"name": "go", "state": "Installing"},
    ]
    status = status_of(ws, report(ws, languages=languages))
    assert [(lang.name, lang.state, lang.version) for lang in status.languages] == [
        ("python", "Installed", "3.11.2"),
        ("go", "Installing", None),
    ]


def test_editors_turned_off_are_not_needed_for_ready() -> None:
    ws = make({"editors": {"codeServer": False, "ssh": False}})
    off = ("Unknown", "Whatever", "")
    status = status_of(ws, report(ws, EditorReady=off, SSHReady=off))
    assert cond(status, "Ready").status == "True"
    assert workspace.required_agent_conditions(ws.spec) == ("UserReady", "LanguagesReady")
    assert status.endpoints.code_server is None and status.endpoints.ssh is None
    assert status.endpoints.code_server_password_secret_ref is None


def test_a_stopped_workspace_says_nothing_runs_and_keeps_what_the_home_holds() -> None:
    ws = make()
    dotfiles = ("False", "CloneFailed", "log: x")
    status = status_of(ws, report(ws, DotfilesReady=dotfiles))
    ws = evolve(ws, status, running=False)
    stopped = base.Observed(state=base.State.STOPPED, home_exists=True)
    status = status_of(ws, None, observed=stopped)
    assert cond(status, "Ready").status == "True"
    assert cond(status, "SSHReady").reason == "NotRunning"
    assert cond(status, "SSHReady").status == "Unknown"
    assert cond(status, "DotfilesReady").reason == "CloneFailed"


def test_github_token_secret_missing_is_reported_and_leaves_the_workspace_ready() -> None:
    ws = make({"github": {"tokenSecretRef": {"name": "gh"}}})
    missing = workspace.GitHubToken(reason="SecretNotFound", message="secret acme/gh missing")
    status = status_of(ws, report(ws), github=missing)
    github = cond(status, "GitHubReady")
    assert (github.status, github.reason) == ("False", "SecretNotFound")
    assert cond(status, "Ready").status == "True"
    assert status.message == "secret acme/gh missing"
    # Not looked at now (the agent's follower): kept as it was.
    ws = evolve(ws, status)
    assert cond(status_of(ws, report(ws)), "GitHubReady").reason == "SecretNotFound"

    found = workspace.GitHubToken(token="ghp_s3cret", reason="TokenProvided", message="given")
    assert "ghp_s3cret" not in repr(found)
    status = status_of(ws, report(ws), github=found)
    assert cond(status, "GitHubReady").status == "True"
    assert "ghp_s3cret" not in json.dumps(status.to_dict())


def test_agent_reasons_are_made_fit_for_the_api() -> None:
    ws = make()
    status = status_of(ws, report(ws, UserReady=("False", "user setup failed!", "boom")))
    assert cond(status, "UserReady").reason == "UserSetupFailed"
    assert cond(status, "Ready").reason == "UserSetupFailed"


def test_an_unreadable_report_is_waited_past() -> None:
    snapshot = workspace.agent_snapshot({"conditions": "nonsense"})
    assert snapshot is not None and snapshot.report is None and snapshot.error
    status = status_of(make(), snapshot, at=T0 + datetime.timedelta(seconds=3))
    assert cond(status, "Ready").reason == "WaitingForAgent"
    assert "unreadable" in cond(status, "UserReady").message
    assert workspace.agent_snapshot(None) is None


def test_the_fingerprint_ignores_the_heartbeat() -> None:
    one = {"generation": 1, "updatedAt": "2026-01-01T00:00:00Z", "conditions": []}
    two = {**one, "updatedAt": "2026-01-01T00:00:15Z"}
    assert workspace.report_fingerprint(one) == workspace.report_fingerprint(two)
    assert workspace.report_fingerprint({**one, "generation": 2}) != workspace.report_fingerprint(
        one
    )
    assert workspace.report_fingerprint(None) == ""


# --- what the agent is given -------------------------------------------------------------------


def test_config_files_carry_this_generation_and_the_secrets() -> None:
    ws = make(
        {
            "owner": "Alice-Dev",
            "bootstrap": {"script": "make setup"},
            "languages": [{"name": "python", "version": "3.11"}],
        },
        generation=3,
    )
    token = workspace.GitHubToken(token="ghp_x", reason="TokenProvided")
    files = workspace.config_files_of(ws, code_server_password="pw-123", github=token)
    config = json.loads(files[agent.CONFIG_FILE])
    assert config["generation"] == 3
    assert config["workspace"] == {"namespace": "acme", "name": "alice-api", "uid": UID}
    assert config["owner"] == "Alice-Dev"
    assert config["bootstrap"] == {"script": "make setup", "timeout": "30m"}
    assert config["languages"] == [{"name": "python", "version": "3.11"}]
    assert files[agent.CODE_SERVER_PASSWORD_FILE] == b"pw-123"
    assert files[agent.GITHUB_TOKEN_FILE] == b"ghp_x"
    without = workspace.config_files_of(
        ws, code_server_password="pw", github=workspace.GitHubToken()
    )
    assert agent.GITHUB_TOKEN_FILE not in without
    assert workspace.files_digest(files) != workspace.files_digest(without)
    # The files never shape the container.
    plain = workspace.plan(ws).desired.effective_config_hash()
    assert workspace.plan(ws, config_files=files).desired.effective_config_hash() == plain
    assert "ghp_x" not in repr(workspace.plan(ws, config_files=files))


def test_ssh_is_published_where_the_spec_says() -> None:
    ws = make({"ssh": {"publishAddress": "0.0.0.0", "hostPort": 2222}})
    ssh = next(p for p in workspace.plan(ws).desired.ports if p.name == "ssh")
    assert (ssh.host_ip, ssh.host_port) == ("0.0.0.0", 2222)
    default = next(p for p in workspace.plan(make()).desired.ports if p.name == "ssh")
    assert (default.host_ip, default.host_port) == ("127.0.0.1", 0)
    code_server = next(p for p in workspace.plan(ws).desired.ports if p.name == "code-server")
    assert code_server.host_ip == ""  # the provider's default: 127.0.0.1


def test_endpoints_name_the_linux_user_and_the_password_secret() -> None:
    ws = make({"owner": "Alice-Dev", "ssh": {"publishAddress": "0.0.0.0"}})
    plan = workspace.plan(ws)
    observed = running(
        plan,
        ports=(
            base.PublishedPort("code-server", 8080, "127.0.0.1", 41000),
            base.PublishedPort("ssh", 22, "0.0.0.0", 2222),
        ),
    )
    endpoints = workspace.endpoints_of(
        ws.spec, observed, workspace_name="alice-api", public_host="devbox.example"
    )
    assert endpoints.ssh == "ssh -p 2222 alice-dev@devbox.example"
    assert (endpoints.ssh_host, endpoints.ssh_port) == ("devbox.example", 2222)
    assert endpoints.code_server == "http://127.0.0.1:41000/"
    ref = endpoints.code_server_password_secret_ref
    assert ref is not None and (ref.name, ref.key) == ("alice-api-code-server", "password")
    # Stopped: no addresses, the Secret still named.
    stopped = workspace.endpoints_of(
        ws.spec, base.Observed(state=base.State.STOPPED), workspace_name="alice-api"
    )
    assert stopped.ssh is None and stopped.code_server_password_secret_ref is not None


def test_conditions_keep_a_fixed_order_required_first() -> None:
    ws = make()
    status = status_of(ws, report(ws))
    assert [c.type for c in status.conditions][4:] == [
        "UserReady",
        "SSHReady",
        "EditorReady",
        "LanguagesReady",
        "GitHubReady",
        "DotfilesReady",
        "BootstrapReady",
    ]
    assert all(isinstance(c, meta.Condition) for c in status.conditions)
