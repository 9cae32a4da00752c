"""Idle auto-stop, the pure parts: last activity, timeout (capped), deadlines, the plan and
the agent's activity look."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path
from typing import Any

from api.workspace import Workspace
from controller import idle as controller_idle
from providers import agent
from reconcilers import workspace
from reconcilers.workspace import idle

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "workspace" / "agent"))

from wwsagent.activity import Activity


def body(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {
            "name": "w",
            "namespace": "o",
            "uid": "u",
            "creationTimestamp": "2026-11-27T10:00:00Z",
            "annotations": {"wws.dev/lastActivityTime": "2026-11-27T10:20:00Z"},
        },
        "spec": {"owner": "alice", "idle": {"timeout": "30m"}},
        "status": {"phase": "Running", **status},
    }


def test_last_activity_is_the_newest_source() -> None:
    ws = Workspace.model_validate(body(startedAt="2026-11-27T10:05:00Z"))
    assert idle.last_activity(ws, None)[1] == "webui"
    report = agent.parse_report(
        {"activity": {"lastActivityTime": "2026-11-27T10:25:00Z", "source": "tmux"}}
    )
    at, source = idle.last_activity(ws, report)
    assert (at, source) == (datetime.datetime(2026, 11, 27, 10, 25, tzinfo=datetime.UTC), "tmux")
    woken = datetime.datetime(2026, 11, 27, 11, 0, tzinfo=datetime.UTC)
    assert idle.last_activity(ws, report, started_at=woken) == (woken, "start")


def test_timeout_capped_by_the_organization_and_zero_is_never() -> None:
    ws = Workspace.model_validate(body())
    assert idle.timeout_of(ws, datetime.timedelta(minutes=10)) == datetime.timedelta(minutes=10)
    never = Workspace.model_validate({**body(), "spec": {"owner": "a", "idle": {"timeout": "0"}}})
    assert idle.timeout_of(never, None) is None
    assert idle.warning_lead(datetime.timedelta(seconds=30)) == datetime.timedelta(seconds=6)


def test_deadline_from_the_object_and_the_plan_holds_idle() -> None:
    found = controller_idle.deadline_of(body(), None)
    assert found is not None
    last = datetime.datetime(2026, 11, 27, 10, 20, tzinfo=datetime.UTC).timestamp()
    assert (found.last, found.stop_at, found.warn_at) == (last, last + 1800, last + 1500)
    assert controller_idle.deadline_of(body(stopReason="Idle"), None) is None
    ws = Workspace.model_validate(body())
    plan = workspace.plan(ws, idle=True)
    assert not plan.running and plan.stop_reason == "Idle"
    held = Workspace.model_validate(body(stopReason="Idle"))
    assert workspace.plan(held).stop_reason == "Idle"
    woken = Workspace.model_validate(body(stopReason="Idle"))
    woken.metadata.annotations["wws.dev/restartedAt"] = "2026-11-27T12:00:00Z"
    assert workspace.plan(woken).running


def test_agent_sees_terminal_input_and_reports_the_last_one(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        activity = Activity()
        os.write(master, b"ls\n")
        os.read(slave, 16)
        activity.sample(os.getuid(), tmp_path)
        assert activity.last > 0 and activity.source in ("ssh", "tmux")
        assert activity.due(60, activity.last)
        document = activity.document()
        assert document is not None and document["source"] == activity.source
        assert not activity.due(60, activity.last + 1)
    finally:
        os.close(master)
        os.close(slave)
