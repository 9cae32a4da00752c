"""The Workspace reconciler's decisions, without a runtime: plan, status, phase, drift."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from api import meta
from api.workspace import RESTARTED_AT_ANNOTATION, Phase, Workspace
from providers import agent, base
from reconcilers import conditions, workspace

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
GiB = 1024**3
UID = "0b8d3f3e-9c1a-4d39-9e6c-1f2d3c4b5a69"


def make(
    spec: dict[str, Any] | None = None,
    *,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    generation: int = 1,
) -> Workspace:
    return Workspace.model_validate(
        {
            "apiVersion": "wws.dev/v1alpha1",
            "kind": "Workspace",
            "metadata": {
                "name": "alice-api",
                "namespace": "acme",
                "uid": UID,
                "generation": generation,
                "creationTimestamp": T0.isoformat(),
                "annotations": annotations or {},
            },
            "spec": {"owner": "alice", **(spec or {})},
            "status": status or {},
        }
    )


def running(plan: workspace.Plan, **fields: Any) -> base.Observed:
    values: dict[str, Any] = {
        "state": base.State.RUNNING,
        "ports": (
            base.PublishedPort("code-server", 8080, "127.0.0.1", 41000),
            base.PublishedPort("ssh", 22, "127.0.0.1", 42022),
        ),
        "started_at": T0,
        "config_hash": plan.desired.effective_config_hash(),
        "home_exists": True,
        "runtime_id": "c0ffee",
    }
    values.update(fields)
    return base.Observed(**values)


def agent_ok(ws: Workspace, *, at: datetime.datetime = T0) -> workspace.AgentSnapshot:
    """A report of the agent with every condition True for the workspace's generation."""
    iso = at.isoformat().replace("+00:00", "Z")
    raw = {
        "version": 1,
        "generation": ws.metadata.generation,
        "bootId": "boot-1",
        "startedAt": T0.isoformat().replace("+00:00", "Z"),
        "updatedAt": iso,
        "conditions": [
            {"type": kind, "status": "True", "reason": "Fine", "message": ""}
            for kind in agent.CONDITION_TYPES
        ],
        "languages": [],
    }
    snapshot = workspace.agent_snapshot(raw)
    assert snapshot is not None
    return snapshot


def after(ws: Workspace, outcome_of: Any = running, *, at: datetime.datetime = T0, **kw: Any):
    """The status after ``outcome_of``; a running workspace's agent reports every condition
    True for the current generation (tests/unit/test_reconcile_agent.py has the rest)."""
    plan = workspace.plan(ws)
    outcome = outcome_of(plan) if callable(outcome_of) else outcome_of
    if isinstance(outcome, base.Observed):
        outcome = workspace.Outcome(outcome)
    observed = outcome.observed
    if outcome.agent is None and observed is not None and observed.state is base.State.RUNNING:
        outcome = dataclasses.replace(outcome, agent=agent_ok(ws, at=at))
    return plan, workspace.status_after(ws, plan, outcome, at=at, **kw)


def cond(status: Any, type_: str) -> meta.Condition:
    found = meta.find_condition(status.conditions, type_)
    assert found is not None, f"no {type_} condition"
    return found


def evolve(ws: Workspace, status: Any, **changes: Any) -> Workspace:
    """The workspace as the API server returns it after the status was written."""
    body = ws.to_dict()
    body["status"] = status.to_dict()
    for key, value in changes.items():
        body["spec"][key] = value
    if changes:
        body["metadata"]["generation"] = (ws.metadata.generation or 0) + 1
    return Workspace.model_validate(body)


# --- the spec as the provider sees it -------------------------------------------------------


def test_desired_converts_quantities_and_publishes_the_editors_ports() -> None:
    ws = make(
        {
            "resources": {"cpu": "500m", "memory": "3Gi", "disk": "20Gi"},
            "home": {"size": "10Gi"},
            "ports": [
                {"name": "web", "port": 8000},
                {"name": "ssh", "port": 2222},  # repeats an editor's name: served by it
                {"name": "alt", "port": 8080},  # repeats an editor's port
            ],
        }
    )
    desired = workspace.plan(ws).desired
    assert desired.cpu == 0.5
    assert desired.memory_bytes == 3 * GiB
    assert desired.home_size_bytes == 10 * GiB
    assert [(p.name, p.container_port) for p in desired.ports] == [
        ("code-server", 8080),
        ("ssh", 22),
        ("web", 8000),
    ]
    assert desired.ref == base.WorkspaceRef("acme", "alice-api", UID, "acme")
    assert desired.env == {}  # the agent reads the spec from its config files
    assert desired.running


def test_editors_off_publish_no_editor_ports() -> None:
    ws = make({"editors": {"codeServer": False, "ssh": False}})
    assert workspace.plan(ws).desired.ports == ()


@pytest.mark.parametrize(
    ("change", "recreates"),
    [
        ({"resources": {"memory": "8Gi"}}, True),
        ({"resources": {"cpu": "4"}}, True),
        ({"image": "localhost/wws/workspace:trixie"}, True),
        ({"shell": "bash"}, False),  # the agent applies it in place
        ({"owner": "bob"}, False),
        ({"bootstrap": {"script": "make"}}, False),
        ({"editors": {"codeServer": False}}, True),
        ({"running": False}, False),
        ({"idle": {"timeout": "2h"}}, False),
        ({"team": "platform"}, False),
        ({"home": {"size": "20Gi"}}, False),
    ],
)
def test_config_hash_changes_only_for_container_shaping_fields(
    change: dict[str, Any], recreates: bool
) -> None:
    before = workspace.desired_of(make(), running=True).effective_config_hash()
    after_ = workspace.desired_of(make(change), running=True).effective_config_hash()
    assert (before != after_) is recreates


# --- the plan -------------------------------------------------------------------------------


def test_running_false_is_a_requested_stop() -> None:
    plan = workspace.plan(make({"running": False}))
    assert not plan.running
    assert plan.stop_reason == "Requested"
    assert not plan.desired.running


def test_a_new_restart_annotation_restarts_once() -> None:
    asked = {RESTARTED_AT_ANNOTATION: "2026-01-01T12:05:00Z"}
    plan = workspace.plan(make(annotations=asked))
    assert plan.restart and plan.running
    assert plan.restarted_at == "2026-01-01T12:05:00Z"

    done = make(annotations=asked, status={"observedRestartedAt": "2026-01-01T12:05:00Z"})
    assert not workspace.plan(done).restart


def test_restart_is_recorded_only_when_acted_on() -> None:
    ws = make(annotations={RESTARTED_AT_ANNOTATION: "r1"})
    _, status = after(ws)
    assert status.observed_restarted_at == "r1"
    failed = workspace.Outcome(None, workspace.Failure("ProviderUnavailable", "down"))
    _, status = after(ws, failed)
    assert status.observed_restarted_at is None


def test_idle_stop_holds_until_a_restart_is_asked() -> None:
    held = make(status={"stopReason": "Idle", "phase": "Stopped"})
    plan = workspace.plan(held)
    assert not plan.running and plan.stop_reason == "Idle"

    asked = make(
        status={"stopReason": "Idle", "phase": "Stopped"},
        annotations={RESTARTED_AT_ANNOTATION: "later"},
    )
    plan = workspace.plan(asked)
    assert plan.running
    assert not plan.restart  # nothing runs, so nothing to stop first


# --- the status -----------------------------------------------------------------------------


def test_running_workspace_is_ready_with_endpoints() -> None:
    ws = make({"ports": [{"name": "web", "port": 8000, "protocol": "http"}]})
    _, status = after(
        ws,
        lambda plan: running(
            plan,
            ports=(
                base.PublishedPort("code-server", 8080, "127.0.0.1", 41000),
                base.PublishedPort("ssh", 22, "127.0.0.1", 42022),
                base.PublishedPort("web", 8000, "127.0.0.1", 43000),
            ),
        ),
    )
    assert status.phase is Phase.RUNNING
    assert [c.type for c in status.conditions] == [
        "Ready",
        "ImageReady",
        "HomeReady",
        "ContainerReady",
        "UserReady",
        "SSHReady",
        "EditorReady",
        "LanguagesReady",
        "GitHubReady",
        "DotfilesReady",
        "BootstrapReady",
    ]
    assert all(c.status == "True" for c in status.conditions)
    assert all(c.observed_generation == 1 for c in status.conditions)
    assert status.observed_generation == 1
    assert status.message is None
    assert status.stop_reason is None
    assert status.endpoints.code_server == "http://127.0.0.1:41000/"
    assert status.endpoints.ssh == "ssh -p 42022 alice@127.0.0.1"
    assert status.endpoints.ssh_port == 42022
    assert status.endpoints.ports[0].url == "http://127.0.0.1:43000/"
    assert status.runtime is not None and status.runtime.id == "c0ffee"


def test_last_transition_time_changes_only_with_the_status() -> None:
    ws = make()
    _, first = after(ws, at=T0)
    later = T0 + datetime.timedelta(minutes=3)
    ws = evolve(ws, first, resources={"cpu": "1", "memory": "4Gi", "disk": "20Gi"})
    _, second = after(ws, at=later)
    assert cond(second, "Ready").last_transition_time == T0
    assert cond(second, "Ready").observed_generation == 2
    assert second.observed_generation == 2

    # The container is gone: ContainerReady flips, and only it (and Ready) get a new time.
    gone = base.Observed(state=base.State.ABSENT, home_exists=True)
    ws = evolve(ws, second)
    _, third = after(ws, gone, at=later)
    assert cond(third, "ContainerReady").status == "False"
    assert cond(third, "ContainerReady").last_transition_time == later
    assert cond(third, "HomeReady").last_transition_time == T0


def test_missing_image_says_how_to_build_it() -> None:
    failure = workspace.failure_of(
        base.ImageNotFound("localhost/wws/workspace:bookworm", "run `wws image build`")
    )
    outcome = workspace.Outcome(base.Observed(state=base.State.ABSENT), failure)
    _, status = after(make(), outcome)
    image = cond(status, "ImageReady")
    assert (image.status, image.reason) == ("False", "ImageNotFound")
    assert "wws image build" in image.message
    assert status.phase is Phase.PENDING
    assert cond(status, "Ready").reason == "ImageNotFound"
    assert status.message is not None and "wws image build" in status.message
    assert status.stop_reason is None


def test_a_workspace_not_ready_past_the_deadline_is_failed_with_the_cause() -> None:
    failure = workspace.Failure("ImageNotFound", "image x not found", image_missing=True)
    outcome = workspace.Outcome(base.Observed(state=base.State.ABSENT), failure)
    ws = make()
    _, first = after(ws, outcome, at=T0)
    ws = evolve(ws, first)
    _, late = after(ws, outcome, at=T0 + datetime.timedelta(minutes=6))
    ready = cond(late, "Ready")
    assert ready.reason == "StartTimeout"
    assert "not running after 5m" in ready.message and "image x not found" in ready.message
    assert ready.last_transition_time == T0
    assert late.phase is Phase.FAILED
    assert late.stop_reason == "Failed"

    # The cause goes away: it recovers on its own.
    ws = evolve(ws, late)
    _, fixed = after(ws, at=T0 + datetime.timedelta(minutes=7))
    assert fixed.phase is Phase.RUNNING and fixed.stop_reason is None


def test_the_start_deadline_counts_from_the_request_to_run() -> None:
    """A workspace stopped for days that is asked to run gets the whole start deadline."""
    ws = make({"running": False})
    stopped = base.Observed(state=base.State.STOPPED, home_exists=True)
    _, first = after(ws, stopped, at=T0)
    assert cond(first, "Ready").status == "True"
    days_later = T0 + datetime.timedelta(days=3)
    ws = evolve(ws, first, running=True)
    exited = base.Observed(state=base.State.EXITED, message="exited with code 1", home_exists=True)
    _, starting = after(ws, exited, at=days_later)
    assert cond(starting, "Ready").reason == "ContainerExited"
    assert starting.phase is Phase.STARTING


def test_stopped_workspace_is_ready_and_says_why_it_is_stopped() -> None:
    ws = make({"running": False})
    _, status = after(ws, base.Observed(state=base.State.STOPPED, home_exists=True))
    assert status.phase is Phase.STOPPED
    assert cond(status, "Ready").status == "True"
    assert cond(status, "Ready").reason == "Stopped"
    assert cond(status, "ContainerReady").reason == "Stopped"
    assert status.stop_reason == "Requested"
    assert status.message == "the workspace is stopped: spec.running is false"
    assert status.endpoints.code_server is None


def test_a_workspace_created_stopped_posts_no_event_but_a_stop_does() -> None:
    ws = make({"running": False})
    observed = base.Observed(state=base.State.STOPPED, home_exists=True)
    _, status = after(ws, observed)
    said = workspace.announcements(ws, status, workspace.Outcome(observed))
    assert [a.log for a in said] == ["phase changed"]
    assert not any(a.event for a in said)

    was_running = make({"running": False}, status={"phase": "Running"})
    said = workspace.announcements(was_running, status, workspace.Outcome(observed))
    assert [(a.reason, a.event) for a in said] == [("Stopped", True)]


def test_stop_that_does_not_happen_is_failed_after_its_deadline() -> None:
    ws = make({"running": False}, status={})
    still = lambda plan: running(plan)  # noqa: E731
    _, first = after(ws, still, at=T0)
    assert first.phase is Phase.STOPPING
    ws = evolve(ws, first)
    _, late = after(ws, still, at=T0 + datetime.timedelta(minutes=3))
    assert cond(late, "Ready").reason == "StopTimeout"
    assert late.phase is Phase.FAILED


def test_provider_unavailable_keeps_what_is_known_and_says_why() -> None:
    ws = make()
    _, ok = after(ws, at=T0)
    ws = evolve(ws, ok)
    later = T0 + datetime.timedelta(seconds=30)
    failure = workspace.failure_of(base.ProviderUnavailable("no Podman API service answers"))
    _, status = after(ws, workspace.Outcome(None, failure), at=later)
    ready = cond(status, "Ready")
    assert (ready.status, ready.reason) == ("False", "ProviderUnavailable")
    assert "no Podman API service" in ready.message
    container = cond(status, "ContainerReady")
    assert container.status == "True" and container.last_transition_time == T0
    assert status.phase is Phase.RUNNING
    assert status.endpoints.code_server == "http://127.0.0.1:41000/"


def test_provisioning_status_is_shown_before_the_provider_answers() -> None:
    ws = make()
    status = workspace.provisioning_status(ws, workspace.plan(ws), at=T0)
    assert status.phase is Phase.PROVISIONING
    assert cond(status, "Ready").reason == "Provisioning"
    assert status.observed_generation == 1


def test_timeouts_and_internal_errors_become_reasons() -> None:
    assert workspace.failure_of(TimeoutError(), timeout=120).reason == "ProviderTimeout"
    assert "120 s" in workspace.failure_of(TimeoutError(), timeout=120).message
    assert workspace.failure_of(LookupError("no provider 'kvm'")).reason == "ProviderNotInstalled"
    assert workspace.failure_of(ValueError("boom")).reason == "InternalError"


def test_deletion_past_its_deadline_says_how_to_give_up() -> None:
    ws = make()
    body = ws.to_dict()
    body["metadata"]["deletionTimestamp"] = T0.isoformat()
    ws = Workspace.model_validate(body)
    failure = workspace.Failure("ProviderUnavailable", "podman is down")
    early = workspace.deleting_status(ws, failure, at=T0 + datetime.timedelta(minutes=1))
    assert early.phase is Phase.DELETING
    assert cond(early, "Ready").reason == "ProviderUnavailable"
    late = workspace.deleting_status(ws, failure, at=T0 + datetime.timedelta(minutes=6))
    assert cond(late, "Ready").reason == "DeleteTimeout"
    assert late.message is not None
    assert "kubectl -n acme patch workspace alice-api --type=json" in late.message
    assert "podman is down" in late.message


# --- drift ----------------------------------------------------------------------------------


def test_drift_is_judged_against_what_the_status_said() -> None:
    ws = make()
    plan, ok = after(ws)
    ws = evolve(ws, ok)
    gone = base.Observed(state=base.State.ABSENT, home_exists=True)
    message = workspace.drift(plan, ws.status, gone)
    assert message is not None and "removed outside WWS" in message and "home is kept" in message
    both = base.Observed(state=base.State.ABSENT, home_exists=False)
    message = workspace.drift(plan, ws.status, both)
    assert message is not None and "home starts empty" in message
    stopped = base.Observed(state=base.State.EXITED, message="exited with code 137")
    message = workspace.drift(plan, ws.status, stopped)
    assert message is not None and "code 137" in message
    assert workspace.drift(plan, ws.status, running(plan)) is None


def test_a_workspace_that_never_started_has_no_drift() -> None:
    ws = make()
    plan = workspace.plan(ws)
    failure = workspace.Failure("ImageNotFound", "no image", image_missing=True)
    _, pending = after(ws, workspace.Outcome(base.Observed(state=base.State.ABSENT), failure))
    ws = evolve(ws, pending)
    assert workspace.drift(plan, ws.status, base.Observed(state=base.State.ABSENT)) is None


def test_a_stopped_workspace_started_by_hand_is_drift() -> None:
    ws = make({"running": False})
    plan, stopped = after(ws, base.Observed(state=base.State.STOPPED, home_exists=True))
    ws = evolve(ws, stopped)
    message = workspace.drift(plan, ws.status, running(plan))
    assert message is not None and "started outside WWS" in message


# --- status write-back ------------------------------------------------------------------------


def test_merge_patch_is_minimal_and_removes_keys() -> None:
    old = {"phase": "Running", "endpoints": {"ssh": "ssh -p 1 a@h", "codeServer": "u"}, "x": 1}
    new = {"phase": "Running", "endpoints": {"codeServer": "u"}, "conditions": []}
    assert conditions.merge_patch(old, new) == {
        "endpoints": {"ssh": None},
        "conditions": [],
        "x": None,
    }
    assert conditions.merge_patch(new, new) == {}


def test_a_reconcile_that_changes_nothing_writes_nothing() -> None:
    ws = make()
    _, first = after(ws, at=T0)
    ws = evolve(ws, first)
    _, again = after(ws, at=T0 + datetime.timedelta(minutes=1))
    assert conditions.merge_patch(ws.status.to_dict(), again.to_dict()) == {}
