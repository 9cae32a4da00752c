"""The controller end to end: kubectl → the embedded store → kopf → Podman, all real.

One store and one controller (``--resync 5``) serve the whole module; each test works in an
organization of its own. Tests that need a crash kill the controller with SIGKILL and start
it again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from providers import base
from providers.podman import PodmanProvider, naming, service
from tests.controller.conftest import RESYNC, Controller, inspect, labelled
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.podman import podman
from tests.support.waiting import eventually

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def workspace_yaml(namespace: str, name: str, **spec: Any) -> str:
    lines = [
        "apiVersion: wws.dev/v1alpha1",
        "kind: Workspace",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        "spec:",
        "  owner: alice",
        "  resources: {cpu: '1', memory: 1Gi}",
    ]
    lines += [f"  {key}: {value}" for key, value in spec.items()]
    return "\n".join(lines) + "\n"


def container_of(obj: dict[str, Any]) -> str:
    return naming.container_name(obj["metadata"]["uid"])


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == type_:
            return dict(cond)
    raise AssertionError(f"no {type_} condition in {obj.get('status')}")


def sh(container: str, script: str) -> str:
    return podman("exec", container, "bash", "-c", script).stdout


def events(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = kubectl.json(
        "-n", namespace, "get", "events", f"--field-selector=involvedObject.name={name}"
    )
    return list(listed["items"])


def test_applied_workspace_becomes_ready_with_a_running_container(
    kubectl: Kubectl, org: str
) -> None:
    started = time.monotonic()
    kubectl.apply(workspace_yaml(org, "alice-dev"))
    obj = kubectl.wait_ready(org, "alice-dev", timeout=60)
    took = time.monotonic() - started

    assert took < 60
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["phase"] == "Running"
    assert all(c["status"] == "True" for c in status["conditions"]), status["conditions"]
    assert {c["type"] for c in status["conditions"]} == {
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
    }
    assert all(
        c["observedGeneration"] == obj["metadata"]["generation"] for c in status["conditions"]
    )
    assert "wws.dev/workspace-cleanup" in obj["metadata"]["finalizers"]
    info = inspect(container_of(obj))
    assert info["State"]["Running"]
    labels = info["Config"]["Labels"]
    assert labels[naming.LABEL_NAMESPACE] == org
    assert labels[naming.LABEL_NAME] == "alice-dev"
    ssh_port = status["endpoints"]["sshPort"]
    assert status["endpoints"]["ssh"] == f"ssh -p {ssh_port} alice@127.0.0.1"
    assert status["endpoints"]["codeServer"].startswith("http://127.0.0.1:")
    # The printer columns read the status the controller wrote.
    table = kubectl.run("-n", org, "get", "workspaces").stdout
    assert "Running" in table and "True" in table
    reasons = {event["reason"] for event in events(kubectl, org, "alice-dev")}
    assert "Running" in reasons


def test_home_survives_stop_start_and_a_recreating_change(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "keep"))
    obj = kubectl.wait_ready(org, "keep")
    container = container_of(obj)
    sh(container, "echo precious > /home/notes.txt")

    kubectl.apply(workspace_yaml(org, "keep", running="false"))
    obj = kubectl.wait_ready(org, "keep")
    assert obj["status"]["phase"] == "Stopped"
    assert obj["status"]["stopReason"] == "Requested"
    assert not inspect(container)["State"]["Running"]

    kubectl.apply(workspace_yaml(org, "keep", running="true"))
    obj = kubectl.wait_ready(org, "keep")
    assert obj["status"]["phase"] == "Running"
    assert "stopReason" not in obj["status"]
    assert sh(container, "cat /home/notes.txt") == "precious\n"
    old_id = inspect(container)["Id"]

    # A new memory limit needs a new container; the home stays.
    changed = workspace_yaml(org, "keep").replace("memory: 1Gi", "memory: 768Mi")
    kubectl.apply(changed)
    obj = kubectl.wait_ready(org, "keep")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 4
    info = inspect(container)
    assert info["Id"] != old_id
    assert info["HostConfig"]["Memory"] == 768 * 1024**2
    assert sh(container, "cat /home/notes.txt") == "precious\n"


def test_a_workspace_created_stopped_gets_its_password_secret_at_its_first_start(
    kubectl: Kubectl, org: str
) -> None:
    # A burst of new stopped workspaces costs no Secrets: nothing reads the password yet.
    kubectl.apply(workspace_yaml(org, "later", running="false"))
    obj = kubectl.wait_ready(org, "later")
    assert obj["status"]["phase"] == "Stopped"
    assert condition(obj, "HomeReady")["status"] == "True"
    ref = obj["status"]["endpoints"]["codeServerPasswordSecretRef"]
    assert ref == {"name": "later-code-server", "key": "password"}
    assert kubectl.run("-n", org, "get", "secret", ref["name"], check=False).returncode != 0
    assert "SecretCreated" not in {e["reason"] for e in events(kubectl, org, "later")}

    kubectl.apply(workspace_yaml(org, "later", running="true"))
    obj = kubectl.wait_ready(org, "later")
    assert obj["status"]["phase"] == "Running"
    secret = kubectl.json("-n", org, "get", "secret", ref["name"])
    assert secret["data"]["password"]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert "SecretCreated" in {e["reason"] for e in events(kubectl, org, "later")}


def test_restart_annotation_restarts_once(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "again"))
    obj = kubectl.wait_ready(org, "again")
    container = container_of(obj)
    first_start = inspect(container)["State"]["StartedAt"]

    stamp = "2026-01-01T00:00:00Z"
    kubectl.run("-n", org, "annotate", "workspace", "again", f"wws.dev/restartedAt={stamp}")
    obj = eventually(
        lambda: (
            found
            if (found := kubectl.workspace(org, "again"))["status"].get("observedRestartedAt")
            == stamp
            else None
        ),
        "observedRestartedAt",
    )
    assert obj["status"]["phase"] == "Running"
    second_start = inspect(container)["State"]["StartedAt"]
    assert second_start != first_start
    # Recorded: the controller's next resyncs do not restart it again.
    time.sleep(RESYNC + 1)
    assert inspect(container)["State"]["StartedAt"] == second_start


def test_delete_leaves_no_container_volume_or_object(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "gone"))
    obj = kubectl.wait_ready(org, "gone")
    uid = obj["metadata"]["uid"]
    assert labelled("container", uid=uid) and labelled("volume", uid=uid)

    kubectl.run("-n", org, "delete", "workspace", "gone", "--timeout=60s")

    assert kubectl.run("-n", org, "get", "workspace", "gone", check=False).returncode != 0
    assert labelled("container", uid=uid) == []
    assert labelled("volume", uid=uid) == []


def test_removed_container_comes_back_within_the_resync_period(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "drift"))
    obj = kubectl.wait_ready(org, "drift")
    container = container_of(obj)
    sh(container, "echo kept > /home/kept.txt")

    podman("rm", "-f", "-t", "0", container)
    removed_at = time.monotonic()
    eventually(
        lambda: (
            labelled("container", uid=obj["metadata"]["uid"])
            and inspect(container)["State"]["Running"]
        ),
        "the container to come back",
        timeout=RESYNC + 10,
    )
    assert time.monotonic() - removed_at <= RESYNC + 5
    assert sh(container, "cat /home/kept.txt") == "kept\n"
    drift = [e for e in events(kubectl, org, "drift") if e["reason"] == "Drift"]
    assert drift and "removed outside WWS" in drift[0]["message"]
    assert drift[0]["type"] == "Warning"

    # Stopped behind WWS's back: started again.
    podman("stop", "-t", "0", container)
    eventually(lambda: inspect(container)["State"]["Running"], "a restart", timeout=RESYNC + 10)
    kubectl.wait_ready(org, "drift")


def test_missing_image_shows_image_not_found_and_deletes_cleanly(
    kubectl: Kubectl, org: str
) -> None:
    kubectl.apply(workspace_yaml(org, "noimage", image="localhost/wws/missing:none"))
    kubectl.run(
        "-n",
        org,
        "wait",
        "workspace/noimage",
        "--for=condition=ImageReady=false",
        "--timeout=60s",
    )
    obj = kubectl.workspace(org, "noimage")
    image = condition(obj, "ImageReady")
    assert image["reason"] == "ImageNotFound"
    assert "localhost/wws/missing:none" in image["message"]
    assert "wws image build" in image["message"]
    assert obj["status"]["phase"] == "Pending"
    assert condition(obj, "Ready")["status"] == "False"
    assert "wws image build" in obj["status"]["message"]
    assert labelled("container", uid=obj["metadata"]["uid"]) == []

    # Deleting from a failed state releases the finalizer.
    kubectl.run("-n", org, "delete", "workspace", "noimage", "--timeout=60s")


def test_invalid_spec_is_refused_with_the_fields_path(kubectl: Kubectl, org: str) -> None:
    bad = workspace_yaml(org, "bad").replace("cpu: '1'", "cpu: lots")
    result = kubectl.run("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert "spec.resources.cpu" in result.stderr, result.stderr
    assert kubectl.run("-n", org, "get", "workspace", "bad", check=False).returncode != 0


def test_organization_and_team_status(kubectl: Kubectl, org: str) -> None:
    kubectl.apply(
        f"""
apiVersion: wws.dev/v1alpha1
kind: Team
metadata: {{name: platform, namespace: {org}}}
spec:
  members: [{{user: bob, role: maintainer}}, {{user: alice}}]
"""
    )
    kubectl.apply(workspace_yaml(org, "counted"))
    kubectl.wait_ready(org, "counted")
    organization = eventually(
        lambda: (
            found
            if (found := kubectl.json("get", "organization", org))["status"].get(
                "runningWorkspaces"
            )
            == 1
            else None
        ),
        "the organization's counts",
    )
    status = organization["status"]
    assert (status["members"], status["teams"], status["workspaces"]) == (1, 1, 1)
    assert status["namespace"] == org
    assert condition(organization, "Ready")["status"] == "True"
    namespace = kubectl.json("get", "namespace", org)
    assert namespace["metadata"]["labels"]["wws.dev/organization"] == org

    team = kubectl.json("-n", org, "get", "team", "platform")
    assert team["status"]["members"] == 2
    assert [m["user"] for m in team["status"]["effectiveMembers"]] == ["alice", "bob"]
    assert condition(team, "Ready")["status"] == "True"


def test_health_and_metrics(controller: Controller, kubectl: Kubectl, org: str) -> None:
    kubectl.apply(workspace_yaml(org, "measured"))
    kubectl.wait_ready(org, "measured")
    assert controller.get("/healthz")[0] == 200
    assert controller.get("/readyz")[0] == 200
    code, text = controller.get("/metrics")
    assert code == 200
    assert 'wws_workspaces{phase="Running",provider="podman"}' in text
    assert 'wws_reconcile_total{kind="Workspace",result="ok"}' in text
    assert "wws_reconcile_seconds_bucket" in text
    assert 'wws_workspace_start_seconds_count{provider="podman"}' in text


# --- crashes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["finalizer-added", "container-created"])
def test_sigkill_while_creating_then_restart_converges_to_one_container(
    controller: Controller, kubectl: Kubectl, org: str, moment: str
) -> None:
    name = f"crash-{moment.split('-')[0]}"
    kubectl.apply(workspace_yaml(org, name))
    if moment == "finalizer-added":
        # kopf has taken the workspace on; the provider is being (or about to be) asked.
        eventually(
            lambda: (
                "wws.dev/workspace-cleanup"
                in (kubectl.workspace(org, name)["metadata"].get("finalizers") or [])
            ),
            "the finalizer",
        )
    else:
        # Podman has the container (created, perhaps started), the status does not say so.
        eventually(
            lambda: labelled("container", namespace=org, name=name),
            "the container to be created",
        )
    controller.kill()
    controller.start()

    obj = kubectl.wait_ready(org, name)
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert labelled("container", namespace=org, name=name) == [container_of(obj)]
    assert labelled("volume", namespace=org, name=name) == [
        naming.home_volume_name(obj["metadata"]["uid"])
    ]
    assert inspect(container_of(obj))["State"]["Running"]


async def test_orphans_are_removed_at_start_but_not_other_stores_objects(
    controller: Controller,
    kubectl: Kubectl,
    org: str,
    podman_service: service.Service,
    workspace_image: str,
) -> None:
    provider = PodmanProvider(socket_path=podman_service.socket_path, start_service=False)
    await provider.open()
    # An orphan: labelled with a namespace of this store, for a Workspace that does not exist.
    orphan = base.WorkspaceRef(org, "ghost", str(uuid.uuid4()), org)
    # Not ours: a namespace this store does not know (another store sharing this Podman).
    foreign_ns = unique("elsewhere")
    foreign = base.WorkspaceRef(foreign_ns, "theirs", str(uuid.uuid4()), foreign_ns)
    try:
        for ref in (orphan, foreign):
            await provider.ensure(base.DesiredWorkspace(ref=ref, image=workspace_image))
        controller.stop()
        controller.start()
        assert labelled("container", uid=orphan.uid) == []
        assert labelled("volume", uid=orphan.uid) == []
        assert labelled("container", uid=foreign.uid) == [naming.container_name(foreign.uid)]
        assert labelled("volume", uid=foreign.uid) == [naming.home_volume_name(foreign.uid)]
    finally:
        for ref in (orphan, foreign):
            await provider.delete(ref)
        await provider.close()
